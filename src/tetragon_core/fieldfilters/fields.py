"""Field filters: drop fields from exported events (``--field-filters``, ``GetEventsRequest``).

Semantics are Tetragon's (``pkg/fieldfilters/fields.go``). Each ``tetragon.FieldFilter`` has

* ``event_set``: the EventTypes it applies to (empty: every type); with ``invert_event_set`` it
  applies to every type *not* listed;
* ``fields``: a FieldMask whose paths are relative to the event message
  (``process.binary``, ``parent.pid``, ``ancestors.binary``, ``signal``…);
* ``action``: ``INCLUDE`` keeps only the listed fields, ``EXCLUDE`` drops them.

Filters are applied one after the other, in order, to the event message only (``node_name``,
``time``… are kept). So EXCLUDE wins over INCLUDE whatever their order, and every INCLUDE that
applies to an event drops what it does not list (two INCLUDEs keep the intersection). An INCLUDE
with no paths keeps everything. A repeated message field (``ancestors``) is filtered element-wise.
How paths combine inside one filter is described in :mod:`tetragon_core.fieldfilters._mask`.

Unlike upstream, which silently ignores paths that name no field, a path that does not exist in
any event type the filter applies to is a :class:`~tetragon_core.exceptions.ConfigError`; so is a
path reaching into a map or a well-known type (``process.start_time.seconds``).

Events are msgspec Structs shared between events (one ``Process`` serves many), so filtering
never mutates them: it builds new Structs along the touched paths and shares the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from google.protobuf import json_format

from tetragon_core import plugin_events
from tetragon_core.api.tetragon import events_pb2
from tetragon_core.events import GetEventsResponse
from tetragon_core.exceptions import ConfigError
from tetragon_core.fieldfilters._jsonlines import iter_json_objects
from tetragon_core.fieldfilters._mask import (
    EVENT_TYPES,
    MaskTree,
    Unresolved,
    event_kinds,
    merge,
    resolve,
)
from tetragon_core.filters.parse import plugin_event_numbers

__all__ = ["FieldFilterChain", "compile_field_filters", "parse_field_filter_lines"]

_INCLUDE = events_pb2.FieldFilterAction.Value("INCLUDE")
_EXCLUDE = events_pb2.FieldFilterAction.Value("EXCLUDE")


@dataclass(frozen=True, slots=True)
class _Op:
    """One filter's effect on one event type: ``include`` (keep ``tree``) or exclude ``tree``.

    For ``include`` an empty tree keeps nothing: the filter has paths, none of which exist in
    this event type.
    """

    include: bool
    tree: MaskTree

    def apply(self, msg: msgspec.Struct) -> msgspec.Struct:
        return _include(msg, self.tree) if self.include else _exclude(msg, self.tree)


class FieldFilterChain:
    """A compiled list of field filters; call it on a :class:`GetEventsResponse`.

    Returns the event itself when no filter applies to its type, else a new response whose event
    message was filtered. The input is never modified.
    """

    __slots__ = ("_fields", "_ops")

    def __init__(self, ops: dict[str, list[_Op]]) -> None:
        self._ops = {name: tuple(v) for name, v in ops.items() if v}
        kinds = event_kinds()
        self._fields = {name: kinds[name].field for name in self._ops}

    def __bool__(self) -> bool:
        """False when no filter can change any event."""
        return bool(self._ops)

    def __call__(self, event: GetEventsResponse) -> GetEventsResponse:
        """Filter one event."""
        kind = event.event_type()
        ops = self._ops.get(kind)
        if ops is None:
            return event
        attr = self._fields[kind]
        original = getattr(event, attr, None)
        if original is None:
            return event
        msg: msgspec.Struct = original
        for op in ops:
            msg = op.apply(msg)
        if msg is original:
            return event
        return msgspec.structs.replace(event, **{attr: msg})


def compile_field_filters(filters: Sequence[events_pb2.FieldFilter]) -> FieldFilterChain:
    """Compile ``tetragon.FieldFilter`` messages, applied in order, into one callable.

    The result, a :class:`FieldFilterChain`, is a ``Callable[[GetEventsResponse],
    GetEventsResponse]`` that is falsy when it can change no event. Raises :class:`ConfigError`
    naming the path for a path that is not a field of any event type the filter applies to, and
    for an unknown action.
    """
    ops: dict[str, list[_Op]] = {}
    for f in filters:
        for kind, op in _compile_one(f).items():
            ops.setdefault(kind, []).append(op)
    return FieldFilterChain(ops)


def _compile_one(f: events_pb2.FieldFilter) -> dict[str, _Op]:
    action = int(f.action)
    if action not in (_INCLUDE, _EXCLUDE):
        raise ConfigError(f"field filter: invalid action {action}")
    include = action == _INCLUDE
    kinds = event_kinds()
    invert = f.HasField("invert_event_set") and f.invert_event_set.value
    names = {**EVENT_TYPES, **plugin_events.type_names()}
    listed = {names[t] for t in f.event_set if t in names}
    if not f.event_set:
        selected = list(kinds)
    elif invert:
        selected = [k for k in kinds if k not in listed]
    else:
        selected = [k for k in kinds if k in listed]

    paths = list(f.fields.paths) if f.HasField("fields") else []
    # Check against the selected types; a filter that can apply to no type is checked against all.
    check = selected or list(kinds)
    per_kind: dict[str, list[tuple[str, ...]]] = {k: [] for k in check}
    for path in paths:
        failures: list[Unresolved] = []
        for k in check:
            r = resolve(kinds[k].descriptor, path)
            if isinstance(r, Unresolved):
                failures.append(r)
            else:
                per_kind[k].append(r)
        if len(failures) == len(check):
            raise ConfigError(_path_error(path, check, failures))

    out: dict[str, _Op] = {}
    for k in selected:
        tree = merge(per_kind[k])
        if include and paths:
            out[k] = _Op(True, tree)
        elif not include and tree:
            out[k] = _Op(False, tree)
    return out


def _path_error(path: str, kinds: list[str], failures: list[Unresolved]) -> str:
    """The error for a path no checked event type has: the reason that got deepest."""
    best = max(failures, key=lambda u: u.depth)
    if best.depth > 0 or len(kinds) == 1 or path.split(".")[0] == "":
        return f"field filter path {path!r}: {best.reason}"
    first = path.split(".")[0]
    where = "any event" if len(kinds) == len(event_kinds()) else f"any of {', '.join(kinds)}"
    return f"field filter path {path!r}: no field {first!r} in {where}"


# ---- applying a tree to Structs ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _StructField:
    attr: str
    default: Callable[[], Any]


_struct_fields_cache: dict[type[msgspec.Struct], dict[str, _StructField]] = {}


def _struct_fields(cls: type[msgspec.Struct]) -> dict[str, _StructField]:
    """A Struct's fields by encode name (the proto field name), with a default factory each."""
    cached = _struct_fields_cache.get(cls)
    if cached is None:
        cached = {}
        for f in msgspec.structs.fields(cls):
            if f.default_factory is not msgspec.NODEFAULT:
                factory: Callable[[], Any] = f.default_factory
            else:
                factory = _constant(f.default)
            cached[f.encode_name] = _StructField(f.name, factory)
        _struct_fields_cache[cls] = cached
    return cached


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _include(obj: msgspec.Struct, tree: MaskTree) -> msgspec.Struct:
    """A new Struct of ``obj``'s type holding only the fields in ``tree``."""
    fields = _struct_fields(type(obj))
    kept: dict[str, Any] = {}
    for name, sub in tree.items():
        sf = fields.get(name)
        if sf is None:
            continue
        value = getattr(obj, sf.attr)
        kept[sf.attr] = _include_value(value, sub) if sub else value
    return type(obj)(**kept)


