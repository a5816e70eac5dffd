"""Typed model of ``cilium.io/v1alpha1`` TracingPolicy / TracingPolicyNamespaced.

Field names are snake_case; the YAML key is the camelCase form, or ``field(metadata={"yaml": ...})``
where that differs (``return``). Defaults follow the upstream CRD (``syscall: true``, arg ``type: auto``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _key(name: str) -> dict[str, str]:
    return {"yaml": name}


@dataclass(frozen=True, slots=True)
class LabelSelectorRequirement:
    """One ``matchExpressions`` entry of a Kubernetes label selector."""

    key: str
    operator: str
    values: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes label selector (podSelector, containerSelector, hostSelector, nodeSelector)."""

    match_labels: dict[str, str] = field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class KProbeArg:
    """One traced argument (``args[]``, ``data[]``, ``returnArg``)."""

    index: int = 0
    type: str = "auto"
    resolve: str = ""
    size_arg_index: int = 0
    return_copy: bool = False
    max_data: bool = False
    label: str = ""
    source: str = ""
    btf_type: str = ""
    btf_type_module: str = ""


@dataclass(frozen=True, slots=True)
class ArgSelector:
    """``matchArgs`` / ``matchData`` / ``matchReturnArgs`` entry."""

    operator: str
    index: int = 0
    args: list[int] = field(default_factory=list)
    values: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PIDSelector:
    """``matchPIDs`` entry."""

    operator: str
    values: list[int]
    is_namespace_pid: bool = field(default=False, metadata=_key("isNamespacePID"))
    follow_forks: bool = False


@dataclass(frozen=True, slots=True)
class NamespaceSelector:
    """``matchNamespaces`` entry."""

    namespace: str
    operator: str
    values: list[str]


@dataclass(frozen=True, slots=True)
class NamespaceChangesSelector:
    """``matchNamespaceChanges`` entry."""

    operator: str
    values: list[str]


@dataclass(frozen=True, slots=True)
class CapabilitiesSelector:
    """``matchCapabilities`` / ``matchCapabilityChanges`` entry."""

    operator: str
    values: list[str]
    type: str = "Effective"
    is_namespace_capability: bool = False


@dataclass(frozen=True, slots=True)
class BinarySelector:
    """``matchBinaries`` / ``matchParentBinaries`` entry."""

    operator: str
    values: list[str]
    follow_children: bool = False


@dataclass(frozen=True, slots=True)
class ActionSelector:
    """``matchActions`` / ``matchReturnActions`` entry."""

    action: str
    arg_url: str = ""
    arg_fqdn: str = ""
    arg_error: int = 0
    arg_sig: int = 0
    arg_sock: int = 0
    rate_limit: str = ""
    rate_limit_scope: str = ""
    kernel_stack_trace: bool = False
    user_stack_trace: bool = False
    ima_hash: bool = False
    arg_regs: list[str] = field(default_factory=list)
    arg_new_symbol: str = ""
    arg_new_addr: int = 0
    arg_new_offset: int = 0
    arg_index: int = 0
    arg_value: int = 0


@dataclass(frozen=True, slots=True)
class WorkloadSelector:
    """``matchWorkloads`` of a selector."""

    pod_selector: LabelSelector | None = None
    container_selector: LabelSelector | None = None
    host_selector: LabelSelector | None = None


@dataclass(frozen=True, slots=True)
class KProbeSelector:
    """One entry of ``selectors[]`` (also the value type of ``selectorsMacros``)."""

    label: str = ""
    match_pids: list[PIDSelector] = field(default_factory=list, metadata=_key("matchPIDs"))
    match_args: list[ArgSelector] = field(default_factory=list)
    match_data: list[ArgSelector] = field(default_factory=list)
    match_actions: list[ActionSelector] = field(default_factory=list)
    match_return_args: list[ArgSelector] = field(default_factory=list)
    match_return_actions: list[ActionSelector] = field(default_factory=list)
    match_binaries: list[BinarySelector] = field(default_factory=list)
    match_parent_binaries: list[BinarySelector] = field(default_factory=list)
    match_namespaces: list[NamespaceSelector] = field(default_factory=list)
    match_namespace_changes: list[NamespaceChangesSelector] = field(default_factory=list)
    match_capabilities: list[CapabilitiesSelector] = field(default_factory=list)
    match_capability_changes: list[CapabilitiesSelector] = field(default_factory=list)
    match_workloads: WorkloadSelector | None = None
    macros: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class KProbeIgnore:
    """``ignore`` of a kprobe."""

    call_not_found: bool = False


@dataclass(frozen=True, slots=True)
class UProbeIgnore:
    """``ignore`` of a uprobe."""

    digest_verification_failure: bool = False


