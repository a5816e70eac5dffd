"""Compact lines of kprobe and tracepoint events (upstream ``pkg/encoder``), and kprobe stack traces.

A kprobe is rendered by its function name with the syscall arch prefix (``__x64_``, ``__arm64_``,
``__ia32_``) cut, through :data:`_KPROBES`; a function not in the table is ``❓ syscall <source>
<binary> <function_name>`` (the name as sent, prefix included). Each entry reads the arguments at
the positions Tetragon's example policies put them (``sys_write``: file, buffer, size), as upstream
does. Where upstream would dereference a missing argument message (a ``tcp_connect`` whose first
argument is not a ``sock_arg``…) and crash, the zero message is used instead.

A ``raw_syscalls/sys_enter`` tracepoint is ``☎  syscall <source> <binary> <name>``: the syscall
number is the first argument (a ``long_arg`` in the default ABI of this machine's architecture, or a
``syscall_id`` with its own ABI, then written ``<abi>/<name>``), named from the tables in
:mod:`tetragon_core.export._syscall_names`; ``unknown`` when it has no name, or when this machine's
architecture has no default ABI (neither x86-64 nor arm64). Unlike upstream, the syscall's argument
signature (``write(unsigned int fd=1, …)``) is not appended: that needs the kernel's syscall
prototypes, which no package here ships. Any other tracepoint is ``⁉️ tracepoint <source> <binary>
<subsys> <event>``.
"""

from __future__ import annotations

import platform
from collections.abc import Callable

from tetragon_core.events import (
    KprobeArgument,
    KprobeBpfAttr,
    KprobeBpfMap,
    KprobePerfEvent,
    KprobeSock,
    ProcessKprobe,
    ProcessTracepoint,
    StackTraceEntry,
)
from tetragon_core.export._compact_base import BLUE, CYAN, GREEN, YELLOW, cap_trailer, label, paint
from tetragon_core.export._syscall_names import SYSCALL_NAMES

__all__ = ["cut_syscall_prefix", "render_kprobe", "render_tracepoint", "stack_trace_lines", "syscall_name"]

_ARCH_PREFIXES = ("__x64_", "__arm64_", "__ia32_")
_VS16 = "\ufe0f"  # the emoji presentation selector some of upstream's labels carry

# CLONE_NEW* flag → namespace name, for setns's nstype argument.
_NS_NAMES = {
    0: "any",
    0x2000000: "cgroup",
    0x8000000: "ipc",
    0x40000000: "net",
    0x20000: "mnt",
    0x20000000: "pid",
    0x80: "time",
    0x10000000: "user",
    0x4000000: "uts",
}

_DEFAULT_ABI = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine().lower(), ""
)


def cut_syscall_prefix(name: str) -> str:
    """``name`` without its syscall arch prefix (``__x64_sys_write`` → ``sys_write``)."""
    for prefix in _ARCH_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


# --- argument access (Go's getters: a missing or other-typed argument reads as zero) ------------


def _arg(kp: ProcessKprobe, i: int) -> KprobeArgument | None:
    return kp.args[i] if len(kp.args) > i else None


def _file_path(a: KprobeArgument | None, color: bool) -> str:
    """The path of a ``file_arg``, cyan; "" (unpainted) if the argument is absent or not a file."""
    if a is None or a.file_arg is None:
        return ""
    return paint(CYAN, a.file_arg.path, color)


def _string(a: KprobeArgument | None, color: bool) -> str:
    return "" if a is None else paint(CYAN, a.string_arg or "", color)


def _sock(a: KprobeArgument | None, color: bool) -> str:
    if a is None:
        return ""
    s = a.sock_arg or KprobeSock()
    return paint(CYAN, f"tcp {s.saddr}:{s.sport} -> {s.daddr}:{s.dport}", color)


def _any_path(a: KprobeArgument) -> str:
    if a.path_arg is not None:
        return a.path_arg.path
    if a.file_arg is not None:
        return a.file_arg.path
    return ""


# --- the function table: (kprobe, color) → (label, details after <source> <binary>) -------------

_Render = Callable[[ProcessKprobe, bool], tuple[str, tuple[str, ...]]]


