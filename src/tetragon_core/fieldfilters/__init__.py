"""Export-time event shaping, as Tetragon's ``pkg/fieldfilters`` and ``pkg/ratelimit``.

* :func:`compile_field_filters` / :func:`parse_field_filter_lines`: field filters
  (``--field-filters`` and ``GetEventsRequest.field_filters``).
* :class:`Redactor` / :func:`parse_redaction_lines`: redaction of secrets in process arguments
  and environment values (``--redaction-filters``), applied when a process enters the cache.
* :class:`ExportRateLimiter`: ``--export-rate-limit``.
"""

from __future__ import annotations

from tetragon_core.fieldfilters.fields import (
    FieldFilterChain,
    compile_field_filters,
    parse_field_filter_lines,
)
from tetragon_core.fieldfilters.ratelimit import DROPPED_METRIC, ExportRateLimiter
from tetragon_core.fieldfilters.redaction import (
    REDACTION_STR,
    RedactionRule,
    Redactor,
    compile_redaction_filter,
    parse_redaction_lines,
    redact_string,
)

__all__ = [
    "DROPPED_METRIC",
    "REDACTION_STR",
    "ExportRateLimiter",
    "FieldFilterChain",
    "RedactionRule",
    "Redactor",
    "compile_field_filters",
    "compile_redaction_filter",
    "parse_field_filter_lines",
    "parse_redaction_lines",
    "redact_string",
]
