"""``tetragon --generate-docs``: the flag reference as YAML, shaped like cobra's doc generator."""

from __future__ import annotations

from typing import Any

import yaml

from .flags import FLAGS

PROGRAM = "tetragon"
SYNOPSIS = "Tetragon - eBPF-based Security Observability and Runtime Enforcement"
USAGE = "tetragon [flags]"


def docs_document() -> dict[str, Any]:
    """The documentation as data: name, synopsis, usage and the options sorted by name."""
    options: list[dict[str, str]] = []
    for flag in sorted(FLAGS, key=lambda f: f.name):
        option = {"name": flag.name}
        if flag.default:
            option["default_value"] = flag.default
        option["usage"] = flag.usage
        options.append(option)
    return {"name": PROGRAM, "synopsis": SYNOPSIS, "usage": USAGE, "options": options}


def generate_docs() -> str:
    """The YAML text ``--generate-docs`` prints; every scalar is a string, as cobra emits it."""
    # A huge width keeps each usage string on one line, as Go's yaml.v3 writes it.
    return yaml.safe_dump(docs_document(), sort_keys=False, width=1 << 16, allow_unicode=True)
