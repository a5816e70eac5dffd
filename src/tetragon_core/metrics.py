"""The agent's Prometheus metrics: names and labels are Tetragon's.

Counters are plain Python objects updated on the hot path without locks: an increment of a dict
slot is atomic under the GIL, and every exporter thread only ever adds. The exposition to
``--metrics-server`` reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass
class Metric:
    """One metric family: a name, its help, its label names and the values per label tuple."""

    name: str
    help: str
    kind: str  # "counter" or "gauge"
    labels: tuple[str, ...] = ()
    values: dict[tuple[str, ...], float] = field(default_factory=dict)
    collect: Callable[[], dict[tuple[str, ...], float]] | None = None

    def inc(self, *label_values: str, by: float = 1) -> None:
        """Add ``by`` to the series named by ``label_values``."""
        self.values[label_values] = self.values.get(label_values, 0) + by

    def set(self, value: float, *label_values: str) -> None:
        """Set a gauge series."""
        self.values[label_values] = value

    def get(self, *label_values: str) -> float:
        """The current value of one series (0 if never touched)."""
        if self.collect is not None:
            return self.collect().get(label_values, 0)
        return self.values.get(label_values, 0)

    def samples(self) -> dict[tuple[str, ...], float]:
        """Every series of this family, collected now."""
        return self.collect() if self.collect is not None else dict(self.values)


@dataclass
class Histogram(Metric):
    """A histogram family: per label tuple, cumulative bucket counts, a sum and a count."""

    buckets: tuple[float, ...] = ()
    counts: dict[tuple[str, ...], list[int]] = field(default_factory=dict)
    sums: dict[tuple[str, ...], float] = field(default_factory=dict)

    def observe(self, value: float, *label_values: str) -> None:
        """Record one observation of ``value`` in the series named by ``label_values``."""
        counts = self.counts.get(label_values)
        if counts is None:
            counts = self.counts[label_values] = [0] * (len(self.buckets) + 1)
            self.sums[label_values] = 0.0
        i = 0
        for bound in self.buckets:  # a handful of buckets: a scan beats bisect's call
            if value <= bound:
                break
            i += 1
        counts[i] += 1
        self.sums[label_values] += value

    def get(self, *label_values: str) -> float:
        """The number of observations of one series."""
        return float(sum(self.counts.get(label_values, ())))


class Registry:
    """All metric families of one agent."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}
        #: scrapes begun: collectors that read several families at once read once per scrape
        self.scrapes = 0

    def counter(
        self,
        name: str,
        help: str,
        labels: tuple[str, ...] = (),
        collect: Callable[[], dict[tuple[str, ...], float]] | None = None,
    ) -> Metric:
        """Create (or return the existing) counter ``name``; ``collect`` computes it on read."""
        m = self._get(name, help, "counter", labels)
        if collect is not None:
            m.collect = collect
        return m

    def gauge(
        self,
        name: str,
        help: str,
        labels: tuple[str, ...] = (),
        collect: Callable[[], dict[tuple[str, ...], float]] | None = None,
    ) -> Metric:
        """Create (or return the existing) gauge ``name``; ``collect`` computes it on read."""
        m = self._get(name, help, "gauge", labels)
        if collect is not None:
            m.collect = collect
        return m

    def histogram(
        self, name: str, help: str, labels: tuple[str, ...], buckets: tuple[float, ...]
    ) -> Histogram:
        """Create (or return the existing) histogram ``name`` with these bucket bounds."""
        m = self._metrics.get(name)
        if m is None:
            m = Histogram(name, help, "histogram", labels, buckets=buckets)
            self._metrics[name] = m
        if not isinstance(m, Histogram) or (m.labels, m.buckets) != (labels, buckets):
            raise ValueError(
                f"metric {name} registered as {m.kind}{list(m.labels)}, requested as a histogram"
            )
        return m

    def _get(self, name: str, help: str, kind: str, labels: tuple[str, ...]) -> Metric:
        m = self._metrics.get(name)
        if m is None:
            m = Metric(name, help, kind, labels)
            self._metrics[name] = m
        elif (m.kind, m.labels) != (kind, labels):
            # Two owners of one family must agree, or one of them writes series under wrong labels.
            raise ValueError(
                f"metric {name} registered as {m.kind}{list(m.labels)}, requested as {kind}{list(labels)}"
            )
        return m

    def __iter__(self) -> Iterator[Metric]:
        return iter(list(self._metrics.values()))

    def __getitem__(self, name: str) -> Metric:
        return self._metrics[name]

    def exposition(self) -> str:
        """The Prometheus text format of every family, as ``--metrics-server`` serves it."""
        from tetragon_core.metrics_prom import PromMirror  # aioprometheus only where it renders

        return PromMirror(self).render()[0].decode()
