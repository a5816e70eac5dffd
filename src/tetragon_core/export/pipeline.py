"""The JSON export's own filtering: allow/deny lists, field filters and the rate limit.

Built once from the configuration (malformed JSON fails at start, naming the flag and line) and
run by the exporter's writer thread on each batch. As upstream, these apply to the export only,
not to gRPC clients (who send their own filters).
"""

from __future__ import annotations

from collections.abc import Callable

from tetragon_core.api.tetragon import events_pb2
from tetragon_core.config import AgentConfig
from tetragon_core.events import GetEventsResponse
from tetragon_core.exceptions import ConfigError
from tetragon_core.fieldfilters import ExportRateLimiter, compile_field_filters, parse_field_filter_lines
from tetragon_core.filters import EventFilter, compile_filter, parse_filter_lines
from tetragon_core.metrics import Registry

Transform = Callable[[list[GetEventsResponse]], list[GetEventsResponse]]


def _check_compiles(filters: list[events_pb2.Filter], text: str, flag: str) -> None:
    """Compile each filter alone, so a bad regex or selector is reported with its line."""
    lines = [i for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    for f, lineno in zip(filters, lines, strict=False):
        try:
            compile_filter(f)
        except ConfigError as e:
            raise ConfigError(f"{flag}: line {lineno}: {e}") from e


def build_export_transform(cfg: AgentConfig, registry: Registry, node_name: str) -> Transform | None:
    """The per-batch transform for these flags, or None when every event passes unchanged."""
    pid_set = cfg.enable_pid_set_filter
    allow = parse_filter_lines(cfg.export_allowlist, "--export-allowlist", enable_pid_set_filter=pid_set)
    deny = parse_filter_lines(cfg.export_denylist, "--export-denylist", enable_pid_set_filter=pid_set)
    _check_compiles(allow, cfg.export_allowlist, "--export-allowlist")
    _check_compiles(deny, cfg.export_denylist, "--export-denylist")
    event_filter = EventFilter(allow, deny)
    fields = compile_field_filters(parse_field_filter_lines(cfg.field_filters, "--field-filters"))
    limiter = ExportRateLimiter(
        cfg.export_rate_limit, registry, node_name=node_name, cluster_name=cfg.cluster_name
    )
    if event_filter.passes_everything and not fields and not limiter.enabled:
        return None

    def transform(batch: list[GetEventsResponse]) -> list[GetEventsResponse]:
        out: list[GetEventsResponse] = []
        for ev in batch:
            if not event_filter(ev):
                continue
            if fields:
                ev = fields(ev)
            if limiter.enabled and not limiter.allow():
                continue
            out.append(ev)
        report = limiter.report()
        if report is not None:
            out.append(report)  # the report itself is never rate limited
        return out

    return transform
