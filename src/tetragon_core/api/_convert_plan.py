"""Conversion plans (see ``tetragon_core.api.convert``): each Struct field matched to its message field.

Also the error type, the constants of the conversion and the Timestamp ↔ RFC 3339 helpers.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

import msgspec
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tetragon_core.export.timefmt import parse_rfc3339, rfc3339_nanos


class ConversionError(ValueError):
    """A Struct type does not fit its protobuf message, or a value cannot be converted."""

    __module__ = "tetragon_core.api.convert"  # its public home


_NS_PER_S = 1_000_000_000
_TIMESTAMP = "google.protobuf.Timestamp"
# Wrapper message → the Python type its value is carried as in a Struct.
_WRAPPERS: dict[str, type] = {
    "google.protobuf.DoubleValue": float,
    "google.protobuf.FloatValue": float,
    "google.protobuf.Int64Value": str,
    "google.protobuf.UInt64Value": str,
    "google.protobuf.Int32Value": int,
    "google.protobuf.UInt32Value": int,
    "google.protobuf.BoolValue": bool,
    "google.protobuf.StringValue": str,
    "google.protobuf.BytesValue": bytes,
}
_INT64_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_PY_TYPES: dict[int, type] = {
    FieldDescriptor.TYPE_DOUBLE: float,
    FieldDescriptor.TYPE_FLOAT: float,
    FieldDescriptor.TYPE_INT32: int,
    FieldDescriptor.TYPE_UINT32: int,
    FieldDescriptor.TYPE_SINT32: int,
    FieldDescriptor.TYPE_FIXED32: int,
    FieldDescriptor.TYPE_SFIXED32: int,
    FieldDescriptor.TYPE_BOOL: bool,
    FieldDescriptor.TYPE_STRING: str,
    FieldDescriptor.TYPE_BYTES: bytes,
}
# Nested Struct types are inlined into their parent's converter down to this depth.
_MAX_INLINE_DEPTH = 8
# Memoize sub-messages of small values with at least this many leaf fields (a repeated field
# counts as this many), at most _MEMO_MAX values per type.
_MEMO_MIN_LEAVES = 4
_MEMO_MAX = 1024

Key = tuple[type, Descriptor]  # (Struct type, message descriptor)


# --------------------------------------------------------------------------------------------------
# Timestamps

# "YYYY-MM-DDTHH:MM:SS" → Unix seconds. An event's timestamps fall within few distinct seconds, so
# the calendar arithmetic is done once per second.
_ts_seconds: dict[str, int] = {}
_TS_CACHE_MAX = 4096
_FRAC_SCALE = (0, 100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1)
# Whole timestamp text → (seconds, nanos). The same text recurs: an exec event's time is its
# process's start_time, a parent's start_time is in every event of its children, an exit repeats
# its process's. A hit is one dict lookup instead of ~0.4 µs of slicing and int(); cleared when full.
_ts_parts: dict[str, tuple[int, int]] = {}


def _timestamp_parts(text: str) -> tuple[int, int]:
    """(seconds, nanos) of an RFC 3339 timestamp, as protojson parses a Timestamp."""
    parts = _ts_parts.get(text)
    if parts is None:
        parts = _parse_timestamp_parts(text)
        if len(_ts_parts) >= _TS_CACHE_MAX:
            _ts_parts.clear()
        _ts_parts[text] = parts
    return parts


def _parse_timestamp_parts(text: str) -> tuple[int, int]:
    n = len(text)
    if 20 <= n <= 30 and text[-1] == "Z" and (n == 20 or text[19] == "."):
        prefix = text[:19]
        seconds = _ts_seconds.get(prefix)
        if seconds is None:
            seconds = _parse_ns(prefix + "Z") // _NS_PER_S
            if len(_ts_seconds) >= _TS_CACHE_MAX:
                _ts_seconds.clear()
            _ts_seconds[prefix] = seconds
        if n == 20:
            return seconds, 0
        frac = text[20:-1]
        if frac.isdigit() and frac.isascii():
            return seconds, int(frac) * _FRAC_SCALE[len(frac)]
    return divmod(_parse_ns(text), _NS_PER_S)


def _parse_ns(text: str) -> int:
    try:
        return parse_rfc3339(text)
    except ValueError as e:
        raise ConversionError(f"Timestamp: {e}") from None


def _timestamp_text(ts: Any) -> str:
    return rfc3339_nanos(ts.seconds * _NS_PER_S + ts.nanos)


# --------------------------------------------------------------------------------------------------
# Plans: each Struct field matched to its message field, checked and classified


@dataclass(frozen=True, slots=True)
class _Field:
    attr: str  # Struct attribute name
    fd: FieldDescriptor
    # "scalar" | "int64" | "enum" | "wrapper" | "wrapper64" | "timestamp" | "message"; of the
    # elements (or map values) when container is "repeated" or "map"
    kind: str
    container: str  # "" | "repeated" | "map"
    default: Any  # None (not set), or the proto zero value in protojson form
    struct: Any = None  # kind "message": the element's Struct type
    key_kind: str = ""  # maps: "scalar" | "int64"


_NoneType = type(None)


def _is_struct_type(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _is_map(fd: FieldDescriptor) -> bool:
    return bool(fd.type == FieldDescriptor.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``T | None`` → (T, True); anything else → (tp, False)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        rest = [a for a in args if a is not _NoneType]
        if len(rest) == 1 and len(rest) < len(args):
            return rest[0], True
    return tp, False


def _zero(kind: str, fd: FieldDescriptor) -> Any:
    """The protojson form of a scalar field's zero value."""
    if kind == "int64":
        return "0"
    if kind == "enum":
        return fd.enum_type.values_by_number[0].name
    return _PY_TYPES[fd.type]()


