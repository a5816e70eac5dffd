"""``tetragon --generate-docs``: the flag reference as YAML, shaped like cobra's doc generator,
then (``metrics:``) the metrics reference built from the agent's own registrations.

Each option also carries what this agent does with it (``support``: ``works`` or ``refused``, and
``support_note``: the effect, or why a non-default value is refused); cobra's keys come first, so
readers of upstream's format are unaffected. docs/flags.md is rendered from this document.
"""

from __future__ import annotations

from typing import Any

import yaml

from .flags import FLAGS
from .support import flag_support

PROGRAM = "tetragon"
SYNOPSIS = "Tetragon - eBPF-based Security Observability and Runtime Enforcement"
USAGE = "tetragon [flags]"


def docs_document() -> dict[str, Any]:
    """The documentation as data: name, synopsis, usage, the options sorted by name, and every
    metric family (:mod:`tetragon_core.metrics_docs`)."""
    options: list[dict[str, str]] = []
    for flag in sorted(FLAGS, key=lambda f: f.name):
        option = {"name": flag.name}
        if flag.default:
            option["default_value"] = flag.default
        option["usage"] = flag.usage
        option["support"], option["support_note"] = flag_support(flag.name)
        options.append(option)
    from tetragon_core.metrics_docs import metrics_document  # the whole agent: only for the docs

    return {
        "name": PROGRAM,
        "synopsis": SYNOPSIS,
        "usage": USAGE,
        "options": options,
        "metrics": metrics_document(),
    }


def generate_docs() -> str:
    """The YAML text ``--generate-docs`` prints; every scalar is a string, as cobra emits it."""
    # A huge width keeps each usage string on one line, as Go's yaml.v3 writes it.
    return yaml.safe_dump(docs_document(), sort_keys=False, width=1 << 16, allow_unicode=True)


def flags_markdown(doc: dict[str, Any]) -> str:
    """docs/flags.md: every flag, its default, and what this agent does with it."""
    lines = [
        "# Daemon flags",
        "",
        "Generated from `tetragon --generate-docs` by `make docs-flags`; do not edit by hand.",
        "Every flag of Tetragon's reference is accepted at its default. A flag that *works* takes",
        "effect as described; a *refused* flag set to any other value stops the start with an error",
        "naming the flag and the reason below. No flag is accepted and then ignored.",
        "",
        "| flag | default | state | what it does here |",
        "|---|---|---|---|",
    ]
    for o in doc["options"]:
        default = f"`{o['default_value']}`" if o.get("default_value") else ""
        note = str(o["support_note"]).replace("|", "\\|")
        lines.append(f"| `--{o['name']}` | {default} | {o['support']} | {note} |")
    works = sum(1 for o in doc["options"] if o["support"] == "works")
    refused = len(doc["options"]) - works
    lines += ["", f"{works} flags work; {refused} are refused unless at their default.", ""]
    return "\n".join(lines)
