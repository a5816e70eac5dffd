"""Generic, path-tracking conversion of parsed YAML into the dataclasses of :mod:`.model`."""

from __future__ import annotations

import contextvars
import dataclasses
import types
import typing
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Any, TypeVar, cast

from tetragon_core.policy.errors import PolicyError

T = TypeVar("T")

#: ObjectMeta keys accepted (and kept in ``extra``) besides name/namespace/labels/annotations.
_OBJECT_META_EXTRA = frozenset(
    {
        "generateName",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)


#: spec keys that installed sensor plugins claim → the claiming sensor (set by parse_policy)
CLAIMED_SECTIONS: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "claimed_sections", default=MappingProxyType({})
)


def _unknown(path: str, key: str, in_spec: bool) -> PolicyError:
    if not in_spec:
        return PolicyError(join(path, key), "unknown field")
    claims = CLAIMED_SECTIONS.get()
    have = ", ".join(f"{k} ({v})" for k, v in sorted(claims.items())) or "none"
    return PolicyError(
        join(path, key), f"unknown field: no installed sensor plugin claims it (plugin sections: {have})"
    )


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    key: str
    tp: Any
    required: bool


@cache
def _fields(cls: Any) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        key = f.metadata.get("yaml", _camel(f.name))
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        out.append(_Field(f.name, key, hints[f.name], required))
    return tuple(out)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _expected(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is str:
        return "string"
    if tp is int:
        return "integer"
    if tp is bool:
        return "boolean"
    if origin is list:
        return "list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "mapping"
    return str(tp)


def _wrong(path: str, tp: Any, value: object) -> PolicyError:
    return PolicyError(path, f"expected {_expected(tp)}, got {_type_name(value)}")


def join(path: str, key: str) -> str:
    """Append a mapping key to a YAML path."""
    return f"{path}.{key}" if path else key


def decode(tp: Any, value: object, path: str) -> Any:
    """Convert ``value`` into type ``tp``; raise :class:`PolicyError` naming ``path`` on mismatch."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return decode(inner[0], value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise _wrong(path, tp, value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(path, tp, value)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise _wrong(path, tp, value)
        return value
    if origin is list:
        if value is None:
            return []
        if not isinstance(value, list):
            raise _wrong(path, tp, value)
        (item,) = typing.get_args(tp)
        return [decode(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _wrong(path, tp, value)
        _, item = typing.get_args(tp)
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise PolicyError(path, f"key {k!r} is not a string")
            out[k] = decode(item, v, join(path, k))
        return out
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return decode_struct(tp, value, path)
    raise TypeError(f"unsupported type {tp!r}")  # pragma: no cover - model bug


def decode_struct(cls: type[T], value: object, path: str) -> T:
    """Convert a YAML mapping into dataclass ``cls``, rejecting unknown and missing keys."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise _wrong(path, cls, value)
    fields = _fields(cast(Any, cls))
    known = {f.key: f for f in fields}
    extra_field = known.get("*")
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, raw in value.items():
        f = known.get(key) if isinstance(key, str) and key != "*" else None
        if f is None:
            in_spec = path == "spec"
            if extra_field is not None and key in (CLAIMED_SECTIONS.get() if in_spec else _OBJECT_META_EXTRA):
                extra[key] = raw
                continue
            raise _unknown(path, str(key), in_spec)
        kwargs[f.name] = decode(f.tp, raw, join(path, key))
    for f in fields:
        if f.required and f.name not in kwargs:
            raise PolicyError(join(path, f.key), "required field is missing")
    if extra_field is not None:
        kwargs[extra_field.name] = extra
    return cls(**kwargs)
