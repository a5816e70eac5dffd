"""``tetra getevents -o compact``: one emoji line per event (upstream ``pkg/encoder``).

Layout: ``[<time> ]<emoji> <label padded to 7> <source> <binary> <details>`` where ``source`` is
``namespace/pod`` for a pod's process and the node name otherwise, and ``<time>`` is the event
time in UTC with always 9 fractional digits (Go's ``2006-01-02T15:04:05.000000000Z07:00``).

Per event type:

====================== =====================================================================
``process_exec``       ``🚀 process <source> <binary> <arguments>``
``process_exit``       ``💥 exit    <source> <binary> <arguments> <signal, else status>``
``process_kprobe``     by function name (see :mod:`~tetragon_core.export.compact_kprobe`):
                       ``📝 write   <source> <binary> <file> <N bytes>``, ``🔌 connect <source>
                       <binary> tcp <saddr>:<sport> -> <daddr>:<dport>``…; any other function
                       ``❓ syscall <source> <binary> <function_name>``
``process_tracepoint`` ``☎  syscall <source> <binary> <syscall name>`` for
                       ``raw_syscalls/sys_enter``, else ``⁉️ tracepoint <source> <binary>
                       <subsys> <event>``
``process_uprobe``     ``🕵️ uprobe  <source> <binary> <path> <symbol>``
``process_lsm``        ``🔒 LSM     <source> <binary> <hook>``
``process_usdt``       ``🕵️ usdt    <source> <binary> <path> <provider> <name>``
``process_loader``     ``🧬 loader  <source> <binary> [<build id hex> ]<path>``
``process_throttle``   ``🧬 throttle START <cgroup>`` or ``🧬 throttle STOP  <cgroup>`` (no process)
====================== =====================================================================

An event whose process is missing (upstream's ``ErrMissingProcessInfo``), and an event of no type
above (``rate_limit_info``, none set), render as None.

With ``stack_traces``, a kprobe's kernel and user stack frames follow on their own lines
(``Kernel:`` then ``   0x<address>: <symbol>+0x<offset>``; ``User:`` then ``   0x<address>:
<symbol> (<module>+0x<offset>)``). With ``ima_hash``, an LSM event with an IMA hash is followed by
``   <path> <hash>`` for the hooks whose first argument names a file (``bprm_check_security``,
``bprm_committed_creds``, ``bprm_committing_creds``, ``bprm_creds_for_exec``,
``bprm_creds_from_file``: the ``linux_binprm_arg``; ``file_open``, ``file_post_open``,
``file_ioctl``, ``file_lock``, ``file_receive``, ``mmap_file``: the ``file_arg``).

Colours are fatih/color's as tetra uses them: labels blue (throttle red), source green, binary
magenta, arguments and kprobe details cyan, exit signal/status red, loader path yellow, throttle
START red and STOP green; stack frames green address, blue symbol, yellow offset; IMA lines green
path, blue hash. Each piece is wrapped as ``ESC[3Xm … ESC[0m``.

Faithful quirks:

* The "caps trailer" (``🛑 CAP_SYS_ADMIN`` right-aligned towards column 120) is driven by the
  *index* of the effective capabilities list: it shows when that list has more than 21 entries
  (21 = CAP_SYS_ADMIN), whatever they are.
* With colour, the (empty) trailer is still wrapped in escape codes and so is never empty: every
  coloured line with a process is padded with spaces towards byte 120, as upstream's is.
* Kprobe arguments are read at upstream's fixed positions (``sys_open`` takes the path from the
  second argument, as ``sys_openat`` does), and an absent argument leaves an empty field with its
  separating space (``📝 write   node /bin/cat  ``).

Deviations requested for tetragon-core, or forced: the source and binary are Go-quoted (``%q``)
when they contain a space, a quote, a backslash or a non-printable character; upstream prints them
raw. Arguments are printed as they are (they already carry Tetragon's quoting). Where upstream
would crash on a missing argument message, the zero message is rendered. A raw syscall is named
without its argument signature (see :mod:`~tetragon_core.export.compact_kprobe`). In colour, a
stack frame's or IMA line's last reset code comes before its line break, not after.
"""

from __future__ import annotations

from tetragon_core import plugin_events
from tetragon_core.events import GetEventsResponse, ProcessLsm
from tetragon_core.export._compact_base import (
    BLUE,
    CYAN,
    GREEN,
    RED,
    YELLOW,
    cap_trailer,
    go_quote,
    label,
    maybe_quote,
    paint,
    process_info,
)
from tetragon_core.export.compact_kprobe import render_kprobe, render_tracepoint, stack_trace_lines
from tetragon_core.export.timefmt import parse_rfc3339, rfc3339_nanos_fixed

__all__ = ["go_quote", "maybe_quote", "render_compact"]

_SPY = "🕵\ufe0f"
_BPRM_HOOKS = frozenset(
    {
        "bprm_check_security",
        "bprm_committed_creds",
        "bprm_committing_creds",
        "bprm_creds_for_exec",
        "bprm_creds_from_file",
    }
)
_FILE_HOOKS = frozenset(
    {"file_ioctl", "file_lock", "file_open", "file_post_open", "file_receive", "mmap_file"}
)


