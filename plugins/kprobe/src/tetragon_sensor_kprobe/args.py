"""kprobe hooks: where a hook attaches and where each of its arguments is.

Three ways to run a hook (bpf/kprobe/bpf_generic_kprobe.c):

- ``kprobe``: a kernel function; argument *i* is parameter register *i* of its pt_regs.
- ``syscall``: ``syscall: true`` with kprobes; the hook is the ``__x64_sys_<name>`` wrapper, whose
  only parameter points to the user pt_regs (the syscall convention: r10, not cx, is the 4th).
- ``syscall_tp``: ``syscall: true`` on a kernel without kprobes; ``syscalls/sys_enter_<name>``
  (arguments are the record's u64 fields from offset 16) and ``sys_exit_<name>`` for the return.
- ``fmod_ret``: a hook with an Override action on a ``security_*`` function, where the kernel has
  no bpf_override_return: an fmod_ret program, whose return replaces the function's; argument *i*
  is its BTF context slot *i*.
"""

from __future__ import annotations

from dataclasses import dataclass

from tetragon_core.sdk import (
    INTS,
    OBJECTS,
    PATHS,
    STRINGS,
    T_CHAR_BUF,
    T_CHAR_IOVEC,
    T_INT,
    T_LINUX_BINPRM,
    T_NOP,
    USER_BY_ADDRESS,
    USER_USER,
    ArgSpec,
    KProbeArg,
    KProbeSpec,
    PolicyError,
    ResolvedArg,
    ReturnSpec,
    btf as B,
    object_arg,
    probes,
    read_format,
    refuse_unbuilt_fields,
    stacks,
)

ARCH_PREFIX = "__x64_"
# struct pt_regs (x86_64) offsets of di, si, dx, cx, r8, r9 and of the syscall convention's r10
_REGS = (112, 104, 96, 88, 72, 64)
_SYSCALL_REGS = (112, 104, 96, 56, 72, 64)
_SYS_RECORD_ARGS = 16  # sys_enter_*: common fields (8), __syscall_nr (8), then the arguments
_TP_SIZES = (64, 56, 48, 40, 32, 24, 16)
#: types this build's kprobe sensor reads (the others are refused, naming the arg)
SUPPORTED = (*INTS, *STRINGS, "char_buf", "char_iovec", *PATHS, *OBJECTS, "nop")


@dataclass(frozen=True)
class Placement:
    """How a hook runs: its method, the programs to load, and what they attach to."""

    method: str  # kprobe | syscall | syscall_tp
    function_name: str  # as Tetragon reports it (__x64_sys_write for a syscall)
    entry: str  # program name
    target: str  # kernel function, or sys_enter_<name>
    ret: str = ""  # return program, when the hook has return: true
    ret_target: str = ""
    nargs: int = 6  # arguments the hook's function or syscall has
    override: str = ""  # how an Override action is done ("" = it cannot be)


def function_exists(name: str) -> bool:
    """Is ``name`` a function of this kernel that a kprobe can attach to? (True when the symbol
    table cannot be read: the attach itself then says.)"""
    try:
        return name in stacks.kernel_functions()
    except OSError:
        return True


def syscall_base(call: str) -> str:
    """``write`` from ``sys_write``, ``__x64_sys_write`` or ``write``."""
    for prefix in (ARCH_PREFIX + "sys_", "sys_"):
        if call.startswith(prefix):
            return call[len(prefix) :]
    return call


_FMODRET_SIZES = (48, 40, 32, 24, 16, 8)


def wants_override(kp: KProbeSpec) -> bool:
    return any(a.action == "Override" for sel in kp.selectors for a in sel.match_actions)


