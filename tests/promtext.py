"""Prometheus text read back by an independent parser (prometheus_client), for the tests."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, frozenset[tuple[str, str]]]


def families(text: str) -> dict[str, Metric]:
    """name → family, as prometheus_client parses ``text``. The parser drops a counter's
    ``_total`` from the family name; a counter is found under both names."""
    out: dict[str, Metric] = {}
    for fam in text_string_to_metric_families(text):
        out[fam.name] = fam
        if fam.type == "counter":
            out[fam.name + "_total"] = fam
    return out


def samples(text: str) -> dict[Key, float]:
    """(sample name, labels) → value of every sample in ``text``."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value; KeyError names what is missing."""
    got = samples(text)
    key = (name, frozenset(labels.items()))
    if key not in got:
        have = sorted(str(dict(k[1])) for k in got if k[0] == name)
        raise KeyError(f"{name}{labels} not in the exposition (series of {name}: {have})")
    return got[key]
