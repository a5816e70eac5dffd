"""Tracepoint arguments: from a policy's ``args[]`` to what the BPF program reads.

Classic tracepoints: ``index`` counts the fields of the tracefs format file (``common_*``
included) and ``auto`` takes the type from the field's declaration. Raw tracepoints: ``index`` is
the tracepoint argument number and ``auto`` takes the type from BTF (``btf_trace_<event>``).
"""

from __future__ import annotations

from dataclasses import dataclass

from tetragon_core.bpf import btf as B
from tetragon_core.policy import PolicyError
from tetragon_core.policy.kernel import ArgSpec
from tetragon_core.policy.model import KProbeArg, TracepointSpec
from tetragon_core.tracefs import Field, read_format

# kernel type ids (bpf/lib/generic.h)
T_INT, T_CHAR_BUF, T_SIZE_T, T_STRING, T_S64, T_U64, T_S32, T_U32 = 1, 2, 4, 6, 10, 11, 12, 13
T_FILENAME, T_FD, T_SYSCALL64, T_S16, T_U16, T_S8, T_U8, T_DATA_LOC = 14, 17, 28, 29, 30, 31, 32, 38
USER_KERNEL, USER_USER, USER_BY_ADDRESS, USER_INLINE = 0, 1, 2, 3

#: integer type name → (kernel id, bytes, signed)
_INTS: dict[str, tuple[int, int, bool]] = {
    "int": (T_INT, 4, True),
    "sint32": (T_S32, 4, True),
    "int32": (T_S32, 4, True),
    "uint32": (T_U32, 4, False),
    "sint8": (T_S8, 1, True),
    "int8": (T_S8, 1, True),
    "uint8": (T_U8, 1, False),
    "sint16": (T_S16, 2, True),
    "int16": (T_S16, 2, True),
    "uint16": (T_U16, 2, False),
    "size_t": (T_SIZE_T, 8, False),
    "uint64": (T_U64, 8, False),
    "ulong": (T_U64, 8, False),
    "unsigned long": (T_U64, 8, False),
    "long": (T_S64, 8, True),
    "sint64": (T_S64, 8, True),
    "int64": (T_S64, 8, True),
    "fd": (T_FD, 4, True),
    "syscall64": (T_SYSCALL64, 8, False),
}
_STRINGS = {"string": T_STRING, "filename": T_FILENAME, "data_loc": T_DATA_LOC}


@dataclass(frozen=True)
class ResolvedArg:
    """One argument: how the kernel reads it and how user space decodes it."""

    spec: ArgSpec
    label: str


def _int_by_size(size: int, signed: bool) -> int:
    table = {1: (T_S8, T_U8), 2: (T_S16, T_U16), 4: (T_S32, T_U32), 8: (T_S64, T_U64)}
    return table.get(size, (T_S64, T_U64))[0 if signed else 1]


def _auto_field(path: str, f: Field) -> ArgSpec:
    if f.is_data_loc:
        return ArgSpec(T_DATA_LOC, f.offset, 4)
    if f.is_char_array:
        return ArgSpec(T_STRING, f.offset, f.size, user=USER_INLINE)
    if f.is_char_pointer:
        return ArgSpec(T_STRING, f.offset, 8)
    if f.is_pointer:
        return ArgSpec(T_U64, f.offset, 8)
    if f.size not in (1, 2, 4, 8):
        raise PolicyError(
            f"{path}.type", f"field {f.name!r} ({f.type}, {f.size} bytes) has no automatic type"
        )
    return ArgSpec(_int_by_size(f.size, f.signed), f.offset, f.size, is_signed=f.signed)


def _field_arg(path: str, a: KProbeArg, f: Field) -> ArgSpec:
    if a.type == "auto":
        return _auto_field(path, f)
    if a.type in _INTS:
        tid, size, signed = _INTS[a.type]
        if f.is_data_loc or f.is_char_array:
            raise PolicyError(f"{path}.type", f"field {f.name!r} is {f.type!r}, not an integer")
        return ArgSpec(tid, f.offset, min(size, f.size), is_signed=signed)
    if a.type in _STRINGS:
        if f.is_data_loc:
            return ArgSpec(T_DATA_LOC, f.offset, 4)
        if f.is_char_array:
            return ArgSpec(_STRINGS[a.type], f.offset, f.size, user=USER_INLINE)
        if f.size != 8:
            raise PolicyError(f"{path}.type", f"field {f.name!r} is {f.type!r}, not a pointer to a string")
        return ArgSpec(_STRINGS[a.type], f.offset, 8)
    raise PolicyError(f"{path}.type", f"type {a.type!r} is not supported on tracepoints")


