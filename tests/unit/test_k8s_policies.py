"""TracingPolicy resources (--enable-tracing-policy-crd) against the test API server: loaded into
the registry, reloaded on a new generation only, refused with the field in the status, deleted
with the resource, reconciled after a 410 relist; the status is this node's entry only."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.k8sapi.server import ApiServer, eventually, serving
from tetragon_core.k8s import PolicyWatcher, kube_config, make_client
from tetragon_core.metrics import Registry
from tetragon_core.policy.registry import PolicyEntry, PolicyRegistry

NODE = "node-a"


def tp(name: str, path: str = "/etc/shadow", kind: str = "TracingPolicy", ns: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {
        "kind": kind,
        "metadata": meta,
        "spec": {
            "tracepoints": [
                {
                    "subsystem": "syscalls",
                    "event": "sys_enter_openat",
                    "args": [{"index": 6, "type": "string"}],
                    "selectors": [{"matchArgs": [{"index": 6, "operator": "Prefix", "values": [path]}]}],
                }
            ]
        },
    }


class Handle:
    def enable(self) -> None: ...
    def disable(self) -> None: ...
    def set_mode(self, mode: str) -> None: ...
    def unload(self) -> None: ...
    def kernel_memory(self) -> int:
        return 4096

    def stats(self) -> dict[str, int]:
        return {}


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with serving(bookmark_interval=3600) as server:
        yield server


def run(
    api: ApiServer,
    tmp_path: Path,
    body: Callable[[PolicyRegistry, list[str]], Awaitable[None]],
    before: Callable[[PolicyRegistry], None] = lambda r: None,
) -> None:
    loads: list[str] = []

    def loader(entry: PolicyEntry) -> list[Any]:
        loads.append(f"{entry.policy.namespace}/{entry.policy.name}")
        return [Handle()]

    policies = PolicyRegistry(lambda: {"generic_tracepoint"}, loader)
    before(policies)

    async def main() -> None:
        client = make_client(kube_config(str(api.kubeconfig(tmp_path / "kubeconfig"))))
        reg = Registry()
        watchers = [
            PolicyWatcher(client, NODE, policies, reg, ns, backoff=(0.05, 0.2)) for ns in (False, True)
        ]
        async with anyio.create_task_group() as tg:
            for w in watchers:
                started = asyncio.Event()
                tg.start_soon(w.run, started.set)
                await started.wait()
            await body(policies, loads)
            tg.cancel_scope.cancel()
        await client.close()

    asyncio.run(main())


def node_status(api: ApiServer, kind: str, name: str, ns: str = "") -> dict[str, Any]:
    obj = api.get(kind, name, ns) or {}
    return dict(obj.get("status", {}).get("nodes", {}).get(NODE, {}))


def test_resources_load_reload_and_delete(api: ApiServer, tmp_path: Path) -> None:
    api.put(tp("listed"))
    other = api.put(tp("listed2"))
    # another node's entry, which this agent must keep
    api.put({**other, "status": {"nodes": {"node-b": {"state": "enabled"}}}})

    async def body(policies: PolicyRegistry, loads: list[str]) -> None:
        assert sorted(loads) == ["/listed", "/listed2"]
        entry = policies.get("listed")
        assert entry.domain == "k8s" and entry.state == "enabled"
        await eventually(
            lambda: node_status(api, "TracingPolicy", "listed").get("state") == "enabled", "status"
        )
        st = node_status(api, "TracingPolicy", "listed")
        assert st["mode"] == "enforce" and st["observedGeneration"] == 1
        assert st["sensors"] == ["generic_tracepoint"] and st["kernelMemoryBytes"] == 4096
        await eventually(lambda: bool(node_status(api, "TracingPolicy", "listed2")), "the second status")
        assert set((api.get("TracingPolicy", "listed2") or {})["status"]["nodes"]) == {"node-a", "node-b"}

        # a new spec is a new generation: reloaded; the status write after it is not
        api.put(tp("listed", path="/etc/gshadow"))
        await eventually(lambda: loads.count("/listed") == 2, "the reload")
        await eventually(
            lambda: node_status(api, "TracingPolicy", "listed").get("observedGeneration") == 2, "generation 2"
        )
        await anyio.sleep(0.3)
        assert loads.count("/listed") == 2

        # a namespaced one: registered, but without the policy filter refused, as from any source
        api.put(tp("ns-one", kind="TracingPolicyNamespaced", ns="team-a"))
        ns_status = lambda: node_status(api, "TracingPolicyNamespaced", "ns-one", "team-a")  # noqa: E731
        await eventually(lambda: ns_status().get("state") == "load_error", "the namespaced policy's status")
        assert ns_status()["error"].startswith("metadata.namespace: ")
        assert policies.get("ns-one", "team-a").policy.namespaced and "team-a/ns-one" not in loads

        api.delete("TracingPolicy", "listed")
        await eventually(lambda: ("", "listed") not in {e.key for e in policies.list()}, "the deletion")

    run(api, tmp_path, body)


def test_bad_specs_and_name_clashes_are_reported_in_the_status(api: ApiServer, tmp_path: Path) -> None:
    bad = tp("bad")
    bad["spec"]["tracepoints"][0]["selectors"][0]["matchArgs"][0]["operator"] = "Sounds"

    async def body(policies: PolicyRegistry, loads: list[str]) -> None:
        await eventually(
            lambda: node_status(api, "TracingPolicy", "bad").get("state") == "load_error", "status"
        )
        st = node_status(api, "TracingPolicy", "bad")
        assert "matchArgs[0].operator" in st["error"] and "Sounds" in st["error"]
        await eventually(
            lambda: node_status(api, "TracingPolicy", "taken").get("state") == "load_error", "clash"
        )
        assert "already exists" in node_status(api, "TracingPolicy", "taken")["error"]
        assert policies.get("taken").domain == "grpc"  # the gRPC one stays
        assert loads == ["/taken"]  # only the gRPC policy's load

    api.put(bad)
    api.put(tp("taken"))

    def add_grpc(policies: PolicyRegistry) -> None:
        import yaml

        doc = tp("taken")
        doc["apiVersion"] = "cilium.io/v1alpha1"
        policies.add(yaml.safe_dump(doc))

    run(api, tmp_path, body, before=add_grpc)


def test_a_relist_after_410_reconciles(api: ApiServer, tmp_path: Path) -> None:
    api.put(tp("keep"))
    api.put(tp("gone"))

    async def body(policies: PolicyRegistry, loads: list[str]) -> None:
        assert {e.policy.name for e in policies.list()} == {"keep", "gone"}
        # the history is compacted (the open watch gets 410 and relists): whether the deletion
        # comes as an event or only through the relist, the registry follows
        api.put({"kind": "Pod", "metadata": {"name": "x"}, "spec": {"nodeName": "elsewhere"}})
        api.compact()
        api.delete("TracingPolicy", "gone")
        api.compact()
        await eventually(lambda: {e.policy.name for e in policies.list()} == {"keep"}, "the reconcile")

    run(api, tmp_path, body)
