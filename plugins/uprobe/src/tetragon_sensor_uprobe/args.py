"""A uprobe's arguments and return value: where the kernel reads them (pt_regs) and their types.

A user function's integer and pointer arguments are in registers (x86-64 SysV: di, si, dx, cx,
r8, r9); every pointer is user memory. Types: the integer widths, ``string`` (a ``char *``),
``char_buf`` with ``sizeArgIndex``; anything else is refused naming the argument.
"""

from __future__ import annotations

from tetragon_core.sdk import (
    INTS,
    T_CHAR_BUF,
    T_INT,
    T_STRING,
    USER_USER,
    ArgSpec,
    KProbeArg,
    PolicyError,
    ResolvedArg,
    ReturnSpec,
    refuse_unbuilt_fields,
)

#: offsetof(struct pt_regs, di/si/dx/cx/r8/r9) on x86-64
REGS = (112, 104, 96, 88, 72, 64)
SUPPORTED = (*INTS, "string", "char_buf")


def resolve_args(path: str, args: list[KProbeArg]) -> list[ResolvedArg]:
    """The hook's arguments in order; PolicyError naming the YAML path and the reason."""
    return [ResolvedArg(_arg(f"{path}.args[{i}]", a, len(args)), a.label) for i, a in enumerate(args)]


def _arg(p: str, a: KProbeArg, nargs: int) -> ArgSpec:
    refuse_unbuilt_fields(p, a)
    if not 0 <= a.index < len(REGS):
        raise PolicyError(f"{p}.index", f"a uprobe reads the first {len(REGS)} arguments (registers)")
    return typed_arg(p, a, REGS[a.index], nargs, "uprobes")


def typed_arg(p: str, a: KProbeArg, off: int, nargs: int, hook: str) -> ArgSpec:
    """The ArgSpec of a user-space value at context offset ``off`` by its policy type (integer
    widths, ``string``, ``char_buf``); PolicyError naming ``p`` for any other type. The USDT
    sensor shares it: its context is the array of the probe's computed arguments."""
    if a.type in INTS:
        tid, size, signed = INTS[a.type]
        return ArgSpec(tid, off, size, is_signed=signed)
    if a.type == "string":
        return ArgSpec(T_STRING, off, 8, user=USER_USER)
    if a.type == "char_buf":
        if not 1 <= a.size_arg_index <= nargs:
            raise PolicyError(
                f"{p}.sizeArgIndex", "char_buf needs sizeArgIndex, the 1-based position of its size in args"
            )
        return ArgSpec(T_CHAR_BUF, off, 8, size_arg=a.size_arg_index, user=USER_USER)
    raise PolicyError(
        f"{p}.type", f"type {a.type!r} is not supported on {hook} (supported: {', '.join(SUPPORTED)})"
    )


def return_spec(path: str, ret: bool, arg: KProbeArg | None) -> ReturnSpec | None:
    """The return value (``return: true``, ``returnArg`` of an integer type), or None."""
    if not ret:
        if arg is not None:
            raise PolicyError(f"{path}.returnArg", "returnArg needs return: true")
        return None
    if arg is None:
        return ReturnSpec(ArgSpec(T_INT, 0, 8, is_signed=True), 0, "")
    refuse_unbuilt_fields(f"{path}.returnArg", arg)
    if arg.type not in INTS:
        raise PolicyError(
            f"{path}.returnArg.type", f"a uprobe returns an integer here; type {arg.type!r} is not one"
        )
    tid, size, signed = INTS[arg.type]
    return ReturnSpec(ArgSpec(tid, 0, size, is_signed=signed), 0, "")
