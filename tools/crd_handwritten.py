"""The CRD schemas written by hand (tools/gen_crds.py derives the policy ``spec`` from the model):
the policy ``status`` the agents write, and PodInfo, which the operator writes."""

from __future__ import annotations

from typing import Any

from tetragon_core.api.tetragon import sensors_pb2


def _enum(values: list[str]) -> dict[str, Any]:
    return {"enum": values}


def _state_names(enum: Any, prefix: str) -> list[str]:
    return [name.removeprefix(prefix).lower() for name in enum.keys()]


def policy_status_schema() -> dict[str, Any]:
    """``status`` of TracingPolicy / TracingPolicyNamespaced, written by the agents."""
    node = {
        "type": "object",
        "description": "The policy on one node, as that node's agent last saw it.",
        "required": ["state"],
        "properties": {
            "state": {
                "type": "string",
                "description": "The policy's state on the node, as `tetra tracingpolicy list` shows it.",
                **_enum(_state_names(sensors_pb2.TracingPolicyState, "TP_STATE_")),
            },
            "error": {
                "type": "string",
                "description": "Why the policy failed (state load_error or error); empty otherwise.",
            },
            "mode": {
                "type": "string",
                "description": "Enforcement mode on the node.",
                **_enum(_state_names(sensors_pb2.TracingPolicyMode, "TP_MODE_")),
            },
            "observedGeneration": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "The metadata.generation this state is for.",
            },
            "sensors": {
                "type": "array",
                "description": "The sensors the policy loaded.",
                "items": {"type": "string"},
            },
            "kernelMemoryBytes": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "description": "Kernel memory (BPF maps and programs) the policy holds on the node.",
            },
            "lastTransitionTime": {
                "type": "string",
                "format": "date-time",
                "description": "When state last changed (RFC 3339).",
            },
        },
    }
    return {
        "type": "object",
        "description": "Per-node state of the policy, written by the agents.",
        "properties": {
            "nodes": {
                "type": "object",
                "description": "Keyed by node name. Each agent writes only its own entry (a JSON merge "
                "patch of the status subresource), and removes it (null) when it unloads the policy.",
                "additionalProperties": node,
            }
        },
    }


def pod_info_schema() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """PodInfo's schema and printer columns: pod facts the operator publishes (upstream's shape)."""
    object_ref = {
        "type": "object",
        "description": "The workload object that created the pod.",
        "properties": {
            "name": {"type": "string", "description": "Name of the object."},
            "namespace": {"type": "string", "description": "Namespace of the object."},
        },
    }
    type_meta = {
        "type": "object",
        "description": 'The workload type (e.g. "Deployment", "DaemonSet") that created the pod.',
        "properties": {
            "apiVersion": {"type": "string", "description": "API version of the workload type."},
            "kind": {"type": "string", "description": "Kind of the workload type."},
        },
    }
    spec = {
        "type": "object",
        "properties": {
            "hostNetwork": {"type": "boolean", "description": "The pod uses the host's network namespace."},
            "nodeName": {"type": "string", "description": "The node the pod is scheduled on."},
        },
    }
    status = {
        "type": "object",
        "properties": {
            "podIP": {"type": "string", "description": "The pod's IP address; empty if not yet allocated."},
            "podIPs": {
                "type": "array",
                "description": "The pod's IP addresses; the first is podIP.",
                "items": {
                    "type": "object",
                    "properties": {"IP": {"type": "string", "description": "An IPv4 or IPv6 address."}},
                },
            },
        },
    }
    root = {
        "type": "object",
        "description": "PodInfo: pod facts (IPs, node, workload) for the agents.",
        "properties": {
            "apiVersion": {"type": "string", "description": "cilium.io/v1alpha1"},
            "kind": {"type": "string", "description": "PodInfo"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
            "workloadObject": object_ref,
            "workloadType": type_meta,
        },
    }
    columns = [
        {"name": "Node", "type": "string", "jsonPath": ".spec.nodeName"},
        {"name": "IP", "type": "string", "jsonPath": ".status.podIP"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return root, columns
