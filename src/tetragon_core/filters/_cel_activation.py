"""The CEL activation of an event: a lazy, proto-shaped view of msgspec Structs, and enum constants.

The event is handed to CEL as :class:`_View`: field names are the proto names, an unset field reads
as its proto3 default, ``has()`` follows proto3 presence (see :mod:`tetragon_core.filters.cel`).
"""

from __future__ import annotations

import base64
import types
import typing
from collections.abc import Callable
from typing import Any, cast

import celpy
import msgspec
from celpy import celtypes
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from tetragon_core.api.tetragon import bpf_pb2, capabilities_pb2, events_pb2, tetragon_pb2

Value = Any  # a celpy value


# --- numbers that compare across int and uint --------------------------------------------------------


def _plain(other: Any) -> int | Any:
    return int(other) if isinstance(other, celtypes.IntType | celtypes.UintType) else other


class _MixedCompare:
    """Comparisons on the plain integer value, so ``int`` and ``uint`` CEL values compare."""

    def __eq__(self, other: Any) -> bool:
        return bool(int(self) == _plain(other))  # type: ignore[call-overload]

    def __ne__(self, other: Any) -> bool:
        return bool(int(self) != _plain(other))  # type: ignore[call-overload]

    def __lt__(self, other: Any) -> bool:
        return bool(int(self) < _plain(other))  # type: ignore[call-overload]

    def __le__(self, other: Any) -> bool:
        return bool(int(self) <= _plain(other))  # type: ignore[call-overload]

    def __gt__(self, other: Any) -> bool:
        return bool(int(self) > _plain(other))  # type: ignore[call-overload]

    def __ge__(self, other: Any) -> bool:
        return bool(int(self) >= _plain(other))  # type: ignore[call-overload]

    def __hash__(self) -> int:
        return int.__hash__(self)  # type: ignore[arg-type]


class _Uint(_MixedCompare, celtypes.UintType):
    """A ``uint`` field value; also compares with ``int`` values (``pid == 42`` and ``pid == 42u``)."""


class _Int(_MixedCompare, celtypes.IntType):
    """An ``int`` field value; also compares with ``uint`` values."""


# --- the proto-shaped view of event Structs ---------------------------------------------------------

_Conv = Callable[[Any], Value]


class _Field(typing.NamedTuple):
    attr: str
    conv: _Conv  # Struct attribute value (maybe None/default) -> CEL value
    default: Any  # the Struct default: the field is "set" (has()) when the value differs


_specs: dict[type, dict[str, _Field]] = {}
_EPOCH = "1970-01-01T00:00:00Z"
_UNSIGNED = frozenset(
    {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED32}
    | {FieldDescriptor.TYPE_FIXED64}
)
_WRAPPER_UNSIGNED = frozenset({"google.protobuf.UInt32Value", "google.protobuf.UInt64Value"})


def _descriptor(cls: type) -> Descriptor | None:
    try:
        return cast(Descriptor, events_pb2.DESCRIPTOR.pool.FindMessageTypeByName(f"tetragon.{cls.__name__}"))
    except KeyError:
        return None


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _enum_number(enum: EnumDescriptor) -> _Conv:
    def conv(v: Any) -> Value:
        value = enum.values_by_name.get(v)
        if value is not None:
            return _Int(value.number)
        try:
            return _Int(int(v))  # a number without a name, carried as its decimal string
        except (TypeError, ValueError):
            return _Int(0)

    return conv


