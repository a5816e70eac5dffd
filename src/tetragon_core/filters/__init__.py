"""Event filters: Tetragon's ``Filter`` allow/deny lists (upstream ``pkg/filters``).

* :func:`compile_filter` turns one ``tetragon.Filter`` message into ``event -> bool``;
* :class:`EventFilter` applies an allow list and a deny list;
* :func:`parse_filter_lines` reads filters given as JSON lines (``--export-allowlist``…);
* :func:`event_parts` gives ``(kind, process, parent, ancestors, policy_name)`` of any event.

Invalid filters raise :class:`tetragon_core.exceptions.ConfigError` naming the field and reason.
"""

from __future__ import annotations

from tetragon_core.filters.access import EVENT_FIELDS, EventParts, event_parts, event_payload, event_type_name
from tetragon_core.filters.compile import CompiledFilter, compile_filter
from tetragon_core.filters.event_filter import EventFilter
from tetragon_core.filters.parse import parse_filter_lines
from tetragon_core.filters.pidset import PidSetTracker

__all__ = [
    "EVENT_FIELDS",
    "CompiledFilter",
    "EventFilter",
    "EventParts",
    "PidSetTracker",
    "compile_filter",
    "event_parts",
    "event_payload",
    "event_type_name",
    "parse_filter_lines",
]