def _fmod_ret(path: str, kp: KProbeSpec) -> Placement:
    """Override on a security_* function through fmod_ret; PolicyError naming what is missing."""
    if not kp.call.startswith("security_"):
        raise PolicyError(
            f"{path}.call",
            f"Override on {kp.call!r} requires bpf_override_return (CONFIG_BPF_KPROBE_OVERRIDE), which "
            "this kernel lacks; fmod_ret can override security_* functions only",
        )
    if not probes.has_fmod_ret():
        raise PolicyError(
            f"{path}.call", f"Override on {kp.call!r} requires fmod_ret programs, which this kernel lacks"
        )
    params = B.vmlinux().func_args(kp.call)
    if params is None:
        raise PolicyError(f"{path}.call", f"{kp.call!r} is not a function of this kernel's BTF")
    ret = ""
    if kp.return_:  # a kretprobe for the calls that run; an overridden call sends its return itself
        if not probes.has_kprobes():
            raise PolicyError(
                f"{path}.return",
                "return: true with an fmod_ret Override requires kretprobes (CONFIG_KPROBES), which this "
                "kernel lacks",
            )
        ret = "generic_kretprobe"
    size = 8 * min(len(params), len(_REGS))
    entry = next((f"generic_fmodret_{n}" for n in _FMODRET_SIZES if n <= size), "generic_fmodret")
    return Placement(
        "fmod_ret",
        kp.call,
        entry,
        kp.call,
        ret,
        kp.call if ret else "",
        nargs=len(params),
        override="fmod_ret",
    )


