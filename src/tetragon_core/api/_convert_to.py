"""Struct → message: code generation of the fillers (see ``tetragon_core.api.convert``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tetragon_core.api import _convert_plan
from tetragon_core.api._convert_codegen import (
    _attr,
    _build_lock,
    _enum_number,
    _Module,
    _msgpack_encode,
    _new_memo,
    _varint,
)
from tetragon_core.api._convert_plan import (
    _MAX_INLINE_DEPTH,
    Key,
    _Field,
    _memoized_in,
    _plan,
    _timestamp_parts,
)

_Fill = Callable[[Any, Any], None]  # (struct, message): set the message's fields from the struct
_fillers: dict[Key, _Fill] = {}
_fill_names: dict[Key, str] = {}
# One memo per (Struct type, message descriptor, field number): a memo holds serialized *fields*,
# whose tag is the field number in the parent (ProcessCredentials is Process field 17 but
# KprobeArgument field 19), so the same sub-message type in two parent fields needs two memos.
_to_memos: dict[tuple[type, Descriptor, int], dict[bytes, bytes]] = {}


def _fill_any(obj: Any, msg: Any, desc: Descriptor) -> None:
    """Fill from a Struct of any type (a subclass of the annotated one, say)."""
    fill = _fillers.get((type(obj), desc))
    if fill is None:
        fill = _compile_filler(type(obj), desc)
    fill(obj, msg)


def _memo_miss(obj: Any, key: bytes, memo: dict[bytes, bytes], desc: Descriptor, tag: bytes) -> bytes:
    """Convert a memoized sub-message; memoize and return it as a serialized field."""
    sub = message_factory.GetMessageClass(desc)()
    _fill_any(obj, sub, desc)
    payload: bytes = sub.SerializeToString()
    field = tag + _varint(len(payload)) + payload
    if len(memo) >= _convert_plan._MEMO_MAX:
        memo.clear()
    memo[key] = field
    return field


_to = _Module(
    "to_proto", _fill_any=_fill_any, _ts=_timestamp_parts, _mp=_msgpack_encode, _memo_miss=_memo_miss
)


def _filler_ref(struct_type: type, desc: Descriptor) -> str:
    """The global name of the filler of (struct_type, desc), building it if need be."""
    name = _fill_names.get((struct_type, desc))
    if name is None:
        _compile_filler(struct_type, desc)
        name = _fill_names[(struct_type, desc)]
    return name


def _compile_filler(struct_type: type, desc: Descriptor) -> _Fill:
    key = (struct_type, desc)
    with _build_lock:
        fill = _fillers.get(key)
        if fill is not None:
            return fill
        _plan(struct_type, desc)
        name = _to.fresh("fill_")
        _fill_names[key] = name  # first: a recursive type calls itself by name
        try:
            lines = [f"def {name}(o0, m0):"]
            _emit_fill(lines, key, "o0", "m0", 0, (key,))
            lines.append("    return")
            built: _Fill = _to.define(name, lines)
        except BaseException:
            del _fill_names[key]
            raise
        _fillers[key] = built
        return built


def _emit_fill(lines: list[str], key: Key, obj: str, msg: str, depth: int, stack: tuple[Key, ...]) -> None:
    """Emit: set ``msg``'s fields from ``obj``, and ``s{depth} = True`` if any was set."""
    ind = "    " * (2 * depth + 1)  # each level nests in `if v is not None:` and `if type(v) is T:`
    v, s, w = f"v{depth}", f"s{depth}", f"w{depth}"
    plan = _plan(*key)
    memo = [_memoized_in(key, f) for f in plan]
    if any(memo):
        lines.append(f"{ind}{w} = b''")  # memoized fields, serialized, merged at the end
    oneofs = _oneof_counters(plan, depth)
    for counter in oneofs.values():
        lines.append(f"{ind}{counter} = 0")
    for f, memo_this in zip(plan, memo, strict=True):
        target = _attr(msg, f.fd.name)
        lines.append(f"{ind}{v} = {_attr(obj, f.attr)}")
        if f.default is None:
            lines.append(f"{ind}if {v} is not None:")
        elif f.kind != "int64" and f.default in ("", 0, b"", [], {}):  # falsy exactly at the default
            lines.append(f"{ind}if {v}:")
        else:
            lines.append(f"{ind}if {v} != {_to.const(f.default, 'd')}:")
        body = ind + "    "
        lines.append(f"{body}{s} = True")
        if f.fd.containing_oneof in oneofs:
            lines.append(f"{body}{oneofs[f.fd.containing_oneof]} += 1")
        if f.container == "map":
            _emit_map(lines, f, v, target, body)
        elif f.container == "repeated":
            _emit_repeated(lines, f, v, target, body)
        elif f.kind == "scalar":
            lines.append(f"{body}{target} = {v}")
        elif f.kind == "int64":
            lines.append(f"{body}{target} = int({v})")
        elif f.kind == "enum":
            numbers, number = _enum_number(f.fd)
            lines.append(f"{body}x = {_to.const(numbers, 'e')}.get({v})")
            lines.append(f"{body}{target} = x if x is not None else {_to.const(number, 'en')}({v})")
        elif f.kind == "wrapper":
            lines.append(f"{body}{target}.value = {v}")  # sets presence, even at 0
        elif f.kind == "wrapper64":
            lines.append(f"{body}{target}.value = int({v})")
        elif f.kind == "timestamp":
            lines.append(f"{body}x = {target}")
            lines.append(f"{body}x.seconds, x.nanos = _ts({v})")
        elif memo_this:
            _emit_memo(lines, f, v, w, target, depth)
        else:
            _emit_message(lines, f, v, target, depth, stack)
    if any(memo):
        lines.append(f"{ind}if {w}:")
        lines.append(f"{ind}    {msg}.MergeFromString({w})")
    for oneof, counter in oneofs.items():
        lines.append(f"{ind}if {counter} > 1:")
        fields = ", ".join(f.fd.name for f in plan if f.fd.containing_oneof is oneof)
        text = f"{key[0].__qualname__}: more than one of {fields} is set, in oneof {oneof.full_name}"
        lines.append(f"{ind}    raise ConversionError({text!r})")


