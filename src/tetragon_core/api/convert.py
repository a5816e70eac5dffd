"""Convert the hot-path event Structs (``tetragon_core.events``) to and from the protobuf messages.

The Structs mirror Tetragon's messages field for field and hold what protojson writes (see
``tetragon_core.events``), so the conversion is generic and driven by the message descriptors: each
Struct field is matched, by its encode name, to the message field of that name and converted by the
field's type:

=========================================  ===========================  =========================
proto field                                Struct value                 conversion
=========================================  ===========================  =========================
string/bool/bytes/32-bit int/float/double  the value                    as is
64-bit int (int64, uint64, fixed64…)       decimal string               ``int()`` / ``str()``
enum                                       value name                   name ↔ number
google.protobuf.*Value wrapper             ``T | None``                 the wrapper's ``value``
google.protobuf.Timestamp                  RFC 3339 string or ``None``  seconds/nanos
message                                    Struct or ``None``           recurse
repeated T / map<K, V>                     ``list`` / ``dict``          element-wise
=========================================  ===========================  =========================

Fields at their Struct default are skipped, so the message is minimal: exactly what protojson of the
Struct says. For that to hold both ways, a Struct default must be the proto zero value in protojson
form (``""``, ``0``, ``"0"``, the enum's 0 name, ``[]``, ``{}``), or ``None`` for a field with
presence (messages, wrappers, Timestamps, ``optional`` and oneof scalars). This is checked.

Speed. The converter of each (Struct type, message descriptor) pair is built once, on first use or
by :func:`prepare`, and cached: building walks the descriptor and emits one straight-line Python
function, with the converters of nested Struct types inlined, so converting a set field costs an
attribute read, a test and a upb store, and no Python call. Building is also where a Struct field
with no message field of its name, or with a type or default that does not fit, raises
:class:`ConversionError`.

On top of that, sub-messages made only of small values (numbers, bools, enums, 32-bit wrappers; no
strings, 64-bit ints or timestamps) with at least a few fields, in practice ``Namespaces``,
``Capabilities`` and ``ProcessCredentials`` (and the kprobe arguments ``KprobeCred``,
``KprobeUserNamespace``, ``UserNamespace``), are memoized by value: an event carries them twice and
they take few distinct values on a node. The key is the Struct's msgpack encoding (a Struct changed
in place gets a new key), the memo holds the serialized field (so there is one memo per parent
field: the tag differs), merged into the parent with one upb call; the reverse memo holds the
msgpack encoding and decodes a fresh Struct on every hit. Each memo holds at most ``_MEMO_MAX``
values and is cleared when full.

Measured on the development box (CPython 3.11, protobuf 7 upb, one core), ``to_proto`` of a
process_exec event with its parent: about 6 µs without cap/ns/credentials, 12 µs with them on both
processes, 28 µs with the memos emptied before every call (per-field closures instead of generated
code took 16 µs and 82 µs). ``from_proto``: about 13 µs and 23 µs (``json_format.MessageToDict``
plus ``msgspec.convert``: 31 µs and 157 µs). For scale, ``events.encode_json`` takes 0.5 µs and
2.4 µs, and ``SerializeToString`` of the result 0.6 µs and 1.4 µs.

Message fields a Struct does not have are left unset by :func:`to_proto` and dropped by
:func:`from_proto` (or rejected, with ``strict=True``). An enum number without a name (from a newer
peer) is carried as its decimal string and converts back to the number. Map entries come back
sorted by key, as Go's protojson writes them.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from tetragon_core import events, plugin_events
from tetragon_core.api._convert_codegen import _clear_memos as _clear_memos, _memos as _memos
from tetragon_core.api._convert_from import _compile_maker, _makers
from tetragon_core.api._convert_plan import ConversionError, Key
from tetragon_core.api._convert_to import _compile_filler, _fill_any, _fillers
from tetragon_core.api.tetragon import events_pb2

__all__ = [
    "ConversionError",
    "from_proto",
    "prepare",
    "proto_to_struct",
    "struct_to_proto",
    "to_proto",
]

S = TypeVar("S", bound=msgspec.Struct)
M = TypeVar("M", bound=Message)


_EVENTS_DESC: Descriptor = events_pb2.GetEventsResponse.DESCRIPTOR
_EVENTS_KEY: Key = (events.GetEventsResponse, _EVENTS_DESC)
_GetEventsResponse = events_pb2.GetEventsResponse


def to_proto(event: events.GetEventsResponse) -> events_pb2.GetEventsResponse:
    """Convert one event Struct tree into a ``tetragon.GetEventsResponse`` message.

    Exact: protojson of the result equals ``events.encode_json(event)``. Raises
    :class:`ConversionError` for a Struct type that does not fit its message, an unknown enum
    name, a malformed timestamp, or two event fields set at once (the ``event`` oneof holds one).
    """
    reg = plugin_events.by_response(type(event))
    if reg is not None:  # a plugin's event: the extended GetEventsResponse (plugin_events.py)
        ext: Any = reg.message()
        _fill_any(event, ext, reg.descriptor)
        return ext  # type: ignore[no-any-return]
    msg = _GetEventsResponse()
    fill = _fillers.get((type(event), _EVENTS_DESC))
    if fill is None:
        fill = _compile_filler(type(event), _EVENTS_DESC)
    fill(event, msg)
    return msg


def from_proto(msg: events_pb2.GetEventsResponse, *, strict: bool = False) -> events.GetEventsResponse:
    """Convert a ``tetragon.GetEventsResponse`` message into the event Struct tree.

    The inverse of :func:`to_proto`. Events and fields our Structs do not carry (``test``,
    ``aggregation_info``…) are dropped, or raise :class:`ConversionError` if ``strict``; an event
    whose type was dropped comes back with ``event_type() == "UNDEF"``.
    """
    if msg.WhichOneof("event") is None and plugin_events.registered():
        plugin = _plugin_event(msg)
        if plugin is not None:
            return plugin
    make = _makers.get(_EVENTS_KEY)
    if make is None:
        make = _compile_maker(*_EVENTS_KEY)
    result: events.GetEventsResponse = make(msg, strict)
    return result


def _plugin_event(msg: Message) -> events.GetEventsResponse | None:
    """A response carrying a registered plugin event (an unknown field to the core's message)."""
    data = msg.SerializeToString()
    for reg in plugin_events.registered():
        ext = reg.message.FromString(data)
        if ext.WhichOneof("event") == reg.etype.name:
            return proto_to_struct(ext, reg.response)
    return None


def struct_to_proto(obj: msgspec.Struct, message_type: type[M]) -> M:
    """Convert any Struct into a new message of ``message_type`` (see :func:`to_proto`)."""
    msg: M = message_type()
    _fill_any(obj, msg, message_type.DESCRIPTOR)
    return msg


def proto_to_struct(msg: Message, struct_type: type[S], *, strict: bool = False) -> S:
    """Convert any message into a Struct of ``struct_type`` (see :func:`from_proto`)."""
    make = _makers.get((struct_type, msg.DESCRIPTOR))
    if make is None:
        make = _compile_maker(struct_type, msg.DESCRIPTOR)
    result: S = make(msg, strict)
    return result


def prepare(struct_type: type[msgspec.Struct], message_type: type[Message]) -> None:
    """Build, and so check, both converters of a Struct type and its message type now.

    Raises :class:`ConversionError` if a Struct field (here or in a nested Struct type) has no
    message field of its name, or a type or default that does not fit. Without this the
    converters are built on first use.
    """
    _compile_filler(struct_type, message_type.DESCRIPTOR)
    _compile_maker(struct_type, message_type.DESCRIPTOR)
