"""``--enable-tracing-policy-crd`` (with ``--enable-k8s-api``): TracingPolicy and
TracingPolicyNamespaced custom resources, listed and watched (the informer loop), loaded into the
policy registry (domain ``k8s``), reloaded when their ``metadata.generation`` changes, deleted with
the resource, and each one's state on this node written into its ``status`` (docs/kubernetes.md).

A resource is loaded from its ``spec`` exactly as a policy file would be, so every error names the
field; one that does not parse, or collides with a policy of the same name added otherwise, is
reported in its status and loaded nowhere. Loading blocks (BPF), so it runs in a worker thread.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import anyio
import httpx2
import msgspec
from lightkube import AsyncClient
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.types import PatchType

from tetragon_core.exceptions import TetragonError
from tetragon_core.k8s._client import list_objects, translate, watch_objects
from tetragon_core.k8s._informer import BACKOFF_MAX_S, BACKOFF_MIN_S, Informer, errors_metric
from tetragon_core.metrics import Registry
from tetragon_core.policy.registry import PolicyEntry, PolicyRegistry

__all__ = ["DOMAIN_K8S", "PolicyWatcher", "TracingPolicyNamespacedResource", "TracingPolicyResource"]

log = logging.getLogger(__name__)

DOMAIN_K8S: Final = "k8s"
ERR_STATUS: Final = "status_update_failed"

TracingPolicyResource: Any = create_global_resource(
    "cilium.io", "v1alpha1", "TracingPolicy", "tracingpolicies"
)
TracingPolicyNamespacedResource: Any = create_namespaced_resource(
    "cilium.io", "v1alpha1", "TracingPolicyNamespaced", "tracingpoliciesnamespaced"
)


class _Meta(msgspec.Struct, frozen=True):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    resourceVersion: str = ""


class CrPolicy(msgspec.Struct, frozen=True):
    """A TracingPolicy(Namespaced) resource as the API returns it (status not read)."""

    apiVersion: str = ""
    kind: str = ""
    metadata: _Meta = _Meta()
    spec: dict[str, Any] = {}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PolicyWatcher(Informer[CrPolicy]):
    """Keeps the registry's ``k8s`` policies of one kind equal to the cluster's resources."""

    def __init__(
        self,
        client: AsyncClient,
        node: str,
        policies: PolicyRegistry,
        registry: Registry,
        namespaced: bool,
        backoff: tuple[float, float] = (BACKOFF_MIN_S, BACKOFF_MAX_S),
    ) -> None:
        self.client = client
        self.node = node
        self.policies = policies
        self.namespaced = namespaced
        self.res = TracingPolicyNamespacedResource if namespaced else TracingPolicyResource
        self.kind = "TracingPolicyNamespaced" if namespaced else "TracingPolicy"
        #: (namespace, name) → the generation loaded (or refused) last
        self.loaded: dict[tuple[str, str], int] = {}
        self._status_errors = errors_metric(registry)
        super().__init__(
            self.kind,
            "k8s",
            lambda: list_objects(client, self.res, CrPolicy, what=self.res.__name__),
            lambda rv: watch_objects(client, self.res, CrPolicy, rv, what=self.res.__name__),
            lambda obj: obj.metadata.resourceVersion,
            self._listed,
            self._event,
            registry,
            backoff,
        )

    @staticmethod
    def _key(obj: CrPolicy) -> tuple[str, str]:
        return (obj.metadata.namespace, obj.metadata.name)

    def _mine(self, key: tuple[str, str]) -> bool:
        try:
            entry = self.policies.get(key[1], key[0])
        except TetragonError:
            return False
        return entry.domain == DOMAIN_K8S

    async def _listed(self, objects: Sequence[CrPolicy]) -> None:
        want = {self._key(o): o for o in objects}
        for key in [k for k in self.loaded if k not in want]:
            await self._delete(key)
        for obj in want.values():
            await self._apply(obj)

    async def _event(self, kind: str, obj: CrPolicy) -> None:
        if kind == "DELETED":
            await self._delete(self._key(obj))
        else:
            await self._apply(obj)

    async def _delete(self, key: tuple[str, str]) -> None:
        self.loaded.pop(key, None)
        if self._mine(key):
            await anyio.to_thread.run_sync(self.policies.delete, key[1], key[0])
            log.info("tracing policy %s/%s deleted with its resource", key[0] or "-", key[1])

    async def _apply(self, obj: CrPolicy) -> None:
        key = self._key(obj)
        if self.loaded.get(key) == obj.metadata.generation:
            return  # a status or metadata change: the spec is what is loaded
        if key in self.loaded and self._mine(key):
            await anyio.to_thread.run_sync(self.policies.delete, key[1], key[0])
        self.loaded[key] = obj.metadata.generation
        doc: dict[str, Any] = {
            "apiVersion": obj.apiVersion or "cilium.io/v1alpha1",
            "kind": self.kind,
            "metadata": {"name": obj.metadata.name},
            "spec": obj.spec,
        }
        if self.namespaced:
            doc["metadata"]["namespace"] = obj.metadata.namespace
        status: dict[str, Any]
        try:
            entry = await anyio.to_thread.run_sync(self.policies.add, json.dumps(doc), DOMAIN_K8S)
            status = self._status_of(entry, obj.metadata.generation)
        except TetragonError as e:  # a malformed spec, or a name taken by a gRPC/file policy
            log.warning("tracing policy %s: %s", obj.metadata.name, e)
            status = {
                "state": "load_error",
                "error": str(e),
                "observedGeneration": obj.metadata.generation,
                "lastTransitionTime": _now(),
            }
        await self._write_status(obj, status)

    @staticmethod
    def _status_of(entry: PolicyEntry, generation: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "state": entry.state,
            "mode": entry.mode,
            "observedGeneration": generation,
            "sensors": list(dict.fromkeys(entry.sensors)),
            "kernelMemoryBytes": sum(h.kernel_memory() for h in entry.handles),
            "lastTransitionTime": _now(),
        }
        if entry.error:
            out["error"] = entry.error
        return out

    async def _write_status(self, obj: CrPolicy, node_status: dict[str, Any]) -> None:
        """Merge this node's entry into the resource's status (other nodes' entries stay)."""
        body = {"status": {"nodes": {self.node: node_status}}}
        try:
            if self.namespaced:
                await self.client.patch(
                    self.res.Status,
                    obj.metadata.name,
                    body,
                    namespace=obj.metadata.namespace,
                    patch_type=PatchType.MERGE,
                )
            else:
                await self.client.patch(self.res.Status, obj.metadata.name, body, patch_type=PatchType.MERGE)
        except (httpx2.HTTPError, OSError) as e:
            self._status_errors.inc("k8s", ERR_STATUS)
            log.warning("%s", translate(e, f"status of {self.kind} {obj.metadata.name}"))
