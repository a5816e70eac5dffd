"""Render install/kubernetes/tetragon with real Helm (Helm v4's Go engine, through helm-python-sdk's
libhelm_c): the manifests a ``helm template`` / ``helm install`` of the chart would apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import yaml

CHART = Path(__file__).resolve().parents[1] / "install" / "kubernetes" / "tetragon"
RELEASE = "tetragon"
NAMESPACE = "kube-system"


def render_files(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Template path -> rendered text, as Helm renders the chart for an install."""
    helm_python.disable_logging()  # its "found symbolic link" lines say nothing the tests need
    chart = helm_python.Chart.load(CHART)
    try:
        return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    finally:
        chart.close()


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The objects the chart renders with ``values`` over its defaults, in template order."""
    docs: list[dict[str, Any]] = []
    for _, text in sorted(render_files(values).items()):
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The single object of ``kind`` (and ``name``) among ``docs``."""
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in docs if d["kind"] == kind])
    return found[0]
