"""The pod watcher (lightkube) against the test API server (tests/k8sapi): list, watch, bookmarks,
410 Gone and relist, failures counted and backed off, and the pod info it gives processes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.k8sapi.server import ApiServer, eventually, serving
from tetragon_core.exceptions import ConfigError
from tetragon_core.k8s import PodStore, PodWatcher, kube_config, make_client
from tetragon_core.metrics import Registry

NODE = "node-a"
CID = "containerd://" + "ab12" * 16


def pod(name: str, node: str = NODE, ns: str = "default", cid: str = "", **meta: Any) -> dict[str, Any]:
    statuses = []
    if cid:
        statuses.append(
            {
                "name": "main",
                "containerID": cid,
                "image": "docker.io/library/busybox:latest",
                "imageID": "docker.io/library/busybox@sha256:" + "0" * 64,
                "state": {"running": {"startedAt": "2026-12-04T10:00:00Z"}},
            }
        )
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}, **meta},
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}},
                }
            ],
        },
        "status": {"phase": "Running", "containerStatuses": statuses},
    }


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with serving(bookmark_interval=0.2) as server:
        yield server


def run_watcher(
    api: ApiServer, tmp_path: Path, body: Callable[[PodWatcher, Registry], Awaitable[None]], **kw: Any
) -> None:
    async def main() -> None:
        registry = Registry()
        client = make_client(kube_config(str(api.kubeconfig(tmp_path / "kubeconfig"))))
        watcher = PodWatcher(client, NODE, PodStore(), registry, backoff=(0.05, 0.2), **kw)
        started = asyncio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher.run, started.set)
            await started.wait()
            await body(watcher, registry)
            tg.cancel_scope.cancel()
        await client.close()

    asyncio.run(main())


def test_list_then_watch_keeps_the_nodes_pods(api: ApiServer, tmp_path: Path) -> None:
    api.put(pod("a", cid=CID))
    api.put(pod("b"))
    api.put(pod("elsewhere", node="node-b"))

    async def body(w: PodWatcher, reg: Registry) -> None:
        assert sorted(p.metadata.name for p in w.store.pods()) == ["a", "b"]
        api.put(pod("c"))
        await eventually(lambda: len(w.store) == 3, "the added pod")
        api.delete("Pod", "a", "default")
        await eventually(lambda: len(w.store) == 2, "the deleted pod")
        # a late event of the deleted pod's container still finds it, from the deleted pod cache
        found = w.store.pod(CID.removeprefix("containerd://")[:31])
        assert found is not None and found.name == "a"
        assert reg["tetragon_watcher_delete_pod_cache_hits"].get() == 1
        assert reg["tetragon_watcher_events_total"].get("k8s") == 2
        api.put(pod("other-node-pod", node="node-b"))
        await anyio.sleep(0.3)
        assert len(w.store) == 2, "a pod of another node reached the store"

    run_watcher(api, tmp_path, body)
    pods = [q for m, p, q in api.requests if p == "/api/v1/pods"]
    assert "fieldSelector=spec.nodeName%3Dnode-a" in pods[0]
    watches = [q for q in pods if "watch=true" in q]
    assert watches and "allowWatchBookmarks=true" in watches[0]


def test_bookmarks_move_the_version_without_pod_events(api: ApiServer, tmp_path: Path) -> None:
    api.put(pod("a"))

    async def body(w: PodWatcher, reg: Registry) -> None:
        listed = int(w.resource_version)
        api.put(pod("x", node="node-b"))  # moves the server's version, no event for this node
        await eventually(lambda: int(w.resource_version) > listed, "a bookmark")
        assert reg["tetragon_watcher_events_total"].get("k8s") == 0

    run_watcher(api, tmp_path, body)


def test_410_gone_relists_and_misses_nothing(api: ApiServer, tmp_path: Path) -> None:
    api.put(pod("a"))

    async def body(w: PodWatcher, reg: Registry) -> None:
        # history past the watch's version compacted away: the open watch gets an ERROR 410
        api.put(pod("x", node="node-b"))
        api.compact()
        api.put(pod("b"))
        await eventually(lambda: w.lists >= 2, "the relist")
        await eventually(lambda: len(w.store) == 2, "the pod added across the relist")
        assert reg["tetragon_watcher_errors_total"].get("k8s", "resource_expired") >= 1

    # bookmarks would move the version past the compaction: without them the 410 is certain
    api.bookmark_interval = 3600
    run_watcher(api, tmp_path, body)


def test_failures_are_counted_and_retried(api: ApiServer, tmp_path: Path) -> None:
    api.put(pod("a"))
    api.fail_next = [("/api/v1/pods", 500), ("/api/v1/pods", 503)]

    async def body(w: PodWatcher, reg: Registry) -> None:
        # started after the first failure: the agent does not wait for the API server
        await eventually(lambda: len(w.store) == 1, "the list after two failures")
        assert reg["tetragon_watcher_errors_total"].get("k8s", "list_failed") == 2
        api.fail_next = [("/api/v1/pods", 500)]
        api.put(pod("x", node="node-b"))
        api.compact()  # the watch ends with 410; the relist fails once, then succeeds
        api.put(pod("b"))
        await eventually(lambda: len(w.store) == 2, "recovery")
        assert reg["tetragon_watcher_errors_total"].get("k8s", "list_failed") == 3

    api.bookmark_interval = 3600
    run_watcher(api, tmp_path, body)


def test_pod_info_of_a_process(api: ApiServer, tmp_path: Path) -> None:
    owner = {"kind": "ReplicaSet", "name": "web-5d8f7c9b4", "controller": True, "apiVersion": "apps/v1"}
    p = pod("web-5d8f7c9b4-x2x9q", ns="shop", cid=CID, generateName="web-5d8f7c9b4-", ownerReferences=[owner])
    p["metadata"]["labels"] = {"app": "web", "pod-template-hash": "5d8f7c9b4"}
    api.put(p)

    async def body(w: PodWatcher, reg: Registry) -> None:
        docker = CID.removeprefix("containerd://")[:31]
        got = w.store.pod(docker, nspid=7, binary="/bin/cat", arguments="/tmp/healthy")
        assert got is not None
        assert (got.namespace, got.name, got.workload, got.workload_kind) == (
            "shop",
            "web-5d8f7c9b4-x2x9q",
            "web",
            "Deployment",
        )
        assert got.pod_labels == {"app": "web", "pod-template-hash": "5d8f7c9b4"}
        c = got.container
        assert c is not None and c.id == CID and c.name == "main" and c.pid == 7
        assert c.image is not None and c.image.name == "docker.io/library/busybox:latest"
        assert c.image.id.startswith("docker.io/library/busybox@sha256:")
        assert c.start_time == "2026-12-04T10:00:00Z"
        assert c.maybe_exec_probe is True
        other = w.store.pod(docker, binary="/bin/sh", arguments="-c true")
        assert other is not None and other.container is not None and not other.container.maybe_exec_probe
        assert w.store.pod("f" * 31) is None
        assert reg["tetragon_watcher_errors_total"].get("k8s", "failed_to_get_pod") == 1

    run_watcher(api, tmp_path, body)


def test_kubeconfig_errors_name_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--k8s-kubeconfig-path: relative is not an absolute path"):
        kube_config("relative")
    with pytest.raises(ConfigError, match=r"--k8s-kubeconfig-path: .* does not exist"):
        kube_config(str(tmp_path / "missing"))
    bad = tmp_path / "bad"
    bad.write_text("{not: [yaml")
    with pytest.raises(ConfigError, match="--k8s-kubeconfig-path: cannot use"):
        kube_config(str(bad))
