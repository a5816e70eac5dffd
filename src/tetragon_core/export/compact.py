"""``tetra getevents -o compact``: one emoji line per event (upstream ``pkg/encoder``).

Layout: ``[<time> ]<emoji> <label padded to 7> <source> <binary> <details>`` where ``source`` is
``namespace/pod`` for a pod's process and the node name otherwise, and ``<time>`` is the event
time in UTC with always 9 fractional digits (Go's ``2006-01-02T15:04:05.000000000Z07:00``).

Colours are fatih/color's as tetra uses them: the emoji and label blue, source green, binary
magenta, arguments cyan, exit signal/status red; each piece is wrapped as ``ESC[3Xm … ESC[0m``.

Faithful quirks:

* The "caps trailer" (``🛑 CAP_SYS_ADMIN`` right-aligned towards column 120) is driven by the
  *index* of the effective capabilities list: it shows when that list has more than 21 entries
  (21 = CAP_SYS_ADMIN), whatever they are.
* With colour, the (empty) trailer is still wrapped in escape codes and so is never empty: every
  coloured process line is padded with spaces towards byte 120, as upstream's is.

Deviation requested for tetragon-core: the source and binary are Go-quoted (``%q``) when they
contain a space, a quote, a backslash or a non-printable character; upstream prints them raw.
Arguments are printed as they are (they already carry Tetragon's quoting).
"""

from __future__ import annotations

from tetragon_core.events import GetEventsResponse, Process
from tetragon_core.export.timefmt import parse_rfc3339, rfc3339_nanos_fixed

__all__ = ["go_quote", "maybe_quote", "render_compact"]

_RESET = "\x1b[0m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_BLUE = "\x1b[34m"
_MAGENTA = "\x1b[35m"
_CYAN = "\x1b[36m"

_CAPS_PAD = 120
# tetragon.CapabilitiesType_CAP_SYS_ADMIN; upstream compares list indices against it.
_CAP_SYS_ADMIN_INDEX = 21

_ASCII_ESCAPES = {
    0x07: "\\a",
    0x08: "\\b",
    0x0C: "\\f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
    0x0B: "\\v",
    0x22: '\\"',
    0x5C: "\\\\",
}


def go_quote(s: str) -> str:
    """Quote ``s`` exactly as Go's ``strconv.Quote`` (``%q``) does.

    Printable runes (Go's ``unicode.IsPrint``: letters, marks, numbers, punctuation, symbols and
    the ASCII space) stay as they are; ``"`` and ``\\`` are backslash-escaped; ``\\a \\b \\f \\n
    \\r \\t \\v`` use their short forms; other control bytes become ``\\xHH``, other non-printable
    runes ``\\uHHHH``/``\\UHHHHHHHH``. Lone surrogates U+DC80..U+DCFF (``surrogateescape``-decoded
    bytes) are written as the ``\\xHH`` Go prints for invalid UTF-8.
    """
    out = ['"']
    for ch in s:
        o = ord(ch)
        if o < 0x80:
            esc = _ASCII_ESCAPES.get(o)
            if esc is not None:
                out.append(esc)
            elif 0x20 <= o < 0x7F:
                out.append(ch)
            else:
                out.append(f"\\x{o:02x}")
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def maybe_quote(s: str) -> str:
    """``s`` unchanged, or Go-quoted if it has a space or anything ``%q`` would escape."""
    if s.isprintable() and " " not in s and '"' not in s and "\\" not in s:
        return s
    return go_quote(s)


def _paint(code: str, text: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def _caps(process: Process) -> str:
    cap = process.cap
    if cap is None or len(cap.effective) <= _CAP_SYS_ADMIN_INDEX:
        return ""
    return "🛑 CAP_SYS_ADMIN"


def _cap_trailer(line: str, caps: str) -> str:
    if not caps:
        return line
    # Go pads to a *byte* length of the line but with a width counted in runes; keep both.
    padding = max(0, _CAPS_PAD - len(line.encode("utf-8", "surrogateescape")))
    return f"{line} {caps.rjust(padding)}"


def _process_info(node_name: str, process: Process, color: bool) -> tuple[str, str]:
    pod = process.pod
    source = f"{pod.namespace}/{pod.name}" if pod is not None else node_name
    binary = maybe_quote(process.binary)
    info = f"{_paint(_GREEN, maybe_quote(source), color)} {_paint(_MAGENTA, binary, color)}"
    return info, _paint(_MAGENTA, _caps(process), color)


def _event_time(event: GetEventsResponse) -> str:
    # A missing time prints the Unix epoch, as Go's nil Timestamp.AsTime() does.
    try:
        unix_ns = parse_rfc3339(event.time) if event.time else 0
    except ValueError:
        unix_ns = 0
    return rfc3339_nanos_fixed(unix_ns)


def render_compact(event: GetEventsResponse, *, color: bool, timestamps: bool) -> str | None:
    """Render one event as ``tetra getevents -o compact`` does, without the trailing newline.

    Handles ``process_exec`` and ``process_exit``; returns None for any other event, and for an
    exec/exit without a process (upstream's ``ErrMissingProcessInfo``).
    """
    exec_ev = event.process_exec
    exit_ev = event.process_exit
    if exec_ev is not None:
        process = exec_ev.process
        if process is None:
            return None
        label = _paint(_BLUE, f"🚀 {'process':<7}", color)
        info, caps = _process_info(event.node_name, process, color)
        args = _paint(_CYAN, process.arguments, color)
        line = _cap_trailer(f"{label} {info} {args}", caps)
    elif exit_ev is not None:
        process = exit_ev.process
        if process is None:
            return None
        label = _paint(_BLUE, f"💥 {'exit':<7}", color)
        info, caps = _process_info(event.node_name, process, color)
        args = _paint(_CYAN, process.arguments, color)
        status = _paint(_RED, exit_ev.signal if exit_ev.signal else str(exit_ev.status), color)
        line = _cap_trailer(f"{label} {info} {args} {status}", caps)
    else:
        return None
    if timestamps:
        return f"{_event_time(event)} {line}"
    return line
