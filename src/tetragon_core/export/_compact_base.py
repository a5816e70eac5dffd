"""Pieces shared by the compact renderings (see :mod:`tetragon_core.export.compact`).

Go's ``%q`` quoting, fatih/color's escape codes, the ``<label> <source> <binary>`` prefix and the
caps trailer.
"""

from __future__ import annotations

from tetragon_core.events import Process

__all__ = [
    "BLUE",
    "CYAN",
    "GREEN",
    "MAGENTA",
    "RED",
    "RESET",
    "YELLOW",
    "cap_trailer",
    "go_quote",
    "label",
    "maybe_quote",
    "paint",
    "process_info",
]

RESET = "\x1b[0m"
RED = "\x1b[31m"
GREEN = "\x1b[32m"
YELLOW = "\x1b[33m"
BLUE = "\x1b[34m"
MAGENTA = "\x1b[35m"
CYAN = "\x1b[36m"

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


def paint(code: str, text: str, color: bool) -> str:
    """``text`` wrapped in a colour's escape code and the reset, as fatih/color's ``Sprint``."""
    return f"{code}{text}{RESET}" if color else text


def label(emoji: str, name: str, color: bool, code: str = BLUE) -> str:
    """The event label: ``<emoji> <name padded to 7>``, painted (blue unless told)."""
    return paint(code, f"{emoji} {name:<7}", color)


def _caps(process: Process) -> str:
    cap = process.cap
    if cap is None or len(cap.effective) <= _CAP_SYS_ADMIN_INDEX:
        return ""
    return "🛑 CAP_SYS_ADMIN"


def cap_trailer(line: str, caps: str) -> str:
    """``line`` followed by ``caps`` right-aligned towards column 120 (unchanged if no caps)."""
    if not caps:
        return line
    # Go pads to a *byte* length of the line but with a width counted in runes; keep both.
    padding = max(0, _CAPS_PAD - len(line.encode("utf-8", "surrogateescape")))
    return f"{line} {caps.rjust(padding)}"


def process_info(node_name: str, process: Process, color: bool) -> tuple[str, str]:
    """(``<source> <binary>``, the caps trailer), painted green and magenta."""
    pod = process.pod
    source = f"{pod.namespace}/{pod.name}" if pod is not None else node_name
    binary = maybe_quote(process.binary)
    info = f"{paint(GREEN, maybe_quote(source), color)} {paint(MAGENTA, binary, color)}"
    return info, paint(MAGENTA, _caps(process), color)
