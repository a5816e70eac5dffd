"""Semantic checks of one ``selectors[]`` entry (operators, actions, names, limits)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from tetragon_core.policy import constants as c
from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.model import (
    ActionSelector,
    ArgSelector,
    BinarySelector,
    CapabilitiesSelector,
    KProbeArg,
    KProbeSelector,
    NamespaceSelector,
)

_RATE_LIMIT = re.compile(r"^[0-9]+[smh]?$")
_MAX_BINARY_PATH = 256


def _one_of(path: str, what: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise PolicyError(path, f"unknown {what} {value!r}")


def _check_set_operator(path: str, op: str) -> None:
    _one_of(f"{path}.operator", "operator", op, c.SET_OPERATORS)


def _arg_type(args: Sequence[KProbeArg], index: int) -> str | None:
    for arg in args:
        if arg.index == index:
            return arg.type
    return None


def check_arg_selector(path: str, sel: ArgSelector, args: Sequence[KProbeArg]) -> None:
    """Validate a matchArgs/matchData/matchReturnArgs entry against the hook's arguments."""
    op = c.canonical_operator(sel.operator)
    if op is None:
        if sel.operator in c.SET_OPERATORS:
            raise PolicyError(
                f"{path}.operator",
                f"operator {sel.operator!r} is only valid for pids, namespaces, capabilities and binaries",
            )
        raise PolicyError(f"{path}.operator", f"unknown operator {sel.operator!r}")
    if sel.index < 0:
        raise PolicyError(f"{path}.index", "must not be negative")
    if op == "CapabilitiesGained" and sel.args and len(sel.args) != 2:
        raise PolicyError(f"{path}.args", "CapabilitiesGained takes exactly two args [new, old]")
    if not sel.values and op != "CapabilitiesGained":
        raise PolicyError(f"{path}.values", f"operator {op!r} needs at least one value")
    arg_type = _arg_type(args, sel.index)
    limited = not (
        op in c.MAP_OPERATORS
        or op in c.NET_MAP_OPERATORS
        or (op in c.STRING_MAP_OPERATORS and (arg_type is None or arg_type in c.STRING_ARG_TYPES))
    )
    if limited and len(sel.values) > c.MAX_MATCH_VALUES:
        raise PolicyError(
            f"{path}.values",
            f"operator {op!r} takes at most {c.MAX_MATCH_VALUES} values, got {len(sel.values)}",
        )
    if op in c.MAP_OPERATORS:
        return
    for i, value in enumerate(sel.values):
        if value.startswith("list:") and op not in c.MAP_OPERATORS:
            raise PolicyError(f"{path}.values[{i}]", f"list references need InMap/NotInMap, not {op!r}")


def check_binaries(path: str, sels: Sequence[BinarySelector]) -> None:
    """Validate matchBinaries / matchParentBinaries."""
    if len(sels) > c.MAX_MATCH_BINARIES:
        raise PolicyError(path, f"at most {c.MAX_MATCH_BINARIES} entry allowed, got {len(sels)}")
    for i, sel in enumerate(sels):
        p = f"{path}[{i}]"
        _one_of(f"{p}.operator", "operator", sel.operator, c.BINARY_OPERATORS)
        if sel.follow_children and sel.operator not in c.SET_OPERATORS:
            raise PolicyError(f"{p}.followChildren", f"only supported with In/NotIn, not {sel.operator!r}")
        for j, value in enumerate(sel.values):
            if len(value) >= _MAX_BINARY_PATH:
                raise PolicyError(f"{p}.values[{j}]", f"path must be shorter than {_MAX_BINARY_PATH} chars")


def _check_namespaces(path: str, sels: Sequence[NamespaceSelector]) -> None:
    if len(sels) > c.MAX_MATCH_NAMESPACES:
        raise PolicyError(path, f"at most {c.MAX_MATCH_NAMESPACES} entries allowed, got {len(sels)}")
    for i, sel in enumerate(sels):
        p = f"{path}[{i}]"
        _one_of(f"{p}.namespace", "namespace", sel.namespace, c.NAMESPACES)
        _check_set_operator(p, sel.operator)
        if len(sel.values) > c.MAX_NAMESPACE_VALUES:
            raise PolicyError(
                f"{p}.values", f"at most {c.MAX_NAMESPACE_VALUES} values, got {len(sel.values)}"
            )
        for j, value in enumerate(sel.values):
            if value != "host_ns" and not value.isdigit():
                raise PolicyError(
                    f"{p}.values[{j}]", f"expected a namespace inode or 'host_ns', got {value!r}"
                )


