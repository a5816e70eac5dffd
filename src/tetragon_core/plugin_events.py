"""Event types that sensor plugins define, and how they join the core's events.

A plugin declares an :class:`EventType`: a name (``example_signal``: the JSON export's top-level
key; ``EXAMPLE_SIGNAL`` in filters and metrics), a msgspec Struct deriving from
:class:`PluginEvent` (``process`` and ``parent``, which the core fills from the process cache,
then the plugin's fields), a number in ``PLUGIN_NUMBERS``, and an optional compact renderer.
Registering one builds:

* a response Struct (``GetEventsResponse`` plus one field of that name), so the JSON export,
  ``--console``, the allow/deny filters (``event_set``), field filters and
  ``tetragon_events_total`` treat it like any core event;
* a protobuf message for the event, generated from the Struct's fields (numbered in declaration
  order; ``str`` string, ``int`` int32, ``bool``, ``float`` double, ``bytes``, :data:`UInt32`,
  :data:`Int64`/:data:`UInt64` as decimal strings, ``list[...]``, nested Structs, the core's
  ``Process``), and an extended ``GetEventsResponse`` carrying it at field ``number`` of the
  ``event`` oneof. GetEvents sends that: a client built from upstream's proto parses the message
  and skips the unknown field; one that knows the plugin's message reads it.

Plugin event numbers serve as both the GetEventsResponse field number and the ``EventType``
number (proto3 enums are open, so ``event_set`` may carry it), as the core's events do.
"""

from __future__ import annotations

import re
import threading
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from tetragon_core import events as core_events
from tetragon_core.api.tetragon import events_pb2
from tetragon_core.events import GetEventsResponse, Process
from tetragon_core.exceptions import SensorError

#: GetEventsResponse field numbers (and EventType numbers) reserved for plugin events
PLUGIN_NUMBERS = range(50000, 51000)
_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")  # at least two words: never a core name
_PACKAGE = "tetragon.plugins"


class ProtoType:
    """``Annotated`` marker naming the proto type of a plugin event field."""

    def __init__(self, name: str) -> None:
        self.name = name


#: proto int32 (the default of ``int``), uint32; 64-bit integers are decimal strings, as protojson
Int32 = Annotated[int, ProtoType("int32")]
UInt32 = Annotated[int, ProtoType("uint32")]
Int64 = Annotated[str, ProtoType("int64")]
UInt64 = Annotated[str, ProtoType("uint64")]


class PluginEvent(msgspec.Struct, omit_defaults=True, kw_only=True, gc=False):
    """Base of a plugin event: the process that caused it and its parent (from the cache)."""

    process: Process | None = None
    parent: Process | None = None


#: renders one event for ``--console compact``: (event, "<node> <binary>") → the line
CompactRenderer = Callable[[Any, str], str]


@dataclass(frozen=True)
class EventType:
    """A plugin's event type: see the module documentation."""

    name: str
    struct: type[PluginEvent]
    number: int
    compact: CompactRenderer | None = None

    @property
    def type_name(self) -> str:
        """The EventType-style name used by filters and metrics (``EXAMPLE_SIGNAL``)."""
        return self.name.upper()


@dataclass(frozen=True)
class Registered:
    """A registered event type with what was built for it."""

    etype: EventType
    owner: str
    response: type[GetEventsResponse]
    message: type[Message]  # the extended GetEventsResponse
    event_message: type[Message]

    @property
    def descriptor(self) -> Descriptor:
        desc: Descriptor = self.message.DESCRIPTOR
        return desc


_lock = threading.Lock()
_by_name: dict[str, Registered] = {}
_by_response: dict[type, Registered] = {}
_core_fields = frozenset(f.name for f in events_pb2.GetEventsResponse.DESCRIPTOR.fields)
_core_numbers = frozenset(f.number for f in events_pb2.GetEventsResponse.DESCRIPTOR.fields)


