"""Entry point: YAML text → validated :class:`~tetragon_core.policy.model.TracingPolicy`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from tetragon_core.policy._decode import CLAIMED_SECTIONS, decode_struct
from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.model import TracingPolicy
from tetragon_core.policy.validate import validate_policy


def _load_single(text: str) -> Any:
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError("", f"invalid YAML{where}: {problem}") from exc
    if not docs:
        raise PolicyError("", "empty document")
    if len(docs) > 1:
        raise PolicyError("", f"expected one policy document, got {len(docs)}")
    return docs[0]


def parse_policy(text: str, claimed_sections: Mapping[str, str] | None = None) -> TracingPolicy:
    """Parse and validate one TracingPolicy / TracingPolicyNamespaced YAML document.

    ``claimed_sections`` maps the spec keys installed sensor plugins claim to those sensors; such
    a key is kept raw in ``spec.plugin_sections`` for its sensor to validate, any other unknown
    key is refused naming the claims. Raises :class:`~tetragon_core.policy.errors.PolicyError`
    (a ``ConfigError``) whose message is ``"<yaml path>: <reason>"``.
    """
    doc = _load_single(text)
    if not isinstance(doc, dict):
        raise PolicyError("", "policy must be a mapping")
    for key in ("apiVersion", "kind", "metadata"):
        if key not in doc:
            raise PolicyError(key, "required field is missing")
    token = CLAIMED_SECTIONS.set(dict(claimed_sections or {}))
    try:
        policy = decode_struct(TracingPolicy, doc, "")
    finally:
        CLAIMED_SECTIONS.reset(token)
    validate_policy(policy)
    return policy


def parse_policy_file(path: str) -> TracingPolicy:
    """Read ``path`` and :func:`parse_policy` it; I/O errors become PolicyError naming the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise PolicyError("", f"cannot read {path}: {exc.strerror}") from exc
    return parse_policy(text)
