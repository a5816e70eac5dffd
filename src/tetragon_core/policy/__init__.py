"""TracingPolicy model, parser and validator (``cilium.io/v1alpha1``).

Public API: :func:`parse_policy`, :func:`parse_policy_file`, :func:`validate_policy`,
:class:`PolicyError` and the model dataclasses.
"""

from __future__ import annotations

from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.model import (
    ActionSelector,
    ArgSelector,
    BinarySelector,
    CapabilitiesSelector,
    EnforcerSpec,
    KProbeArg,
    KProbeIgnore,
    KProbeSelector,
    KProbeSpec,
    LabelSelector,
    LabelSelectorRequirement,
    ListSpec,
    LsmHookSpec,
    NamespaceChangesSelector,
    NamespaceSelector,
    ObjectMeta,
    OptionSpec,
    PIDSelector,
    TracepointSpec,
    TracingPolicy,
    TracingPolicySpec,
    UProbeIgnore,
    UProbeSpec,
    UsdtSpec,
    WorkloadSelector,
)
from tetragon_core.policy.parse import parse_policy, parse_policy_file
from tetragon_core.policy.validate import validate_policy

__all__ = [
    "ActionSelector",
    "ArgSelector",
    "BinarySelector",
    "CapabilitiesSelector",
    "EnforcerSpec",
    "KProbeArg",
    "KProbeIgnore",
    "KProbeSelector",
    "KProbeSpec",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ListSpec",
    "LsmHookSpec",
    "NamespaceChangesSelector",
    "NamespaceSelector",
    "ObjectMeta",
    "OptionSpec",
    "PIDSelector",
    "PolicyError",
    "TracepointSpec",
    "TracingPolicy",
    "TracingPolicySpec",
    "UProbeIgnore",
    "UProbeSpec",
    "UsdtSpec",
    "WorkloadSelector",
    "parse_policy",
    "parse_policy_file",
    "validate_policy",
]
