"""Tracepoint arguments: from a policy's ``args[]`` to what the BPF program reads.

Classic tracepoints: ``index`` counts the fields of the tracefs format file (``common_*``
included) and ``auto`` takes the type from the field's declaration. Raw tracepoints: ``index`` is
the tracepoint argument number and ``auto`` takes the type from BTF (``btf_trace_<event>``).
"""

from __future__ import annotations

from tetragon_core.sdk import (
    INTS,
    STRINGS,
    T_CHAR_BUF,
    T_DATA_LOC,
    T_STRING,
    T_U64,
    USER_INLINE,
    USER_KERNEL,
    ArgSpec,
    Field,
    KProbeArg,
    PolicyError,
    ResolvedArg,
    TracepointSpec,
    btf as B,
    int_by_size,
    object_arg,
    read_format,
    refuse_unbuilt_fields,
)


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
    return ArgSpec(int_by_size(f.size, f.signed), f.offset, f.size, is_signed=f.signed)


def _field_arg(path: str, a: KProbeArg, f: Field) -> ArgSpec:
    if a.type == "auto":
        return _auto_field(path, f)
    if a.type in INTS:
        tid, size, signed = INTS[a.type]
        if f.is_data_loc or f.is_char_array:
            raise PolicyError(f"{path}.type", f"field {f.name!r} is {f.type!r}, not an integer")
        return ArgSpec(tid, f.offset, min(size, f.size), is_signed=signed)
    if a.type in STRINGS:
        if f.is_data_loc:
            return ArgSpec(T_DATA_LOC, f.offset, 4)
        if f.is_char_array:
            return ArgSpec(STRINGS[a.type], f.offset, f.size, user=USER_INLINE)
        if f.size != 8:
            raise PolicyError(f"{path}.type", f"field {f.name!r} is {f.type!r}, not a pointer to a string")
        return ArgSpec(STRINGS[a.type], f.offset, 8)
    raise PolicyError(f"{path}.type", f"type {a.type!r} is not supported on tracepoints")


def _raw_arg(path: str, a: KProbeArg, tid: int, btf: B.VmlinuxBtf) -> ArgSpec:
    off = 8 * a.index
    t = btf.type(btf.skip_mods(tid))
    if a.type in INTS:
        kid, size, signed = INTS[a.type]
        return ArgSpec(kid, off, size, is_signed=signed)
    if a.type in ("string", "filename"):
        return ArgSpec(STRINGS[a.type], off, 8)
    obj = object_arg(path, a.type, off)  # a kernel object: raw tracepoint arguments are pointers
    if obj is not None:
        return obj
    if a.type != "auto":
        raise PolicyError(f"{path}.type", f"type {a.type!r} is not supported on raw tracepoints")
    if t.kind in (B.INT, B.ENUM, B.ENUM64):
        size = t.size_or_type if t.size_or_type in (1, 2, 4, 8) else 8
        return ArgSpec(int_by_size(size, t.signed), off, size, is_signed=t.signed)
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
            refuse_unbuilt_fields(p, a)
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
            refuse_unbuilt_fields(p, a)
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
