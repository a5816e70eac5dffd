"""Message → Struct: code generation of the makers (see ``tetragon_core.api.convert``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tetragon_core.api import _convert_plan
from tetragon_core.api._convert_codegen import (
    _attr,
    _build_lock,
    _enum_names,
    _Module,
    _msgpack_encode,
    _new_memo,
)
from tetragon_core.api._convert_plan import (
    _MAX_INLINE_DEPTH,
    ConversionError,
    Key,
    _Field,
    _memoized_in,
    _plan,
    _timestamp_text,
)

_Make = Callable[[Any, bool], Any]  # (message, strict) → Struct
_makers: dict[Key, _Make] = {}
_make_names: dict[Key, str] = {}
_from_memos: dict[Key, dict[bytes, bytes]] = {}


def _check_strict(msg: Any, covered: frozenset[str], struct_type: type) -> None:
    for fd, _ in msg.ListFields():
        if fd.name not in covered:
            raise ConversionError(
                f"{fd.full_name} is set but {struct_type.__module__}.{struct_type.__qualname__} "
                "has no field for it"
            )


def _unmemo(msg: Any, key: bytes, memo: dict[bytes, bytes], make: _Make) -> Any:
    """Convert a memoized sub-message; memoize the Struct as msgpack, and return it."""
    value = make(msg, False)
    if len(memo) >= _convert_plan._MEMO_MAX:
        memo.clear()
    memo[key] = _msgpack_encode(value)
    return value


_from = _Module("from_proto", _tstext=_timestamp_text, _strict=_check_strict, _unmemo=_unmemo)


def _maker_ref(struct_type: type, desc: Descriptor) -> str:
    name = _make_names.get((struct_type, desc))
    if name is None:
        _compile_maker(struct_type, desc)
        name = _make_names[(struct_type, desc)]
    return name


def _compile_maker(struct_type: type, desc: Descriptor) -> _Make:
    key = (struct_type, desc)
    with _build_lock:
        make = _makers.get(key)
        if make is not None:
            return make
        _plan(struct_type, desc)
        name = _from.fresh("make_")
        _make_names[key] = name
        try:
            lines = [f"def {name}(m0, strict):"]
            result = _emit_make(lines, key, "m0", 0, (key,))
            lines.append(f"    return {result}")
            built: _Make = _from.define(name, lines)
        except BaseException:
            del _make_names[key]
            raise
        _makers[key] = built
        return built


def _reader(f: _Field, fd: FieldDescriptor, x: str) -> str:
    """Expression for the Struct value of one element ``x`` of field (or map value) ``fd``."""
    if f.kind == "scalar":
        return x
    if f.kind == "int64":
        return f"str({x})"
    if f.kind == "enum":
        n = _from.const(_enum_names(fd), "n")
        return f"({n}[{x}] if {x} in {n} else str({x}))"
    if f.kind == "wrapper":
        return f"{x}.value"
    if f.kind == "wrapper64":
        return f"str({x}.value)"
    if f.kind == "timestamp":
        return f"_tstext({x})"
    return f"{_maker_ref(f.struct, fd.message_type)}({x}, strict)"


def _emit_make(lines: list[str], key: Key, msg: str, depth: int, stack: tuple[Key, ...]) -> str:
    """Emit: read ``msg`` into ``kw{depth}``; return the expression making the Struct."""
    ind = "    " * (depth + 1)
    kw, x = f"kw{depth}", f"x{depth}"
    plan = _plan(*key)
    lines.append(f"{ind}{kw} = {{}}")
    for f in plan:
        source = _attr(msg, f.fd.name)
        store = f"{ind}    {kw}[{f.attr!r}] = "
        if not f.fd.has_presence:  # zero is not set
            lines.append(f"{ind}{x} = {source}")
            lines.append(f"{ind}if {x}:")
            if f.container == "map":
                value_fd = f.fd.message_type.fields_by_name["value"]
                k = "str(k)" if f.key_kind == "int64" else "k"
                value = _reader(f, value_fd, "e")
                if k == "k" and value == "e":
                    lines.append(f"{store}dict(sorted({x}.items()))")
                else:
                    lines.append(f"{store}{{{k}: {value} for k, e in sorted({x}.items())}}")
            elif f.container == "repeated":
                value = _reader(f, f.fd, "e")
                lines.append(f"{store}list({x})" if value == "e" else f"{store}[{value} for e in {x}]")
            else:
                lines.append(f"{store}{_reader(f, f.fd, x)}")
            continue
        lines.append(f"{ind}if {msg}.HasField({f.fd.name!r}):")
        sub_key = (f.struct, f.fd.message_type)
        m = f"m{depth + 1}"
        if f.kind != "message":
            lines.append(f"{store}{_reader(f, f.fd, source)}")
        elif _memoized_in(key, f):
            memo = _from_memos.get(sub_key)
            if memo is None:
                memo = _from_memos[sub_key] = _new_memo()
            make, mm = _maker_ref(*sub_key), _from.const(memo, "memo")
            decode = _from.const(msgspec.msgpack.Decoder(f.struct).decode, "dec")
            lines.append(f"{ind}    {m} = {source}")
            lines.append(f"{ind}    if strict:")  # check every time: no memo
            lines.append(f"{ind}        {kw}[{f.attr!r}] = {make}({m}, True)")
            lines.append(f"{ind}    else:")
            lines.append(f"{ind}        k = {m}.SerializeToString()")
            lines.append(f"{ind}        {x} = {mm}.get(k)")
            lines.append(f"{ind}        {kw}[{f.attr!r}] = (")
            lines.append(
                f"{ind}            {decode}({x}) if {x} is not None else _unmemo({m}, k, {mm}, {make})"
            )
            lines.append(f"{ind}        )")
        elif sub_key in stack or depth + 1 >= _MAX_INLINE_DEPTH:
            lines.append(f"{store}{_reader(f, f.fd, source)}")
        else:
            lines.append(f"{ind}    {m} = {source}")
            result = _emit_make(lines, sub_key, m, depth + 1, (*stack, sub_key))
            lines.append(f"{store}{result}")
    covered = frozenset(f.fd.name for f in plan)
    if len(covered) < len(key[1].fields):
        lines.append(f"{ind}if strict:")
        lines.append(f"{ind}    _strict({msg}, {_from.const(covered, 'c')}, {_from.const(key[0], 'T')})")
    return f"{_from.const(key[0], 'T')}(**{kw})"