def register(etype: EventType, owner: str) -> Registered:
    """Register ``owner``'s event type; the same type registered again is a no-op. SensorError
    names the sensor and the problem (name, number, a field type that has no proto type)."""
    with _lock:
        have = _by_name.get(etype.name)
        if have is not None:
            if have.etype == etype and have.owner == owner:
                return have
            raise SensorError(
                f"sensor {owner!r}: event {etype.name!r} is already defined by sensor {have.owner!r}"
            )
        _check(etype, owner)
        taken = next((r for r in _by_name.values() if r.etype.number == etype.number), None)
        if taken is not None:
            raise SensorError(
                f"sensor {owner!r}: event number {etype.number} is already used by "
                f"{taken.etype.name!r} of sensor {taken.owner!r}"
            )
        event_message, message = _build_messages(etype, owner)
        response = _response_struct(etype)
        reg = Registered(etype, owner, response, message, event_message)
        _by_name[etype.name] = reg
        _by_response[response] = reg
        return reg


def _check(etype: EventType, owner: str) -> None:
    where = f"sensor {owner!r}: event {etype.name!r}"
    if not _NAME_RE.match(etype.name) or etype.name in _core_fields:
        raise SensorError(f"{where}: the name must be snake_case with at least two words, not a core field")
    if etype.number not in PLUGIN_NUMBERS or etype.number in _core_numbers:
        raise SensorError(
            f"{where}: number {etype.number} is outside the plugin range "
            f"{PLUGIN_NUMBERS.start}..{PLUGIN_NUMBERS.stop - 1}"
        )
    if not (isinstance(etype.struct, type) and issubclass(etype.struct, PluginEvent)):
        raise SensorError(f"{where}: struct must be a subclass of PluginEvent")


def response_class(field: str) -> type[GetEventsResponse]:
    """The response Struct that carries event ``field`` (GetEventsResponse for core events)."""
    reg = _by_name.get(field)
    return reg.response if reg is not None else GetEventsResponse


def by_response(cls: type) -> Registered | None:
    """The registration behind a plugin response Struct type, or None for a core one."""
    return _by_response.get(cls)


def by_name(name: str) -> Registered | None:
    """A registered event by its field name (``example_signal``) or type name (``EXAMPLE_SIGNAL``)."""
    return _by_name.get(name.lower())


def registered() -> list[Registered]:
    """Every registered plugin event type, by number."""
    return sorted(_by_name.values(), key=lambda r: r.etype.number)


def type_names() -> dict[int, str]:
    """EventType number → name of the plugin event types."""
    return {r.etype.number: r.etype.type_name for r in _by_name.values()}


# --- the response Struct ------------------------------------------------------------------------


def _response_struct(etype: EventType) -> type[GetEventsResponse]:
    type_name = etype.type_name
    cls = msgspec.defstruct(
        f"{_camel(etype.name)}Response",
        [(etype.name, etype.struct | None, None)],
        bases=(GetEventsResponse,),
        namespace={"event_type": lambda self: type_name, "__plugin_field__": etype.name},
        module=__name__,
        omit_defaults=True,
        kw_only=True,
        gc=False,
    )
    return typing.cast(type[GetEventsResponse], cls)


# --- the protobuf messages ----------------------------------------------------------------------

