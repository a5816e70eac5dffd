"""Uniform access to the parts of an event that filters look at.

Every Tetragon event message that concerns a process (``process_exec``, ``process_exit``,
``process_kprobe``, ``process_tracepoint``, ``process_uprobe``, ``process_lsm``, ``process_usdt``…)
carries the same attribute names: ``process``, ``parent``, ``ancestors`` and, for the policy-driven
ones, ``policy_name``. The helpers here find the one event set in a ``GetEventsResponse`` by the
oneof field names of the compiled proto and read those attributes by name, so event Structs added to
:mod:`tetragon_core.events` later are picked up without changes here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from tetragon_core.api.tetragon import events_pb2
from tetragon_core.events import GetEventsResponse, Process

#: The ``GetEventsResponse.event`` oneof field names, in field-number order.
EVENT_FIELDS: tuple[str, ...] = tuple(
    f.name for f in events_pb2.GetEventsResponse.DESCRIPTOR.oneofs_by_name["event"].fields
)

# Per response type: the names of EVENT_FIELDS that the Struct really has. A Struct type that lacks
# an event kind simply never carries it.
_present_cache: dict[type, tuple[str, ...]] = {}


def _present_fields(cls: type) -> tuple[str, ...]:
    names = _present_cache.get(cls)
    if names is None:
        struct_fields = set(getattr(cls, "__struct_fields__", ()))
        names = tuple(n for n in EVENT_FIELDS if n in struct_fields or hasattr(cls, n))
        plugin = getattr(cls, "__plugin_field__", None)  # a plugin's event (plugin_events.py)
        if plugin is not None:
            names = (plugin, *names)
        _present_cache[cls] = names
    return names


def event_payload(ev: GetEventsResponse) -> tuple[str, Any] | None:
    """The set event of a response as ``(oneof field name, event Struct)``, or ``None``."""
    for name in _present_fields(type(ev)):
        value = getattr(ev, name, None)
        if value is not None:
            return name, value
    return None


def event_type_name(ev: GetEventsResponse) -> str:
    """The ``EventType`` name of a response: ``ev.event_type()``, else derived from the oneof name.

    The oneof field names are the lower-case ``EventType`` names (``process_kprobe`` ↔
    ``PROCESS_KPROBE``), which covers event Structs that ``event_type()`` does not know yet.
    """
    name = ev.event_type()
    if name != "UNDEF":
        return name
    payload = event_payload(ev)
    return payload[0].upper() if payload is not None else "UNDEF"


class EventParts(NamedTuple):
    """What the filters read from one event; absent parts are ``None``, ``()`` or ``""``."""

    kind: str
    """The oneof field name of the event (``process_exec``…), ``""`` if none is set."""
    process: Process | None
    parent: Process | None
    ancestors: tuple[Process, ...] | list[Process]
    policy_name: str


_NO_PARTS = EventParts("", None, None, (), "")


def event_parts(ev: GetEventsResponse) -> EventParts:
    """Return ``(kind, process, parent, ancestors, policy_name)`` for any event Struct.

    Works by attribute name, so an event kind without a parent, ancestors or policy name (a
    ``rate_limit_info``, a ``process_loader``) simply yields ``None``/``()``/``""`` for them.
    """
    payload = event_payload(ev)
    if payload is None:
        return _NO_PARTS
    kind, inner = payload
    return EventParts(
        kind,
        getattr(inner, "process", None),
        getattr(inner, "parent", None),
        getattr(inner, "ancestors", None) or (),
        getattr(inner, "policy_name", "") or "",
    )