def _raw_arg(path: str, a: KProbeArg, tid: int, btf: B.VmlinuxBtf) -> ArgSpec:
    off = 8 * a.index
    t = btf.type(btf.skip_mods(tid))
    if a.type in _INTS:
        kid, size, signed = _INTS[a.type]
        return ArgSpec(kid, off, size, is_signed=signed)
    if a.type in ("string", "filename"):
        return ArgSpec(_STRINGS[a.type], off, 8)
    if a.type != "auto":
        raise PolicyError(f"{path}.type", f"type {a.type!r} is not supported on raw tracepoints")
    if t.kind in (B.INT, B.ENUM, B.ENUM64):
        size = t.size_or_type if t.size_or_type in (1, 2, 4, 8) else 8
        return ArgSpec(_int_by_size(size, t.signed), off, size, is_signed=t.signed)
    if t.kind == B.PTR:
        target = btf.type(btf.skip_mods(t.size_or_type))
        if target.kind == B.INT and target.name in ("char", "unsigned char", "signed char"):
            return ArgSpec(T_STRING, off, 8, user=USER_KERNEL)
    raise PolicyError(
        f"{path}.type", f"argument {a.index} is {btf.describe(tid)!r}, which has no automatic type; name one"
    )


def resolve_args(path: str, tp: TracepointSpec) -> list[ResolvedArg]:
    """The hook's arguments in order; raises PolicyError naming the YAML path and the reason."""
    out: list[ResolvedArg] = []
    if tp.raw:
        btf = B.vmlinux()
        params = btf.raw_tracepoint_args(tp.event)
        if params is None:
            raise PolicyError(
                f"{path}.event", f"raw tracepoint {tp.event!r} does not exist in this kernel's BTF"
            )
        for i, a in enumerate(tp.args):
            p = f"{path}.args[{i}]"
            if not 0 <= a.index < len(params):
                raise PolicyError(f"{p}.index", f"raw tracepoint {tp.event} has {len(params)} arguments")
            out.append(ResolvedArg(_raw_arg(p, a, params[a.index], btf), a.label))
    else:
        try:
            fields = read_format(tp.subsystem, tp.event)
        except LookupError as e:
            raise PolicyError(f"{path}.event", str(e)) from None
        for i, a in enumerate(tp.args):
            p = f"{path}.args[{i}]"
            if not 0 <= a.index < len(fields):
                raise PolicyError(
                    f"{p}.index",
                    f"{tp.subsystem}/{tp.event} has {len(fields)} fields (indexes 0..{len(fields) - 1})",
                )
            if a.type == "char_buf":
                f = fields[a.index]
                if not 1 <= a.size_arg_index <= len(tp.args):
                    raise PolicyError(
                        f"{p}.sizeArgIndex",
                        "char_buf needs sizeArgIndex, the 1-based position of its size in args",
                    )
                out.append(ResolvedArg(ArgSpec(T_CHAR_BUF, f.offset, 8, size_arg=a.size_arg_index), a.label))
                continue
            out.append(ResolvedArg(_field_arg(p, a, fields[a.index]), a.label))
    return out


_TP_SIZES = (64, 56, 48, 40, 32, 24, 16)
_RAW_SIZES = (48, 40, 32, 24, 16, 8)


def program_for(tp: TracepointSpec) -> str:
    """The program variant whose direct context loads fit this tracepoint (bpf_generic_tracepoint.c).

    The kernel refuses to attach a program that loads past the tracepoint's record (classic) or
    argument array (raw), so the variant is the largest that stays within it.
    """
    if tp.raw:
        params = B.vmlinux().raw_tracepoint_args(tp.event) or []
        size = 8 * len(params)
        return next((f"generic_raw_{n}" for n in _RAW_SIZES if n <= size), "generic_rawtp")
    fields = read_format(tp.subsystem, tp.event)
    size = max((f.offset + f.size for f in fields), default=0)
    return next((f"generic_tp_{n}" for n in _TP_SIZES if n <= size), "generic_tracepoint")
