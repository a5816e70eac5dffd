"""tetragon-core's operator (``tetragon-operator serve``): the CRDs created or updated at start,
and a PodInfo resource kept for every pod (``--enable-pod-info``)."""

from tetragon_core.operator._config import OperatorConfig, parse_operator_args
from tetragon_core.operator._crds import (
    PODINFO_CRD,
    SCHEMA_VERSION_LABEL,
    TRACING_POLICY_CRDS,
    ensure_crds,
    packaged_crds,
    wait_established,
)
from tetragon_core.operator._main import crds_to_create, main, serve
from tetragon_core.operator._podinfo import PodFacts, PodInfoController, PodInfoResource, pod_info_of

__all__ = [
    "PODINFO_CRD",
    "SCHEMA_VERSION_LABEL",
    "TRACING_POLICY_CRDS",
    "OperatorConfig",
    "PodFacts",
    "PodInfoController",
    "PodInfoResource",
    "crds_to_create",
    "ensure_crds",
    "main",
    "packaged_crds",
    "parse_operator_args",
    "pod_info_of",
    "serve",
    "wait_established",
]