def _event_time(event: GetEventsResponse) -> str:
    # A missing time prints the Unix epoch, as Go's nil Timestamp.AsTime() does.
    try:
        unix_ns = parse_rfc3339(event.time) if event.time else 0
    except ValueError:
        unix_ns = 0
    return rfc3339_nanos_fixed(unix_ns)


def _ima_lines(lsm: ProcessLsm, color: bool) -> list[str]:
    if not lsm.ima_hash:
        return []
    first = lsm.args[0] if lsm.args else None
    path = ""
    if first is not None and lsm.function_name in _BPRM_HOOKS and first.linux_binprm_arg is not None:
        path = first.linux_binprm_arg.path
    elif first is not None and lsm.function_name in _FILE_HOOKS and first.file_arg is not None:
        path = first.file_arg.path
    if not path:
        return []
    return [f"{paint(GREEN, f'   {path}', color)}{paint(BLUE, f' {lsm.ima_hash}', color)}"]


def _line(event: GetEventsResponse, color: bool) -> str | None:
    """The event's own line (no time, no trailing lines), or None."""
    node = event.node_name
    if (exec_ev := event.process_exec) is not None:
        if exec_ev.process is None:
            return None
        info, caps = process_info(node, exec_ev.process, color)
        args = paint(CYAN, exec_ev.process.arguments, color)
        return cap_trailer(f"{label('🚀', 'process', color)} {info} {args}", caps)
    if (exit_ev := event.process_exit) is not None:
        if exit_ev.process is None:
            return None
        info, caps = process_info(node, exit_ev.process, color)
        args = paint(CYAN, exit_ev.process.arguments, color)
        status = paint(RED, exit_ev.signal if exit_ev.signal else str(exit_ev.status), color)
        return cap_trailer(f"{label('💥', 'exit', color)} {info} {args} {status}", caps)
    if (kp := event.process_kprobe) is not None:
        if kp.process is None:
            return None
        return render_kprobe(kp, *process_info(node, kp.process, color), color)
    if (tp := event.process_tracepoint) is not None:
        if tp.process is None:
            return None
        return render_tracepoint(tp, *process_info(node, tp.process, color), color)
    if (loader := event.process_loader) is not None:
        if loader.process is None:
            return None
        info, caps = process_info(node, loader.process, color)
        buildid = f"{loader.buildid.hex()} " if loader.buildid else ""
        path = paint(YELLOW, loader.path, color)
        return cap_trailer(f"{label('🧬', 'loader', color)} {info} {buildid}{path}", caps)
    if (up := event.process_uprobe) is not None:
        if up.process is None:
            return None
        info, caps = process_info(node, up.process, color)
        return cap_trailer(f"{label(_SPY, 'uprobe', color)} {info} {up.path} {up.symbol}", caps)
    if (throttle := event.process_throttle) is not None:
        kind = {"THROTTLE_START": paint(RED, "START", color), "THROTTLE_STOP": paint(GREEN, "STOP ", color)}
        head = label("🧬", "throttle", color, RED)
        return f"{head} {kind.get(throttle.type, '')} {throttle.cgroup}"
    if (lsm := event.process_lsm) is not None:
        if lsm.process is None:
            return None
        info, caps = process_info(node, lsm.process, color)
        return cap_trailer(f"{label('🔒', 'LSM', color)} {info} {lsm.function_name}", caps)
    plugin = getattr(type(event), "__plugin_field__", None)
    if plugin is not None:
        return _plugin_line(event, plugin, color)
    if (usdt := event.process_usdt) is not None:
        if usdt.process is None:
            return None
        info, caps = process_info(node, usdt.process, color)
        details = f"{usdt.path} {usdt.provider} {usdt.name}"
        return cap_trailer(f"{label(_SPY, 'usdt', color)} {info} {details}", caps)
    return None


def _plugin_line(event: GetEventsResponse, field: str, color: bool) -> str | None:
    """A plugin event: its renderer's line, given ``<node> <binary>`` of its process."""
    ev = getattr(event, field, None)
    proc = getattr(ev, "process", None)
    if ev is None or proc is None:
        return None
    info, caps = process_info(event.node_name, proc, color)
    reg = plugin_events.by_name(field)
    if reg is not None and reg.etype.compact is not None:
        return cap_trailer(reg.etype.compact(ev, info), caps)
    return cap_trailer(f"{label('🔌', field, color)} {info}", caps)


def render_compact(
    event: GetEventsResponse,
    *,
    color: bool,
    timestamps: bool,
    stack_traces: bool = False,
    ima_hash: bool = False,
) -> str | None:
    """Render one event as ``tetra getevents -o compact`` does, without the trailing newline.

    Every event type of the module docstring's table is rendered; any other event, and an event
    without its process, gives None. ``timestamps`` prefixes the event time. ``stack_traces``
    appends a kprobe's stack frames and ``ima_hash`` an LSM event's IMA hash as further lines
    (upstream tetra's ``--stack-traces`` and ``--ima-hash``, both on by default there), so the
    result may then span several lines.
    """
    line = _line(event, color)
    if line is None:
        return None
    if timestamps:
        line = f"{_event_time(event)} {line}"
    extra: list[str] = []
    if stack_traces and event.process_kprobe is not None:
        extra = stack_trace_lines(event.process_kprobe, color)
    elif ima_hash and event.process_lsm is not None:
        extra = _ima_lines(event.process_lsm, color)
    return "\n".join((line, *extra)) if extra else line