def _oneof_counters(plan: list[_Field], depth: int) -> dict[Any, str]:
    """A counter variable per oneof that two or more Struct fields belong to."""
    members: dict[Any, int] = {}
    for f in plan:
        if f.fd.containing_oneof is not None:
            members[f.fd.containing_oneof] = members.get(f.fd.containing_oneof, 0) + 1
    shared = [oneof for oneof, n in members.items() if n > 1]
    return {oneof: f"n{depth}_{i}" for i, oneof in enumerate(shared)}


def _emit_memo(lines: list[str], f: _Field, value: str, w: str, target: str, depth: int) -> None:
    """Emit: append the serialized field for the Struct ``value`` to ``w``, from the memo."""
    ind = "    " * (2 * depth + 2)
    key = (f.struct, f.fd.message_type, f.fd.number)
    memo = _to_memos.get(key)
    if memo is None:
        memo = _to_memos[key] = _new_memo()
    t, d, mm = _to.const(f.struct, "T"), _to.const(f.fd.message_type, "D"), _to.const(memo, "memo")
    tag = _to.const(_varint(f.fd.number << 3 | 2), "tag")
    lines.append(f"{ind}if type({value}) is {t}:")
    lines.append(f"{ind}    k = _mp({value})")
    lines.append(f"{ind}    x = {mm}.get(k)")
    lines.append(f"{ind}    {w} += x if x is not None else _memo_miss({value}, k, {mm}, {d}, {tag})")
    lines.append(f"{ind}else:")
    lines.append(f"{ind}    x = {target}")
    lines.append(f"{ind}    _fill_any({value}, x, {d})")
    lines.append(f"{ind}    x.SetInParent()")


