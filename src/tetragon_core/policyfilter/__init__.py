"""The policy filter (``--enable-policy-filter``): scoped policies act only on the processes of
the pods, containers and host they select, decided in the kernel by cgroup id.

``tetragon_core.policyfilter.sources`` makes its pods from the Kubernetes API's and the runtime's;
it is apart because it imports the Kubernetes client."""

from tetragon_core.policyfilter._cgroups import CgroupFinder, cgroup2_root
from tetragon_core.policyfilter._filter import (
    PODCGROUPS_ENTRIES,
    POLFILTER_ENTRIES,
    SUBSYS_PODS,
    SUBSYS_RTHOOKS,
    MapLike,
    PolicyFilter,
)
from tetragon_core.policyfilter._scope import (
    NAMESPACE_LABEL,
    PodContainer,
    PodView,
    Scope,
    scope_of,
    selector_matches,
)

__all__ = [
    "NAMESPACE_LABEL",
    "PODCGROUPS_ENTRIES",
    "POLFILTER_ENTRIES",
    "SUBSYS_PODS",
    "SUBSYS_RTHOOKS",
    "CgroupFinder",
    "MapLike",
    "PodContainer",
    "PodView",
    "PolicyFilter",
    "Scope",
    "cgroup2_root",
    "scope_of",
    "selector_matches",
]
