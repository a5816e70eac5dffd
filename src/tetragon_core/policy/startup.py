"""Policies given at start: ``--tracing-policy FILE`` and ``--tracing-policy-dir DIR``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tetragon_core.exceptions import ConfigError
from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.registry import DOMAIN_STATIC, LOAD_ERROR, PolicyRegistry

log = logging.getLogger(__name__)


def _add(registry: PolicyRegistry, path: Path) -> None:
    try:
        text = path.read_text()
    except OSError as e:
        raise PolicyError("", f"cannot read {path}: {e.strerror}") from e
    entry = registry.add(text, DOMAIN_STATIC)
    if entry.state == LOAD_ERROR:
        log.warning("tracing policy %s (%s): %s", entry.policy.name, path, entry.error)
    else:
        log.info("tracing policy %s loaded from %s", entry.policy.name, path)


def load_startup_policies(registry: PolicyRegistry, policy_file: str, policy_dir: str) -> None:
    """Load the directory's policies (each failure is logged, as upstream), then the file's.

    A malformed ``--tracing-policy`` file stops the start with a ConfigError naming the flag, the
    file and the YAML path; the directory is scanned recursively for ``*.yaml``/``*.yml``.
    """
    if policy_dir and os.path.isdir(policy_dir):
        for path in sorted(
            p for p in Path(policy_dir).rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
        ):
            try:
                _add(registry, path)
            except PolicyError as e:
                log.error("--tracing-policy-dir: %s: %s", path, e)
    if policy_file:
        try:
            _add(registry, Path(policy_file))
        except PolicyError as e:
            raise ConfigError(f"--tracing-policy: {policy_file}: {e}") from e
