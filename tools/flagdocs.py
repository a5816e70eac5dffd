"""Render docs/flags.md from ``tetragon --generate-docs`` on stdin (``make docs-flags``)."""

from __future__ import annotations

import sys

import yaml

from tetragon_core.config.docs import flags_markdown

if __name__ == "__main__":
    sys.stdout.write(flags_markdown(yaml.safe_load(sys.stdin)))
