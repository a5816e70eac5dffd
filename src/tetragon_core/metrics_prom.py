"""The agent's metric families as aioprometheus collectors, refreshed when a scrape arrives.

The hot path keeps updating the plain counters of :mod:`tetragon_core.metrics` (a dict slot,
150 ns; aioprometheus' labelled ``inc`` costs 1.8 µs: docs/decisions.md). A scrape copies every
family into an aioprometheus registry, whose text formatter renders the exposition.

Two things aioprometheus leaves to its caller are done here: label values are escaped (its text
formatter writes them verbatim, so a binary path holding ``"`` or ``\\`` would corrupt the whole
scrape), and an unlabelled counter or gauge that was never touched shows 0, as Prometheus'
own clients do, so that dashboards find the series.
"""

from __future__ import annotations

import threading

from aioprometheus.collectors import (
    Collector,
    Counter,
    Gauge,
    Histogram as PromHistogram,
    Registry as PromRegistry,
)
from aioprometheus.histogram import Histogram as Buckets
from aioprometheus.renderer import render

from tetragon_core.metrics import Histogram, Metric, Registry

__all__ = ["PromMirror"]


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class PromMirror:
    """One aioprometheus registry mirroring a :class:`Registry`; :meth:`refresh` copies it."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self.prom = PromRegistry()
        self._collectors: dict[str, Collector] = {}
        self._lock = threading.Lock()

    def _collector(self, m: Metric) -> Collector:
        c = self._collectors.get(m.name)
        if c is None:
            if isinstance(m, Histogram):
                c = PromHistogram(m.name, m.help, registry=self.prom, buckets=m.buckets)
            elif m.kind == "counter":
                c = Counter(m.name, m.help, registry=self.prom)
            else:
                c = Gauge(m.name, m.help, registry=self.prom)
            self._collectors[m.name] = c
        return c

    def refresh(self) -> PromRegistry:
        """Copy every family's current series into the aioprometheus registry."""
        self._registry.scrapes += 1
        for m in self._registry:
            c = self._collector(m)
            c.values.clear()
            if isinstance(m, Histogram):
                for lv, counts in list(m.counts.items()):
                    b = Buckets(*m.buckets)
                    total = 0
                    for bound, n in zip(b.buckets, counts, strict=True):
                        total += n
                        b.buckets[bound] = total
                    b.observations, b.sum = total, m.sums.get(lv, 0.0)
                    c.set_value(self._labels(m, lv), b)
                continue
            samples = m.samples()
            if not samples and not m.labels:
                samples = {(): 0}
            for lv, v in samples.items():
                c.set_value(self._labels(m, lv), v)
        return self.prom

    @staticmethod
    def _labels(m: Metric, lv: tuple[str, ...]) -> dict[str, str]:
        return {k: _esc(x) for k, x in zip(m.labels, lv, strict=True)}

    def render(self, accepts: list[str] | None = None) -> tuple[bytes, dict[str, str]]:
        """The exposition (aioprometheus' text format) and its HTTP headers, collected now.

        Safe to call from a thread while the event loop counts: collectors copy a family's
        dict in one C-level call before reading it; one scrape renders at a time."""
        with self._lock:
            body, headers = render(self.refresh(), accepts or [])
        return body, dict(headers)