_SCALARS = {
    str: descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    int: descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    bool: descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    float: descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
    bytes: descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
}
_MARKED = {
    "int32": descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    "uint32": descriptor_pb2.FieldDescriptorProto.TYPE_UINT32,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


class _FileBuilder:
    """Messages of one generated .proto file (one per event type)."""

    def __init__(self, etype: EventType, owner: str) -> None:
        self.etype = etype
        self.owner = owner
        self.file = descriptor_pb2.FileDescriptorProto(
            name=f"tetragon_plugins/{etype.name}.proto",
            package=_PACKAGE,
            syntax="proto3",
            dependency=[d.name for d in events_pb2.DESCRIPTOR.dependencies] + [events_pb2.DESCRIPTOR.name],
        )
        self.done: dict[type, str] = {}

    def message(self, struct: type[msgspec.Struct], name: str) -> str:
        """Add the message of ``struct`` (and of the plugin Structs it nests); its full name."""
        if struct in self.done:
            return self.done[struct]
        full = f".{_PACKAGE}.{name}"
        self.done[struct] = full
        msg = self.file.message_type.add(name=name)
        hints = typing.get_type_hints(struct, include_extras=True)
        # stable numbers: process 1 and parent 2 (PluginEvent's), then the Struct's own fields in
        # declaration order, so a field appended later never renumbers the others
        base = [f for f in ("process", "parent") if issubclass(struct, PluginEvent)]
        names = base + [f for f in struct.__struct_fields__ if f not in base]
        for number, fname in enumerate(names, start=1):
            field = msg.field.add(name=fname, number=number, json_name=fname)
            self._type(field, hints[fname], f"{struct.__name__}.{fname}")
        return full

    def _type(self, field: descriptor_pb2.FieldDescriptorProto, hint: Any, where: str) -> None:
        label = descriptor_pb2.FieldDescriptorProto
        field.label = label.LABEL_OPTIONAL
        origin = typing.get_origin(hint)
        if origin is Annotated:
            base, *marks = typing.get_args(hint)
            proto = next((m for m in marks if isinstance(m, ProtoType)), None)
            if proto is None or proto.name not in _MARKED:
                self._type(field, base, where)
                return
            field.type = _MARKED[proto.name]
            return
        if origin is list:
            (item,) = typing.get_args(hint)
            self._type(field, item, where)
            field.label = label.LABEL_REPEATED
            return
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], msgspec.Struct):
                self._struct(field, args[0])
                return
        if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
            self._struct(field, hint)
            return
        if hint in _SCALARS:
            field.type = _SCALARS[hint]
            return
        raise SensorError(
            f"sensor {self.owner!r}: event {self.etype.name!r}: field {where} has type {hint!r}, which has "
            "no proto type (str, int, bool, float, bytes, UInt32, Int64, UInt64, list[...], Structs)"
        )

    def _struct(self, field: descriptor_pb2.FieldDescriptorProto, struct: type) -> None:
        field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
        if struct.__module__ == core_events.__name__ or struct.__module__ == "tetragon_core.events_tracing":
            field.type_name = f".tetragon.{struct.__name__}"  # the core's own message
        else:
            field.type_name = self.message(struct, struct.__name__)

    def response(self, event_name: str) -> str:
        """The extended GetEventsResponse: the core's fields, plus the event in its oneof."""
        base = descriptor_pb2.DescriptorProto()
        events_pb2.GetEventsResponse.DESCRIPTOR.CopyToProto(base)
        name = f"{_camel(self.etype.name)}Response"
        base.name = name
        for f in base.field:  # map entries must be the message's own nested types
            if f.type_name.startswith(".tetragon.GetEventsResponse."):
                f.type_name = f".{_PACKAGE}.{name}." + f.type_name.rsplit(".", 1)[1]
        oneof = next(i for i, o in enumerate(base.oneof_decl) if o.name == "event")
        base.field.add(
            name=self.etype.name,
            number=self.etype.number,
            json_name=self.etype.name,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
            type_name=event_name,
            oneof_index=oneof,
        )
        self.file.message_type.add().CopyFrom(base)
        return f"{_PACKAGE}.{name}"


def _build_messages(etype: EventType, owner: str) -> tuple[type[Message], type[Message]]:
    fb = _FileBuilder(etype, owner)
    event_full = fb.message(etype.struct, _camel(etype.name))
    response_full = fb.response(event_full)
    pool = descriptor_pool.Default()
    try:
        pool.Add(fb.file)
    except (TypeError, ValueError) as e:
        raise SensorError(f"sensor {owner!r}: event {etype.name!r}: its proto message is invalid: {e}") from e
    event_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(event_full.lstrip(".")))
    response_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(response_full))
    return event_cls, response_cls


def proto_source(reg: Registered) -> str:
    """A .proto text describing the event's message, for client authors."""
    desc = reg.event_message.DESCRIPTOR
    names = {v: k.lower().removeprefix("type_") for k, v in descriptor_pb2.FieldDescriptorProto.Type.items()}
    lines = [f"// {reg.etype.name}: GetEventsResponse field {reg.etype.number} (oneof event)"]
    lines.append(f"message {desc.name} {{")
    for f in desc.fields:
        kind = f".{f.message_type.full_name}" if f.message_type is not None else names[f.type]
        rep = "repeated " if f.is_repeated else ""
        lines.append(f"  {rep}{kind} {f.name} = {f.number};")
    lines.append("}")
    return "\n".join(lines)