def _check_caps(path: str, sels: Sequence[CapabilitiesSelector]) -> None:
    for i, sel in enumerate(sels):
        p = f"{path}[{i}]"
        _one_of(f"{p}.type", "capability type", sel.type, c.CAPABILITY_TYPES)
        _check_set_operator(p, sel.operator)
        for j, value in enumerate(sel.values):
            if value.upper() not in c.CAPABILITIES:
                raise PolicyError(f"{p}.values[{j}]", f"unknown capability {value!r}")


def check_actions(path: str, actions: Sequence[ActionSelector]) -> None:
    """Validate matchActions / matchReturnActions."""
    if len(actions) > c.MAX_ACTIONS:
        raise PolicyError(path, f"at most {c.MAX_ACTIONS} actions per selector, got {len(actions)}")
    for i, act in enumerate(actions):
        p = f"{path}[{i}]"
        if act.action in c.REMOVED_ACTIONS:
            raise PolicyError(f"{p}.action", f"action {act.action!r} has been removed")
        if act.action not in c.ACTIONS:
            raise PolicyError(f"{p}.action", f"unknown action {act.action!r}")
        if act.rate_limit and not _RATE_LIMIT.match(act.rate_limit):
            raise PolicyError(f"{p}.rateLimit", f"invalid rate limit {act.rate_limit!r}")
        if act.rate_limit_scope:
            _one_of(f"{p}.rateLimitScope", "rate limit scope", act.rate_limit_scope, c.RATE_LIMIT_SCOPES)
        if act.action == "GetUrl" and not act.arg_url:
            raise PolicyError(f"{p}.argUrl", "GetUrl needs argUrl")
        if act.action == "DnsLookup" and not act.arg_fqdn:
            raise PolicyError(f"{p}.argFqdn", "DnsLookup needs argFqdn")


def check_selector(
    path: str,
    sel: KProbeSelector,
    args: Sequence[KProbeArg],
    data: Sequence[KProbeArg],
    return_arg: KProbeArg | None,
    macros: Mapping[str, KProbeSelector],
) -> None:
    """Validate one selector of a hook."""
    if len(sel.match_args) + len(sel.match_data) > c.MAX_ARGS:
        raise PolicyError(path, f"at most {c.MAX_ARGS} matchArgs+matchData per selector")
    for i, a in enumerate(sel.match_args):
        check_arg_selector(f"{path}.matchArgs[{i}]", a, args)
    for i, a in enumerate(sel.match_data):
        check_arg_selector(f"{path}.matchData[{i}]", a, data)
    ret = [return_arg] if return_arg is not None else []
    for i, a in enumerate(sel.match_return_args):
        check_arg_selector(f"{path}.matchReturnArgs[{i}]", a, ret)
    for i, pid in enumerate(sel.match_pids):
        _check_set_operator(f"{path}.matchPIDs[{i}]", pid.operator)
        for j, v in enumerate(pid.values):
            if v < 0:
                raise PolicyError(f"{path}.matchPIDs[{i}].values[{j}]", "must not be negative")
    _check_namespaces(f"{path}.matchNamespaces", sel.match_namespaces)
    if len(sel.match_namespace_changes) > c.MAX_NAMESPACE_CHANGES:
        raise PolicyError(f"{path}.matchNamespaceChanges", "at most 1 entry allowed")
    for i, nsc in enumerate(sel.match_namespace_changes):
        p = f"{path}.matchNamespaceChanges[{i}]"
        _check_set_operator(p, nsc.operator)
        for j, value in enumerate(nsc.values):
            _one_of(f"{p}.values[{j}]", "namespace", value, c.NAMESPACES)
    _check_caps(f"{path}.matchCapabilities", sel.match_capabilities)
    _check_caps(f"{path}.matchCapabilityChanges", sel.match_capability_changes)
    check_binaries(f"{path}.matchBinaries", sel.match_binaries)
    check_binaries(f"{path}.matchParentBinaries", sel.match_parent_binaries)
    check_actions(f"{path}.matchActions", sel.match_actions)
    check_actions(f"{path}.matchReturnActions", sel.match_return_actions)
    for i, name in enumerate(sel.macros):
        if name not in macros:
            raise PolicyError(f"{path}.macros[{i}]", f"unknown selectors macro {name!r}")
