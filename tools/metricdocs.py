"""Render docs/metrics.md from ``tetragon --generate-docs`` on stdin (``make docs-metrics``)."""

from __future__ import annotations

import sys

import yaml

from tetragon_core.metrics_docs import metrics_markdown

if __name__ == "__main__":
    sys.stdout.write(metrics_markdown(yaml.safe_load(sys.stdin)["metrics"]))
