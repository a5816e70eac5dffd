"""Field-mask paths resolved against Tetragon's event messages, and merged into trees.

A field filter's paths are relative to the event message (``process.binary`` on a
``ProcessExec``…). Paths are checked against the protobuf descriptors, so a path is valid for any
event type Tetragon defines, even one this agent does not produce yet.

Path segments are matched the way upstream matches them: upstream turns every segment into a Go
field name (underscores dropped, the first letter and each letter after an underscore upper-cased)
and compares that, so ``exec_id``, ``execId`` and ``ExecId`` all name ``exec_id``. The resolved
path is spelled with the proto field names, which are also the encode names of the Structs in
:mod:`tetragon_core.events`.

Paths are merged into a tree the way upstream's ``fieldmask-utils`` merges them: each path adds
its nodes to the tree, and a node with children covers only those children. So a longer path
refines a shorter one (``process`` and ``process.pid`` together mean ``process.pid``), for
INCLUDE and EXCLUDE alike.
"""

from __future__ import annotations

from functools import cache

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tetragon_core import plugin_events
from tetragon_core.api.tetragon import events_pb2

__all__ = ["EVENT_TYPES", "EventKind", "MaskTree", "Unresolved", "event_kinds", "go_name", "merge", "resolve"]

# A node's children by proto field name; an empty dict is a leaf (the whole field).
MaskTree = dict[str, "MaskTree"]


class EventKind:
    """One event type: its EventType name, its GetEventsResponse field, its message descriptor."""

    __slots__ = ("descriptor", "field", "name")

    def __init__(self, name: str, field: str, descriptor: Descriptor) -> None:
        self.name = name
        self.field = field
        self.descriptor = descriptor


def event_kinds() -> dict[str, EventKind]:
    """Every event of the ``GetEventsResponse.event`` oneof, by EventType name, and the plugins'
    event types registered so far (plugin_events.py).

    EventType numbers are the oneof field numbers (``PROCESS_EXEC = 1`` ↔ ``process_exec = 1``).
    """
    kinds = dict(_core_kinds())
    for reg in plugin_events.registered():
        kinds[reg.etype.type_name] = EventKind(
            reg.etype.type_name, reg.etype.name, reg.event_message.DESCRIPTOR
        )
    return kinds


@cache
def _core_kinds() -> dict[str, EventKind]:
    response: Descriptor = events_pb2.GetEventsResponse.DESCRIPTOR
    names = events_pb2.EventType.DESCRIPTOR.values_by_number
    kinds: dict[str, EventKind] = {}
    for field in response.oneofs_by_name["event"].fields:
        value = names.get(field.number)
        if value is not None:
            kinds[value.name] = EventKind(value.name, field.name, field.message_type)
    return kinds


EVENT_TYPES: dict[int, str] = {v.number: v.name for v in events_pb2.EventType.DESCRIPTOR.values}


def go_name(segment: str) -> str:
    """The Go field name upstream derives from a path segment (``exec_id`` → ``ExecId``)."""
    out: list[str] = []
    upper = True
    for ch in segment:
        if ch == "_":
            upper = True
            continue
        out.append(ch.upper() if upper else ch)
        upper = False
    return "".join(out)


@cache
def _fields_by_go_name(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    return {go_name(f.name): f for f in descriptor.fields}


def _is_leaf_message(field: FieldDescriptor) -> bool:
    """True for fields that carry no sub-fields a path may name.

    Maps (keyed values, not fields) and the well-known types (``google.protobuf.Timestamp``,
    ``UInt32Value``…, which protojson and our Structs render as scalars) are leaves.
    """
    msg = field.message_type
    if msg is None:
        return True
    return bool(msg.GetOptions().map_entry) or msg.full_name.startswith("google.protobuf.")


class Unresolved:
    """Why a path does not resolve in one message, and how many segments did resolve."""

    __slots__ = ("depth", "reason")

    def __init__(self, depth: int, reason: str) -> None:
        self.depth = depth
        self.reason = reason


def resolve(descriptor: Descriptor, path: str) -> tuple[str, ...] | Unresolved:
    """Resolve ``path`` in ``descriptor``: the proto field names, or why it does not resolve."""
    segments = path.split(".")
    resolved: list[str] = []
    current: Descriptor | None = descriptor
    for i, segment in enumerate(segments):
        if segment == "":
            return Unresolved(i, "empty field name")
        if current is None:
            return Unresolved(i, f"{'.'.join(resolved)!r} has no sub-fields")
        field = _fields_by_go_name(current).get(go_name(segment))
        if field is None:
            where = ".".join(resolved) or current.name
            return Unresolved(i, f"no field {segment!r} in {where}")
        resolved.append(field.name)
        if i + 1 < len(segments):
            current = None if _is_leaf_message(field) else field.message_type
    return tuple(resolved)


def merge(paths: list[tuple[str, ...]]) -> MaskTree:
    """Merge resolved paths into one tree (a longer path refines a shorter one)."""
    root: MaskTree = {}
    for path in paths:
        node = root
        for name in path:
            node = node.setdefault(name, {})
    return root