class _Check:
    def __init__(self, struct_type: type, field: msgspec.structs.FieldInfo, fd: FieldDescriptor) -> None:
        self.where = f"{struct_type.__module__}.{struct_type.__qualname__}.{field.name} ↔ {fd.full_name}"
        self.tp = field.type

    def fail(self, msg: str) -> typing.NoReturn:
        raise ConversionError(f"{self.where}: {msg} (the Struct field is {self.tp!r})")

    def element(self, fd: FieldDescriptor, tp: Any) -> tuple[str, Any]:
        """(kind, Struct type or None) of one value of ``fd`` held as ``tp``."""
        if fd.type != FieldDescriptor.TYPE_MESSAGE:
            py: type
            if fd.type in _INT64_TYPES:
                kind, py = "int64", str
            elif fd.type == FieldDescriptor.TYPE_ENUM:
                kind, py = "enum", str
            else:
                kind, py = "scalar", _PY_TYPES[fd.type]
            if tp is not py:
                self.fail(f"a {kind} value is carried as {py.__name__}")
            return kind, None
        name = fd.message_type.full_name
        if name == _TIMESTAMP:
            if tp is not str:
                self.fail("a Timestamp is carried as its RFC 3339 str")
            return "timestamp", None
        if name in _WRAPPERS:
            wrapped = _WRAPPERS[name]
            if tp is not wrapped:
                self.fail(f"a {name} is carried as {wrapped.__name__}")
            return ("wrapper64" if wrapped is str and "64" in name else "wrapper"), None
        if name.startswith("google.protobuf."):
            self.fail(f"{name} is not supported")
        if not _is_struct_type(tp):
            self.fail(f"message {name} is carried as a msgspec.Struct")
        return "message", tp


_plans: dict[Key, list[_Field]] = {}


