"""Semantic validation of a decoded :class:`~tetragon_core.policy.model.TracingPolicy`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from tetragon_core.policy import constants as c
from tetragon_core.policy._selectors import check_selector
from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.model import (
    KProbeArg,
    KProbeSelector,
    LabelSelector,
    OptionSpec,
    TracingPolicy,
    TracingPolicySpec,
)

_LABEL_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_BOOL_OPTION_VALUES = ("", "true", "false", "1", "0", "True", "False")
_HOOK_SECTIONS = ("kprobes", "tracepoints", "lsmhooks", "uprobes", "usdts", "fentries")


def _check_label_selector(path: str, sel: LabelSelector | None, only_key: str | None = None) -> None:
    if sel is None:
        return
    for key in sel.match_labels:
        if only_key is not None and key != only_key:
            raise PolicyError(f"{path}.matchLabels.{key}", f"only the {only_key!r} key is supported")
    for i, req in enumerate(sel.match_expressions):
        p = f"{path}.matchExpressions[{i}]"
        if req.operator not in _LABEL_OPERATORS:
            raise PolicyError(f"{p}.operator", f"unknown operator {req.operator!r}")
        if only_key is not None and req.key != only_key:
            raise PolicyError(f"{p}.key", f"only the {only_key!r} key is supported")


def _check_common(path: str, message: str, tags: Sequence[str]) -> None:
    if len(message) > c.MAX_MESSAGE_LEN:
        raise PolicyError(f"{path}.message", f"longer than {c.MAX_MESSAGE_LEN} characters ({len(message)})")
    if len(tags) > c.MAX_TAGS:
        raise PolicyError(f"{path}.tags", f"at most {c.MAX_TAGS} tags allowed, got {len(tags)}")
    for i, tag in enumerate(tags):
        if not c.MIN_TAG_LEN <= len(tag) <= c.MAX_TAG_LEN:
            raise PolicyError(f"{path}.tags[{i}]", f"must be {c.MIN_TAG_LEN}-{c.MAX_TAG_LEN} characters long")


def _check_args(path: str, key: str, args: Sequence[KProbeArg], kprobe: bool) -> None:
    for i, arg in enumerate(args):
        p = f"{path}.{key}[{i}]" if key != "returnArg" else f"{path}.returnArg"
        if arg.type not in c.ARG_TYPES:
            raise PolicyError(f"{p}.type", f"unknown arg type {arg.type!r}")
        if kprobe and arg.type in c.KPROBE_REJECTED_TYPES:
            raise PolicyError(f"{p}.type", f"arg type {arg.type!r} is not supported for kprobes")
        if arg.index < 0:
            raise PolicyError(f"{p}.index", "must not be negative")
        if not 0 <= arg.size_arg_index <= c.MAX_SIZE_ARG_INDEX:
            raise PolicyError(f"{p}.sizeArgIndex", f"must be between 0 and {c.MAX_SIZE_ARG_INDEX}")


def _check_hook(
    path: str,
    *,
    message: str,
    tags: Sequence[str],
    args: Sequence[KProbeArg],
    data: Sequence[KProbeArg],
    return_arg: KProbeArg | None,
    selectors: Sequence[KProbeSelector],
    macros: Mapping[str, KProbeSelector],
    kprobe: bool = False,
    positional: bool = False,
) -> None:
    _check_common(path, message, tags)
    if len(args) + len(data) > c.MAX_ARGS:
        raise PolicyError(
            f"{path}.args", f"at most {c.MAX_ARGS} args+data per hook, got {len(args) + len(data)}"
        )
    _check_args(path, "args", args, kprobe)
    _check_args(path, "data", data, kprobe)
    if return_arg is not None:
        _check_args(path, "returnArg", [return_arg], kprobe)
    if len(selectors) > c.MAX_SELECTORS:
        raise PolicyError(
            f"{path}.selectors", f"at most {c.MAX_SELECTORS} selectors per hook, got {len(selectors)}"
        )
    # tracepoints: matchArgs index is the position in args[], not the traced argument's index
    sel_args = [dataclasses.replace(a, index=i) for i, a in enumerate(args)] if positional else args
    for i, sel in enumerate(selectors):
        check_selector(f"{path}.selectors[{i}]", sel, sel_args, data, return_arg, macros)


def _check_options(options: Sequence[OptionSpec]) -> None:
    for i, opt in enumerate(options):
        p = f"spec.options[{i}].value"
        if opt.name == "policy-mode":
            if opt.value not in c.POLICY_MODES:
                raise PolicyError(p, f"invalid policy-mode {opt.value!r} (expected enforce or monitor)")
        elif opt.name == "override-method":
            if opt.value not in c.OVERRIDE_METHODS:
                raise PolicyError(p, f"invalid override-method {opt.value!r}")
        elif opt.name in ("disable-kprobe-multi", "disable-uprobe-multi"):
            if opt.value not in _BOOL_OPTION_VALUES:
                raise PolicyError(p, f"invalid boolean {opt.value!r}")
        elif opt.name == "sleepable-preload-size":
            if not opt.value.isdigit():
                raise PolicyError(p, f"expected a non-negative integer, got {opt.value!r}")
            # accepted by upstream's parser; nothing here would read it, so it is refused by name
            raise PolicyError(p, "sleepable-preload-size: sleepable programs are not built in this agent")
        else:
            raise PolicyError(f"spec.options[{i}].name", f"unknown option {opt.name!r}")


def _check_lists(spec: TracingPolicySpec) -> set[str]:
    names: set[str] = set()
    for i, lst in enumerate(spec.lists):
        p = f"spec.lists[{i}]"
        if not lst.name:
            raise PolicyError(f"{p}.name", "must not be empty")
        if lst.name in names:
            raise PolicyError(f"{p}.name", f"duplicate list {lst.name!r}")
        names.add(lst.name)
        if lst.type and lst.type not in c.LIST_TYPES:
            raise PolicyError(f"{p}.type", f"unknown list type {lst.type!r}")
    return names


def _check_spec(spec: TracingPolicySpec, namespaced: bool) -> None:
    present = [name for name in _HOOK_SECTIONS if getattr(spec, name)]
    if len(present) > 1:
        raise PolicyError(
            "spec",
            "tracing policies with multiple sections of kprobes, tracepoints, lsmhooks, uprobes, usdts "
            f"or fentries are not supported (found {', '.join(present)})",
        )
    if namespaced and spec.host_selector is not None:
        raise PolicyError("spec.hostSelector", "not allowed in TracingPolicyNamespaced")
    if spec.host_selector is not None and (
        spec.host_selector.match_labels or spec.host_selector.match_expressions
    ):
        raise PolicyError("spec.hostSelector", "only null or {} is supported")
    _check_label_selector("spec.podSelector", spec.pod_selector)
    _check_label_selector("spec.containerSelector", spec.container_selector, only_key="name")
    _check_label_selector("spec.nodeSelector", spec.node_selector)
    _check_options(spec.options)
    lists = _check_lists(spec)
    macros = spec.selectors_macros
    for name, macro in macros.items():
        check_selector(f"spec.selectorsMacros.{name}", macro, [], [], None, macros)
    for section in ("kprobes", "fentries"):
        for i, kp in enumerate(spec.kprobes if section == "kprobes" else spec.fentries):
            p = f"spec.{section}[{i}]"
            if not kp.call:
                raise PolicyError(f"{p}.call", "must not be empty")
            if kp.call.startswith("list:") and kp.call[5:] not in lists:
                raise PolicyError(f"{p}.call", f"unknown list {kp.call[5:]!r}")
            if kp.return_arg_action and kp.return_arg_action not in c.RETURN_ARG_ACTIONS:
                raise PolicyError(
                    f"{p}.returnArgAction", f"unknown return arg action {kp.return_arg_action!r}"
                )
            if kp.return_ and kp.return_arg is None:
                raise PolicyError(f"{p}.returnArg", "required when return is true")
            _check_hook(
                p,
                message=kp.message,
                tags=kp.tags,
                args=kp.args,
                data=kp.data,
                return_arg=kp.return_arg,
                selectors=kp.selectors,
                macros=macros,
                kprobe=True,
            )
    for i, tp in enumerate(spec.tracepoints):
        _check_hook(
            f"spec.tracepoints[{i}]",
            message=tp.message,
            tags=tp.tags,
            args=tp.args,
            data=(),
            return_arg=None,
            selectors=tp.selectors,
            macros=macros,
            positional=True,
        )
    for i, up in enumerate(spec.uprobes):
        p = f"spec.uprobes[{i}]"
        if not up.path:
            raise PolicyError(f"{p}.path", "must not be empty")
        if sum(1 for x in (up.symbols, up.offsets, up.addrs) if x) > 1:
            raise PolicyError(p, "only one of symbols, offsets and addrs may be set")
        if up.ref_ctr_offsets and len(up.ref_ctr_offsets) != len(up.symbols or up.offsets or up.addrs):
            raise PolicyError(f"{p}.refCtrOffsets", "must have one entry per symbol/offset/addr")
        _check_hook(
            p,
            message=up.message,
            tags=up.tags,
            args=up.args,
            data=up.data,
            return_arg=up.return_arg,
            selectors=up.selectors,
            macros=macros,
        )
    for i, us in enumerate(spec.usdts):
        _check_hook(
            f"spec.usdts[{i}]",
            message=us.message,
            tags=us.tags,
            args=us.args,
            data=(),
            return_arg=None,
            selectors=us.selectors,
            macros=macros,
        )
    for i, lsm in enumerate(spec.lsmhooks):
        _check_hook(
            f"spec.lsmhooks[{i}]",
            message=lsm.message,
            tags=lsm.tags,
            args=lsm.args,
            data=(),
            return_arg=None,
            selectors=lsm.selectors,
            macros=macros,
        )
    for i, enf in enumerate(spec.enforcers):
        for j, call in enumerate(enf.calls):
            if not call:
                raise PolicyError(f"spec.enforcers[{i}].calls[{j}]", "must not be empty")


def validate_policy(policy: TracingPolicy) -> None:
    """Check a decoded policy against the CRD's semantic rules; raise PolicyError on the first problem."""
    if policy.api_version != c.API_VERSION:
        raise PolicyError(
            "apiVersion", f"unsupported apiVersion {policy.api_version!r} (expected {c.API_VERSION})"
        )
    if policy.kind not in (c.KIND_CLUSTER, c.KIND_NAMESPACED):
        raise PolicyError("kind", f"unknown kind {policy.kind!r}")
    if not policy.metadata.name:
        raise PolicyError("metadata.name", "must not be empty")
    _check_spec(policy.spec, policy.namespaced)