def _converter(tp: Any, fd: FieldDescriptor | None) -> _Conv:
    """How to turn a Struct attribute of annotation ``tp`` (proto field ``fd``) into a CEL value."""
    inner, optional = _unwrap_optional(tp)
    origin = typing.get_origin(inner)
    if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
        struct_cls = inner

        def conv_struct(v: Any) -> Value:
            return _View(v if v is not None else _empty(struct_cls))

        return conv_struct
    if origin is list:
        (elem_tp,) = typing.get_args(inner)
        elem = _converter(elem_tp, fd)
        return lambda v: celtypes.ListType([elem(e) for e in v or ()])
    if origin is dict:
        _, val_tp = typing.get_args(inner)
        val_fd = fd.message_type.fields_by_name.get("value") if fd is not None and fd.message_type else None
        val = _converter(val_tp, val_fd)
        return lambda v: celtypes.MapType({celtypes.StringType(k): val(x) for k, x in (v or {}).items()})
    if inner is bool:
        if optional:
            return lambda v: None if v is None else celtypes.BoolType(v)
        return celtypes.BoolType
    if inner is int:
        unsigned = fd is not None and (
            fd.type in _UNSIGNED
            or (fd.message_type is not None and fd.message_type.full_name in _WRAPPER_UNSIGNED)
        )
        num: type[_Uint] | type[_Int] = _Uint if unsigned else _Int
        if optional:
            return lambda v: None if v is None else num(v)
        return lambda v: num(v or 0)
    if inner is float:
        return lambda v: celtypes.DoubleType(v or 0.0)
    if inner is bytes:  # a bytes field (bytes_arg, buildid…), carried raw
        if optional:
            return lambda v: None if v is None else celtypes.BytesType(v)
        return lambda v: celtypes.BytesType(v or b"")
    if inner is str:
        if fd is not None and fd.message_type is not None:
            if fd.message_type.full_name == "google.protobuf.Timestamp":
                return lambda v: celtypes.TimestampType(v or _EPOCH)
            return lambda v: None if v is None else celtypes.StringType(v)  # StringValue wrapper
        if fd is not None and fd.enum_type is not None:
            return _enum_number(fd.enum_type)
        if fd is not None and fd.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64):
            return lambda v: _Int(int(v or 0))
        if fd is not None and fd.type in _UNSIGNED:
            return lambda v: _Uint(int(v or 0))
        if fd is not None and fd.type == FieldDescriptor.TYPE_BYTES:
            return lambda v: celtypes.BytesType(base64.b64decode(v or ""))
        if optional:
            return lambda v: None if v is None else celtypes.StringType(v)
        return lambda v: celtypes.StringType(v or "")
    return lambda v: celpy.adapter.json_to_cel(msgspec.to_builtins(v))


_empties: dict[type, Any] = {}


def _empty(cls: type) -> Any:
    inst = _empties.get(cls)
    if inst is None:
        inst = _empties[cls] = cls()
    return inst


def _spec(cls: type) -> dict[str, _Field]:
    spec = _specs.get(cls)
    if spec is None:
        desc = _descriptor(cls)
        spec = {}
        for info in msgspec.structs.fields(cls):
            fd = desc.fields_by_name.get(info.encode_name) if desc is not None else None
            default: Any = info.default
            if default is msgspec.NODEFAULT and info.default_factory is not msgspec.NODEFAULT:
                default = info.default_factory()
            spec[info.encode_name] = _Field(info.name, _converter(info.type, fd), default)
        _specs[cls] = spec
    return spec


class _View(celtypes.MessageType):
    """A msgspec event Struct seen as a CEL message; fields are converted when read."""

    def __init__(self, obj: Any) -> None:
        dict.__init__(self)
        self._obj = obj
        self._spec = _spec(type(obj))

    def get(self, key: Any, default: Any = None) -> Value:
        field = self._spec.get(key)
        if field is None:
            raise KeyError(f"no such field {key!r}")
        return field.conv(getattr(self._obj, field.attr))

    def __getitem__(self, key: Any) -> Value:
        return self.get(key)

    def has_field(self, key: str) -> celtypes.BoolType:
        """``has(m.key)``: whether the field is set (proto3: differs from its default)."""
        field = self._spec.get(key)
        if field is None:
            raise KeyError(f"no such field {key!r}")
        return celtypes.BoolType(getattr(self._obj, field.attr) != field.default)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _View) and bool(self._obj == other._obj)

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"_View({self._obj!r})"


def _has(target: Any, name: Any) -> Value:
    if isinstance(target, _View):
        return target.has_field(str(name))
    if isinstance(target, dict):
        return celtypes.BoolType(name in target)
    raise TypeError(f"has() on a {type(target).__name__}")


# --- enum constants ------------------------------------------------------------------------------


def _enum_namespace() -> dict[str, celtypes.MapType]:
    """The top-level enums of the tetragon protos, as ``{EnumName: {VALUE_NAME: number}}``."""
    out: dict[str, celtypes.MapType] = {}
    for module in (events_pb2, capabilities_pb2, tetragon_pb2, bpf_pb2):
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            values = {celtypes.StringType(v.name): _Int(v.number) for v in enum.values}
            out[enum.name] = celtypes.MapType(values)
    return out


_ENUMS = _enum_namespace()
_ENUM_BINDINGS: dict[str, Value] = {**_ENUMS, "tetragon": celtypes.MapType(dict(_ENUMS.items()))}