def place(path: str, kp: KProbeSpec) -> Placement:
    """Where ``kp`` attaches on this kernel; PolicyError (naming the missing feature) if nowhere."""
    if wants_override(kp) and not kp.syscall:
        return _fmod_ret(path, kp)
    if wants_override(kp):
        raise PolicyError(
            f"{path}.selectors",
            "Override on a syscall requires bpf_override_return (CONFIG_BPF_KPROBE_OVERRIDE), which this "
            "kernel lacks",
        )
    if not kp.syscall:
        if not probes.has_kprobes():
            raise PolicyError(
                f"{path}.call",
                f"{kp.call!r} requires kprobes (CONFIG_KPROBES), which this kernel lacks; only "
                "syscall: true hooks run without them, on the syscall tracepoints",
            )
        ret = "generic_kretprobe" if kp.return_ else ""
        return Placement("kprobe", kp.call, "generic_kprobe", kp.call, ret, kp.call if ret else "")
    base = syscall_base(kp.call)
    name = ARCH_PREFIX + "sys_" + base
    if probes.has_kprobes():
        ret = "generic_kretprobe" if kp.return_ else ""
        return Placement("syscall", name, "generic_kprobe_sys", name, ret, name if ret else "")
    try:
        fields = read_format("syscalls", f"sys_enter_{base}")
    except LookupError:
        raise PolicyError(
            f"{path}.call",
            f"{kp.call!r}: this kernel has no kprobes (CONFIG_KPROBES) and no syscalls/sys_enter_{base} "
            "tracepoint to run the syscall hook on",
        ) from None
    size = max((f.offset + f.size for f in fields), default=0)
    entry = next((f"generic_sys_{n}" for n in _TP_SIZES if n <= size), "generic_sys_16")
    nargs = max(0, (size - _SYS_RECORD_ARGS) // 8)
    ret = "generic_sys_exit" if kp.return_ else ""
    return Placement(
        "syscall_tp", name, entry, f"sys_enter_{base}", ret, f"sys_exit_{base}" if ret else "", nargs
    )


def _offset(pl: Placement, index: int) -> int:
    if pl.method == "syscall_tp":
        return _SYS_RECORD_ARGS + 8 * index
    if pl.method == "fmod_ret":
        return 8 * index
    return (_REGS if pl.method == "kprobe" else _SYSCALL_REGS)[index]


def _arg(p: str, a: KProbeArg, pl: Placement, nargs: int) -> ArgSpec:
    if not 0 <= a.index < min(pl.nargs, len(_REGS)):
        raise PolicyError(f"{p}.index", f"{pl.function_name} has {min(pl.nargs, len(_REGS))} arguments")
    refuse_unbuilt_fields(p, a, return_copy=True)
    if a.return_copy and a.type != "char_buf":
        raise PolicyError(f"{p}.returnCopy", "returnCopy applies to char_buf arguments")
    off = _offset(pl, a.index)
    if a.type == "nop":
        return ArgSpec(T_NOP, off, 8)
    kernel_fn = pl.method in ("kprobe", "fmod_ret")
    user = USER_BY_ADDRESS if kernel_fn else USER_USER
    if a.type in INTS:
        tid, size, signed = INTS[a.type]
        return ArgSpec(tid, off, size, is_signed=signed)
    if a.type == "string" or (a.type == "filename" and not kernel_fn):  # a char *
        return ArgSpec(STRINGS["string"], off, 8, user=user)
    if a.type in PATHS or a.type in OBJECTS:
        if not kernel_fn:
            raise PolicyError(
                f"{p}.type",
                f"type {a.type!r} is a kernel object, which a syscall's arguments (user memory) are not; "
                "hook the kernel function that takes it (syscall: false)",
            )
        spec = object_arg(p, a.type, off)
        assert spec is not None
        return spec
    if a.type in ("char_buf", "char_iovec"):
        what = "size" if a.type == "char_buf" else "iovec count"
        if not 1 <= a.size_arg_index <= nargs:
            raise PolicyError(
                f"{p}.sizeArgIndex",
                f"{a.type} needs sizeArgIndex, the 1-based position of its {what} in args",
            )
        tid = T_CHAR_BUF if a.type == "char_buf" else T_CHAR_IOVEC
        if a.return_copy:  # the size is the return value: the bytes are read at return
            return ArgSpec(tid, off, 8, size_arg=a.size_arg_index, user=user, ret_copy=True)
        return ArgSpec(tid, off, 8, size_arg=a.size_arg_index, user=user)
    raise PolicyError(
        f"{p}.type",
        f"type {a.type!r} is not supported by the kprobe sensor yet (supported: {', '.join(SUPPORTED)})",
    )


def resolve_args(path: str, kp: KProbeSpec, pl: Placement) -> list[ResolvedArg]:
    """The hook's arguments in order; raises PolicyError naming the YAML path and the reason."""
    if kp.data:
        raise PolicyError(f"{path}.data", "data[] is not supported by the kprobe sensor yet")
    return [
        ResolvedArg(_arg(f"{path}.args[{i}]", a, pl, len(kp.args)), a.label) for i, a in enumerate(kp.args)
    ]


def return_spec(path: str, kp: KProbeSpec, args: list[ResolvedArg]) -> ReturnSpec | None:
    """The return value (``returnArg``, returnCopy, ``returnArgAction``), or None without
    ``return: true``; PolicyError naming the YAML path otherwise."""
    copies = [i for i, r in enumerate(args) if r.spec.ret_copy]
    if not kp.return_:
        if kp.return_arg is not None:
            raise PolicyError(f"{path}.returnArg", "returnArg needs return: true")
        if copies:
            raise PolicyError(f"{path}.args[{copies[0]}].returnCopy", "returnCopy needs return: true")
        if kp.return_arg_action:
            raise PolicyError(f"{path}.returnArgAction", "returnArgAction needs return: true")
        return None
    if len(copies) > 1:
        raise PolicyError(f"{path}.args[{copies[1]}].returnCopy", "one argument per hook can have returnCopy")
    copy = copies[0] + 1 if copies else 0
    ra = kp.return_arg
    if ra is not None:
        refuse_unbuilt_fields(f"{path}.returnArg", ra)
    if ra is None:
        return ReturnSpec(ArgSpec(T_INT, 0, 8, is_signed=True), copy, kp.return_arg_action)
    if ra.type in INTS:
        tid, size, signed = INTS[ra.type]
        return ReturnSpec(ArgSpec(tid, 0, size, is_signed=signed), copy, kp.return_arg_action)
    obj = object_arg(f"{path}.returnArg", ra.type, 0)
    if obj is None or obj.type == T_LINUX_BINPRM:
        raise PolicyError(
            f"{path}.returnArg.type",
            f"return type {ra.type!r} is not supported (an integer type or a kernel object such as sock is)",
        )
    return ReturnSpec(obj, copy, kp.return_arg_action)