def _plan(struct_type: type, desc: Descriptor) -> list[_Field]:
    """The Struct's fields matched to the message's, checked; raises ConversionError."""
    plan = _plans.get((struct_type, desc))
    if plan is not None:
        return plan
    if not _is_struct_type(struct_type):
        raise ConversionError(f"{struct_type!r} is not a msgspec.Struct type")
    plan = []
    for field in msgspec.structs.fields(struct_type):
        fd = desc.fields_by_name.get(field.encode_name)
        if fd is None:
            raise ConversionError(
                f"{struct_type.__module__}.{struct_type.__qualname__}.{field.name}: message "
                f"{desc.full_name} has no field {field.encode_name!r} "
                f"(its fields: {', '.join(f.name for f in desc.fields)})"
            )
        plan.append(_field_plan(_Check(struct_type, field, fd), field, fd))
    _plans[(struct_type, desc)] = plan
    return plan


def _plain(tp: Any) -> Any:
    """``tp`` without ``Annotated`` metadata (plugin events mark proto types that way)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _plain(typing.get_args(tp)[0])
    if origin is list:
        return list[_plain(typing.get_args(tp)[0])]  # type: ignore[misc]
    return tp


def _field_plan(check: _Check, field: msgspec.structs.FieldInfo, fd: FieldDescriptor) -> _Field:
    tp = _plain(field.type)
    if field.default is not msgspec.NODEFAULT:
        default = field.default
    elif field.default_factory is not msgspec.NODEFAULT:
        default = field.default_factory()
    else:
        check.fail("the field needs a default (the proto zero value, or None)")
    if _is_map(fd):
        if typing.get_origin(tp) is not dict or default != {}:
            check.fail("a map is carried as a dict, defaulting to {}")
        ktp, vtp = typing.get_args(tp)
        key_fd, value_fd = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
        key_kind, _ = check.element(key_fd, ktp)
        kind, struct = check.element(value_fd, vtp)
        return _Field(field.name, fd, kind, "map", default, struct, key_kind)
    if fd.is_repeated:
        if typing.get_origin(tp) is not list or default != []:
            check.fail("a repeated field is carried as a list, defaulting to []")
        kind, struct = check.element(fd, typing.get_args(tp)[0])
        return _Field(field.name, fd, kind, "repeated", default, struct)
    if fd.has_presence:  # messages, and optional/oneof scalars
        inner, optional = _unwrap_optional(tp)
        if not optional or default is not None:
            check.fail("a field with presence is carried as `T | None`, defaulting to None (not set)")
        kind, struct = check.element(fd, inner)
        return _Field(field.name, fd, kind, "", None, struct)
    kind, _ = check.element(fd, tp)
    zero = _zero(kind, fd)
    if type(default) is not type(zero) or default != zero:
        check.fail(f"the default must be the proto zero value {zero!r}")
    return _Field(field.name, fd, kind, "", default)


_weights: dict[Key, int] = {}


def _memo_weight(struct_type: type, desc: Descriptor, seen: frozenset[Key] = frozenset()) -> int:
    """Leaf-field count of a Struct type made only of small values, or -1 if it is not one."""
    key = (struct_type, desc)
    weight = _weights.get(key)
    if weight is not None:
        return weight
    if key in seen:
        return -1
    weight = 0
    for f in _plan(struct_type, desc):
        if f.kind == "message" and not f.container:
            sub = _memo_weight(f.struct, f.fd.message_type, seen | {key})
            weight = -1 if sub < 0 else weight + sub
        elif f.container != "map" and _small_value(f):
            weight += _MEMO_MIN_LEAVES if f.container else 1
        else:
            weight = -1
        if weight < 0:
            break
    _weights[key] = weight
    return weight


def _small_value(f: _Field) -> bool:
    """A number, bool or enum: values that take few distinct values (not names, ids, times)."""
    if f.kind == "scalar":
        return f.fd.type not in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)
    if f.kind == "wrapper":
        return _WRAPPERS[f.fd.message_type.full_name] in (int, bool, float)
    return f.kind == "enum"


def _memoized_in(parent: Key, f: _Field) -> bool:
    """Whether field ``f`` of ``parent`` is memoized (not inside a memoized type itself)."""
    return (
        f.kind == "message"
        and not f.container
        and _memo_weight(*parent) < 0
        and _memo_weight(f.struct, f.fd.message_type) >= _MEMO_MIN_LEAVES
    )