def _include_value(value: Any, tree: MaskTree) -> Any:
    if isinstance(value, msgspec.Struct):
        return _include(value, tree)
    if isinstance(value, list):
        return [_include(v, tree) if isinstance(v, msgspec.Struct) else v for v in value]
    return value


def _exclude(obj: msgspec.Struct, tree: MaskTree) -> msgspec.Struct:
    """``obj`` with the fields in ``tree`` reset to their defaults (``obj`` itself if unchanged)."""
    fields = _struct_fields(type(obj))
    changes: dict[str, Any] = {}
    for name, sub in tree.items():
        sf = fields.get(name)
        if sf is None:
            continue
        value = getattr(obj, sf.attr)
        if not sub:
            changes[sf.attr] = sf.default()
            continue
        new = _exclude_value(value, sub)
        if new is not value:
            changes[sf.attr] = new
    if not changes:
        return obj
    return msgspec.structs.replace(obj, **changes)


def _exclude_value(value: Any, tree: MaskTree) -> Any:
    if isinstance(value, msgspec.Struct):
        return _exclude(value, tree)
    if isinstance(value, list):
        new = [_exclude(v, tree) if isinstance(v, msgspec.Struct) else v for v in value]
        if all(a is b for a, b in zip(new, value, strict=True)):
            return value
        return new
    return value


# ---- parsing --flag values -----------------------------------------------------------------


def _fields_to_json_mask(fields: str) -> str:
    """Turn upstream's snake_case ``fields`` string into a protojson FieldMask string.

    protojson spells FieldMask paths in lowerCamelCase and refuses underscores, but Tetragon's
    docs and configs use the proto (snake_case) names; upstream camel-cases the string before
    parsing (``fixupSnakeCaseString``), so both spellings are accepted. Blanks around the
    comma-separated paths are dropped.
    """
    out: list[str] = []
    for path in fields.split(","):
        chars: list[str] = []
        upper = False
        for ch in path.strip():
            if ch == "_":
                upper = True
                continue
            chars.append(ch.upper() if upper else ch)
            upper = False
        out.append("".join(chars))
    return ",".join(out)


def parse_field_filter_lines(text: str, flag: str = "--field-filters") -> list[events_pb2.FieldFilter]:
    """Parse JSON lines of protojson ``tetragon.FieldFilter`` (the ``--field-filters`` format).

    Example line: ``{"event_set":["PROCESS_EXEC"], "fields":"process.binary,parent.pid",
    "action":"INCLUDE", "invert_event_set":false}``. ``fields`` is one comma-separated string, in
    snake_case or camelCase. Each filter is also compiled, so a bad path is reported here. Errors
    are :class:`ConfigError` naming ``flag`` and the line.
    """
    out: list[events_pb2.FieldFilter] = []
    for line, obj in iter_json_objects(text, flag):
        fields = obj.get("fields")
        if isinstance(fields, str):
            obj = {**obj, "fields": _fields_to_json_mask(fields)}
        msg = events_pb2.FieldFilter()
        try:
            json_format.ParseDict(plugin_event_numbers(obj), msg)
            _compile_one(msg)
        except json_format.ParseError as e:
            raise ConfigError(f"{flag}: line {line}: {e}") from None
        except ConfigError as e:
            raise ConfigError(f"{flag}: line {line}: {e}") from None
        out.append(msg)
    return out