def _read_write(emoji: str, name: str) -> _Render:
    def render(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
        size = _arg(kp, 2)
        nbytes = "" if size is None else paint(CYAN, f"{int(size.size_arg or 0)} bytes", color)
        return label(emoji, name, color), (_file_path(_arg(kp, 0), color), nbytes)

    return render


def _file_at(emoji: str, name: str, index: int) -> _Render:
    def render(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
        return label(emoji, name, color), (_file_path(_arg(kp, index), color),)

    return render


def _string_at_1(emoji: str, name: str) -> _Render:
    def render(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
        return label(emoji, name, color), (_string(_arg(kp, 1), color),)

    return render


def _src_dst(emoji: str, name: str) -> _Render:
    def render(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
        return label(emoji, name, color), (_string(_arg(kp, 0), color), _string(_arg(kp, 1), color))

    return render


def _bare(emoji: str, name: str) -> _Render:
    def render(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
        return label(emoji, name, color), ()

    return render


def _tcp(emoji: str, name: str) -> _Render:
    def render(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
        return label(emoji, name, color), (_sock(_arg(kp, 0), color),)

    return render


def _setuid(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
    a = _arg(kp, 0)
    uid = "" if a is None else paint(CYAN, str(a.int_arg or 0), color)
    return label("🔑", "setuid", color), (uid,)


def _setns(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
    a = _arg(kp, 1)
    ns = "" if a is None else _NS_NAMES.get(a.int_arg or 0, "")
    return label("🔧", "setns", color), (ns,)


def _sendmsg(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
    a = _arg(kp, 1)
    n = 0 if a is None else a.int_arg or 0
    return label("📤", "sendmsg", color), (_sock(_arg(kp, 0), color), f"bytes {n}")


def _bpf_check(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
    a = _arg(kp, 0)
    attr = ""
    if a is not None:
        b = a.bpf_attr_arg or KprobeBpfAttr()
        attr = paint(CYAN, f"{b.prog_type} {b.prog_name} instruction count {b.insn_cnt}", color)
    return label("🐝", "bpf_load", color), (attr,)


def _perf_event_alloc(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
    a = _arg(kp, 0)
    attr = ""
    if a is not None:
        p = a.perf_event_arg or KprobePerfEvent()
        attr = paint(CYAN, f"{p.type} {p.kprobe_func}", color)
    return label("🐝", "perf_event_alloc", color), (attr,)


def _bpf_map_create(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
    a = _arg(kp, 0)
    attr = ""
    if a is not None:
        m = a.bpf_map_arg or KprobeBpfMap()
        text = (
            f"{m.map_type} {m.map_name} key size {m.key_size} value size {m.value_size} "
            f"max entries {m.max_entries}"
        )
        attr = paint(CYAN, text, color)
    return label("🗺", "bpf_map_create", color), (attr,)


def _file_permission(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
    file, mask = _arg(kp, 0), _arg(kp, 1)
    if file is None or mask is None:
        return label("❓", "security_file_permission", color), ("",)
    event = {0x02: ("📝", "write"), 0x04: ("📚", "read")}.get(mask.int_arg or 0)
    head = label(*event, color) if event else label("❓", "security_file_permission", color)
    path = file.file_arg.path if file.file_arg is not None else ""
    return head, (paint(CYAN, path, color),)


def _mmap_file(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
    file, prot = _arg(kp, 0), _arg(kp, 1)
    if file is None or prot is None:
        return label("❓", "security_mmap_file", color), ("",)
    bits = prot.uint_arg or 0
    tag = "mmap-" + "".join(c for bit, c in ((0x01, "r"), (0x02, "w"), (0x04, "x")) if bits & bit)
    path = file.file_arg.path if file.file_arg is not None else ""
    return label("📝", tag, color), (paint(CYAN, path, color),)


def _truncate(function: str) -> _Render:
    def render(kp: ProcessKprobe, color: bool) -> tuple[str, tuple[str, ...]]:
        a = _arg(kp, 0)
        if a is None:
            return label("❓", function, color), ("",)
        return label("📝", "truncate", color), (paint(CYAN, _any_path(a), color),)

    return render


_KPROBES: dict[str, _Render] = {
    "sys_write": _read_write("📝", "write"),
    "sys_read": _read_write("📚", "read"),
    "fd_install": _file_at("📬", "open", 1),
    "sys_openat": _string_at_1("📬" + _VS16, "openat"),
    "sys_open": _string_at_1("📬" + _VS16, "open"),
    "sys_close": _file_at("📪", "close", 0),
    "sys_mount": _src_dst("💾", "mount"),
    "sys_setuid": _setuid,
    "sys_clock_settime": _bare("⏰", "clock_settime"),
    "sys_pivot_root": _src_dst("💾", "pivot_root"),
    "proc_exec_connector": _bare("🔧", "proc_exec_connector"),
    "sys_setns": _setns,
    "tcp_connect": _tcp("🔌", "connect"),
    "tcp_close": _tcp("🧹", "close"),
    "tcp_sendmsg": _sendmsg,
    "bpf_check": _bpf_check,
    "security_perf_event_alloc": _perf_event_alloc,
    "security_bpf_map_alloc": _bpf_map_create,
    "security_bpf_map_create": _bpf_map_create,
    "security_file_permission": _file_permission,
    "security_mmap_file": _mmap_file,
    "security_path_truncate": _truncate("security_path_truncate"),
    "security_file_truncate": _truncate("security_file_truncate"),
}


def render_kprobe(kp: ProcessKprobe, info: str, caps: str, color: bool) -> str:
    """The line of a kprobe whose process is rendered as ``info`` (``<source> <binary>``)."""
    render = _KPROBES.get(cut_syscall_prefix(kp.function_name))
    details: tuple[str, ...]
    if render is None:
        head, details = label("❓", "syscall", color), (kp.function_name,)
    else:
        head, details = render(kp, color)
    return cap_trailer(" ".join((head, info, *details)), caps)


# --- tracepoints ---------------------------------------------------------------------------------


def syscall_name(tp: ProcessTracepoint) -> str:
    """The syscall of a ``raw_syscalls/sys_enter`` event, from its first argument (see above)."""
    if not _DEFAULT_ABI:
        return "unknown"
    number, abi = -1, _DEFAULT_ABI
    first = tp.args[0] if tp.args else None
    if first is not None and first.long_arg is not None:
        number = int(first.long_arg)
    elif first is not None and first.syscall_id is not None:
        number, abi = first.syscall_id.id, first.syscall_id.abi
    names = SYSCALL_NAMES.get(abi, ())
    name = names[number] if 0 <= number < len(names) else ""
    if not name:
        return "unknown"
    return name if abi == _DEFAULT_ABI else f"{abi}/{name}"


def render_tracepoint(tp: ProcessTracepoint, info: str, caps: str, color: bool) -> str:
    """The line of a tracepoint whose process is rendered as ``info`` (``<source> <binary>``)."""
    if tp.subsys == "raw_syscalls" and tp.event == "sys_enter":
        line = f"{label('☎ ', 'syscall', color)} {info} {syscall_name(tp)}"
    else:
        line = f"{label('⁉' + _VS16, 'tracepoint', color)} {info} {tp.subsys} {tp.event}"
    return cap_trailer(line, caps)


# --- stack traces --------------------------------------------------------------------------------


def _frame(address: str, color: bool) -> str:
    return paint(GREEN, f"   0x{int(address):x}:", color)


def _kernel_frame(e: StackTraceEntry, color: bool) -> str:
    # fatih/color's Fprintf puts the reset after the format's newline; here it goes before the line
    # break (the same on a terminal), so that every line is whole.
    return (
        f"{_frame(e.address, color)}{paint(BLUE, f' {e.symbol}', color)}+"
        f"{paint(YELLOW, f'0x{int(e.offset):x}', color)}"
    )


def _user_frame(e: StackTraceEntry, color: bool) -> str:
    symbol = paint(BLUE, f" {e.symbol}", color) if e.symbol else ""
    return f"{_frame(e.address, color)}{symbol}{paint(YELLOW, f' ({e.module}+0x{int(e.offset):x})', color)}"


def stack_trace_lines(kp: ProcessKprobe, color: bool) -> list[str]:
    """``Kernel:`` and ``User:`` sections of a kprobe's stack traces, one line per frame."""
    lines: list[str] = []
    if kp.kernel_stack_trace:
        lines.append("Kernel:")
        lines.extend(_kernel_frame(e, color) for e in kp.kernel_stack_trace)
    if kp.user_stack_trace:
        lines.append("User:")
        lines.extend(_user_frame(e, color) for e in kp.user_stack_trace)
    return lines
