"""Selector macros (``spec.selectorsMacros``): a selector's ``macros`` merged into it."""

from __future__ import annotations

from collections.abc import Mapping

from tetragon_core.policy.model import KProbeSelector

__all__ = ["expand_macros"]


def expand_macros(sel: KProbeSelector, macros: Mapping[str, KProbeSelector]) -> KProbeSelector:
    """The selector with its ``macros`` merged in (their filters appended), as Tetragon does."""
    if not sel.macros:
        return sel
    merged = {f: list(getattr(sel, f)) for f in _LIST_FIELDS}
    for name in sel.macros:
        m = macros[name]
        for f in _LIST_FIELDS:
            merged[f].extend(getattr(m, f))
    return KProbeSelector(label=sel.label, match_workloads=sel.match_workloads, **merged)


_LIST_FIELDS = (
    "match_pids",
    "match_args",
    "match_data",
    "match_actions",
    "match_return_args",
    "match_return_actions",
    "match_binaries",
    "match_parent_binaries",
    "match_namespaces",
    "match_namespace_changes",
    "match_capabilities",
    "match_capability_changes",
)
