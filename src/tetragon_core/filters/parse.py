"""Parse filter lists given as JSON lines (``--export-allowlist``, ``--export-denylist``, stdin).

Upstream (``filters.ParseFilterList``) runs Go's streaming JSON decoder over the flag value and
unmarshals each value with protojson: one ``Filter`` object after another, separated by whitespace
(in practice one per line). Field names are the proto names (``event_set``) or their JSON names
(``eventSet``), enums by name or number, ``health_check``/``in_init_tree`` plain booleans; an
unknown field is an error.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format

from tetragon_core import plugin_events
from tetragon_core.api.tetragon import events_pb2
from tetragon_core.exceptions import ConfigError

PID_SET_REFUSED = (
    "pidSet filters use a best-effort approach for tracking PIDs and are intended for "
    "testing/development, not for production (pass the --enable-pid-set-filter to ignore)"
)

_decoder = json.JSONDecoder()


def plugin_event_numbers(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with plugin event type names in ``event_set`` replaced by their numbers: the proto's
    EventType enum does not name them, but proto3 enums carry any number."""
    out = dict(obj)
    for key in ("event_set", "eventSet"):
        values = out.get(key)
        if isinstance(values, list):
            mapped = []
            for v in values:
                reg = plugin_events.by_name(v) if isinstance(v, str) else None
                mapped.append(reg.etype.number if reg is not None else v)
            out[key] = mapped
    return out


def parse_filter_lines(
    text: str, flag: str, *, enable_pid_set_filter: bool = False
) -> list[events_pb2.Filter]:
    """Parse ``text`` (JSON ``Filter`` objects, one per line) into ``Filter`` messages.

    ``flag`` names the source in errors: a malformed entry raises :class:`ConfigError`
    ``"<flag>: line <n>: <reason>"``. Blank text gives ``[]``. As upstream, a filter with
    ``pid_set`` is refused unless ``enable_pid_set_filter`` (``--enable-pid-set-filter``) is set.
    The filters' values (regexes, selectors, CEL) are checked when they are compiled, not here.
    """
    filters: list[events_pb2.Filter] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            return filters
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = _decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{flag}: line {exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})"
            ) from None
        if not isinstance(value, dict):
            raise ConfigError(
                f"{flag}: line {line}: a filter must be a JSON object, got {type(value).__name__}"
            )
        msg = events_pb2.Filter()
        try:
            json_format.ParseDict(plugin_event_numbers(value), msg)
        except (json_format.ParseError, TypeError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"{flag}: line {line}: invalid filter: {reason}") from None
        if msg.pid_set and not enable_pid_set_filter:
            raise ConfigError(f"{flag}: line {line}: {PID_SET_REFUSED}")
        filters.append(msg)