@dataclass(frozen=True, slots=True)
class KProbeSpec:
    """A kprobe (``kprobes[]``) or fentry (``fentries[]``) hook."""

    call: str
    return_: bool = field(default=False, metadata=_key("return"))
    syscall: bool = True
    message: str = ""
    args: list[KProbeArg] = field(default_factory=list)
    data: list[KProbeArg] = field(default_factory=list)
    return_arg: KProbeArg | None = None
    return_arg_action: str = ""
    selectors: list[KProbeSelector] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    ignore: KProbeIgnore | None = None


@dataclass(frozen=True, slots=True)
class TracepointSpec:
    """A tracepoint (``tracepoints[]``) hook; ``raw`` selects a raw tracepoint."""

    subsystem: str
    event: str
    message: str = ""
    args: list[KProbeArg] = field(default_factory=list)
    selectors: list[KProbeSelector] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    raw: bool = False


@dataclass(frozen=True, slots=True)
class UProbeSpec:
    """A uprobe (``uprobes[]``) hook."""

    path: str
    btf_path: str = ""
    symbols: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    addrs: list[int] = field(default_factory=list)
    ref_ctr_offsets: list[int] = field(default_factory=list)
    message: str = ""
    selectors: list[KProbeSelector] = field(default_factory=list)
    args: list[KProbeArg] = field(default_factory=list)
    data: list[KProbeArg] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    return_: bool = field(default=False, metadata=_key("return"))
    return_arg: KProbeArg | None = None
    binary_digests: list[str] = field(default_factory=list)
    ignore: UProbeIgnore | None = None


@dataclass(frozen=True, slots=True)
class UsdtSpec:
    """A USDT (``usdts[]``) hook."""

    path: str
    provider: str
    name: str
    btf_path: str = ""
    tags: list[str] = field(default_factory=list)
    message: str = ""
    args: list[KProbeArg] = field(default_factory=list)
    selectors: list[KProbeSelector] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LsmHookSpec:
    """An LSM (``lsmhooks[]``) hook."""

    hook: str
    message: str = ""
    args: list[KProbeArg] = field(default_factory=list)
    selectors: list[KProbeSelector] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ListSpec:
    """A named list (``lists[]``), referenced as ``list:NAME``."""

    name: str
    values: list[str] = field(default_factory=list)
    type: str = ""
    pattern: str = ""
    validated: bool = False


@dataclass(frozen=True, slots=True)
class EnforcerSpec:
    """An enforcer (``enforcers[]``)."""

    calls: list[str]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """A policy option (``options[]``)."""

    name: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class TracingPolicySpec:
    """``spec`` of a TracingPolicy."""

    kprobes: list[KProbeSpec] = field(default_factory=list)
    tracepoints: list[TracepointSpec] = field(default_factory=list)
    loader: bool = False
    uprobes: list[UProbeSpec] = field(default_factory=list)
    lsmhooks: list[LsmHookSpec] = field(default_factory=list)
    usdts: list[UsdtSpec] = field(default_factory=list)
    fentries: list[KProbeSpec] = field(default_factory=list)
    pod_selector: LabelSelector | None = None
    container_selector: LabelSelector | None = None
    host_selector: LabelSelector | None = None
    node_selector: LabelSelector | None = None
    lists: list[ListSpec] = field(default_factory=list)
    enforcers: list[EnforcerSpec] = field(default_factory=list)
    options: list[OptionSpec] = field(default_factory=list)
    selectors_macros: dict[str, KProbeSelector] = field(default_factory=dict)
    #: sections that installed sensor plugins claim (``tetragon.policy_sections``), as raw YAML;
    #: the claiming sensor validates and loads them
    plugin_sections: dict[str, Any] = field(default_factory=dict, metadata=_key("*"))


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """``metadata``: name and namespace are used; other ObjectMeta keys are kept in ``extra``."""

    name: str
    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, metadata=_key("*"))


@dataclass(frozen=True, slots=True)
class TracingPolicy:
    """A parsed TracingPolicy or TracingPolicyNamespaced (``kind`` tells which)."""

    api_version: str
    kind: str
    metadata: ObjectMeta
    spec: TracingPolicySpec = field(default_factory=TracingPolicySpec)

    @property
    def name(self) -> str:
        """``metadata.name``."""
        return self.metadata.name

    @property
    def namespace(self) -> str:
        """``metadata.namespace`` (empty for cluster-wide policies)."""
        return self.metadata.namespace

    @property
    def namespaced(self) -> bool:
        """True for kind TracingPolicyNamespaced."""
        return self.kind == "TracingPolicyNamespaced"

    def option(self, name: str) -> str | None:
        """Value of ``spec.options[name]``, or None when unset."""
        for opt in self.spec.options:
            if opt.name == name:
                return opt.value
        return None