def _emit_message(
    lines: list[str], f: _Field, value: str, target: str, depth: int, stack: tuple[Key, ...]
) -> None:
    """Emit: fill the sub-message ``target`` from the Struct ``value`` (present even if empty)."""
    ind = "    " * (2 * depth + 2)
    key = (f.struct, f.fd.message_type)
    t, d = _to.const(f.struct, "T"), _to.const(f.fd.message_type, "D")
    m, s = f"m{depth + 1}", f"s{depth + 1}"
    lines.append(f"{ind}{m} = {target}")
    lines.append(f"{ind}if type({value}) is {t}:")
    if key in stack or depth + 1 >= _MAX_INLINE_DEPTH:
        lines.append(f"{ind}    {_filler_ref(*key)}({value}, {m})")
        lines.append(f"{ind}    {m}.SetInParent()")
    else:
        lines.append(f"{ind}    {s} = False")
        _emit_fill(lines, key, value, m, depth + 1, (*stack, key))
        lines.append(f"{ind}    if not {s}:")
        lines.append(f"{ind}        {m}.SetInParent()")
    lines.append(f"{ind}else:")
    lines.append(f"{ind}    _fill_any({value}, {m}, {d})")
    lines.append(f"{ind}    {m}.SetInParent()")


def _element_setter(f: _Field, desc: Descriptor) -> Callable[[Any, Any], None]:
    """(value, sub-message) setter for a message-typed element of a repeated field or map."""
    if f.kind == "timestamp":

        def set_timestamp(value: str, sub: Any) -> None:
            sub.seconds, sub.nanos = _timestamp_parts(value)

        return set_timestamp
    if f.kind == "wrapper":

        def set_wrapper(value: Any, sub: Any) -> None:
            sub.value = value

        return set_wrapper
    if f.kind == "wrapper64":

        def set_wrapper64(value: str, sub: Any) -> None:
            sub.value = int(value)

        return set_wrapper64

    struct_type = f.struct
    name = _filler_ref(struct_type, desc)

    def set_message(value: Any, sub: Any) -> None:
        sub.SetInParent()
        if type(value) is struct_type:
            _to.globals[name](value, sub)
        else:
            _fill_any(value, sub, desc)

    return set_message


def _emit_repeated(lines: list[str], f: _Field, v: str, target: str, ind: str) -> None:
    if f.kind == "scalar":
        lines.append(f"{ind}{target}.extend({v})")
    elif f.kind == "int64":
        lines.append(f"{ind}{target}.extend(map(int, {v}))")
    elif f.kind == "enum":
        numbers, number = _enum_number(f.fd)
        lines.append(f"{ind}try:")
        lines.append(f"{ind}    x = list(map({_to.const(numbers, 'e')}.__getitem__, {v}))")
        lines.append(f"{ind}except KeyError:")
        lines.append(f"{ind}    x = list(map({_to.const(number, 'en')}, {v}))")
        lines.append(f"{ind}{target}.extend(x)")
    elif f.kind == "message":
        t, d = _to.const(f.struct, "T"), _to.const(f.fd.message_type, "D")
        lines.append(f"{ind}add = {target}.add")
        lines.append(f"{ind}for x in {v}:")
        lines.append(f"{ind}    if type(x) is {t}:")
        lines.append(f"{ind}        {_filler_ref(f.struct, f.fd.message_type)}(x, add())")
        lines.append(f"{ind}    else:")
        lines.append(f"{ind}        _fill_any(x, add(), {d})")
    else:
        set_element = _to.const(_element_setter(f, f.fd.message_type), "se")
        lines.append(f"{ind}add = {target}.add")
        lines.append(f"{ind}for x in {v}:")
        lines.append(f"{ind}    {set_element}(x, add())")


def _emit_map(lines: list[str], f: _Field, v: str, target: str, ind: str) -> None:
    key = "int(k)" if f.key_kind == "int64" else "k"
    value_fd = f.fd.message_type.fields_by_name["value"]
    if value_fd.type == FieldDescriptor.TYPE_MESSAGE:
        set_element = _to.const(_element_setter(f, value_fd.message_type), "se")
        lines.append(f"{ind}x = {target}")
        lines.append(f"{ind}for k, e in {v}.items():")
        lines.append(f"{ind}    {set_element}(e, x[{key}])")  # x[key] adds the entry
        return
    if f.kind == "int64":
        value = "int(e)"
    elif f.kind == "enum":
        value = f"{_to.const(_enum_number(value_fd)[1], 'en')}(e)"
    else:
        value = "e"
    if key == "k" and value == "e":
        lines.append(f"{ind}{target}.update({v})")
    else:
        lines.append(f"{ind}{target}.update({{{key}: {value} for k, e in {v}.items()}})")
