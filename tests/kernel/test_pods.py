"""Pods on the real kernel: containers made by a real containerd through its CRI (as kubelet makes
them: pod cgroups under ``/kubepods/besteffort/pod<uid>``), the pods as the test API server
(tests/k8sapi) reports them, and the agent with ``--enable-k8s-api``, ``--enable-cri`` and
``--enable-policy-filter``.

A namespaced Sigkill policy kills ``cat`` in the pod of its namespace, in a pod of that namespace
created after the agent started, and spares the same ``cat`` in another namespace's pod and on
the host; a podSelector policy does the same from the runtime's pods alone (``--enable-cri``).
Every exec of a pod's process carries the pod, as upstream fills it.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.k8sapi.server import ApiServer
from tests.kernel.conftest import RunningAgent, execs, exits, free_port
from tests.kernel.flagtools import _wait
from tests.kernel.runtimes import Containerd, CriPods, busybox_rootfs
from tests.kernel.test_tracepoint_policies import Tetra, openat_policy
from tests.promtext import families

IMAGE = "docker.io/library/tg-busybox:latest"
HASH = "5d8f7c9b4"


@dataclass
class Cluster:
    containerd: Containerd
    api: ApiServer
    pods: CriPods
    tmp: Path

    def run(self, coro: Any) -> Any:
        return asyncio.run(asyncio.wait_for(coro, 240))

    def pod(self, name: str, namespace: str, labels: dict[str, str], *, publish: bool = True) -> str:
        """A running pod with one container ``main`` (sleeping); returns the container id. With
        ``publish`` the API server gets the pod as kubelet would report it."""
        uid = str(uuid.uuid4())

        async def make() -> tuple[str, Any]:
            sandbox, config = await self.pods.run_pod(name, namespace, uid, labels)
            cid = await self.pods.create_container(
                sandbox,
                config,
                "main",
                IMAGE,
                ["/bin/sleep", "600"],
                {"io.kubernetes.container.name": "main"},
            )
            await self.pods.start_container(cid)
            status, _ = await self.pods.status(cid)
            return cid, status

        cid, status = self.run(make())
        if publish:
            self.api.put(api_pod(name, namespace, uid, labels, cid, status.image_ref))
        return str(cid)

    def exec(self, cid: str, *argv: str) -> int:
        """Run ``argv`` in the container (``ctr task exec``, which joins its cgroup); its exit code
        (137: killed by SIGKILL)."""
        r = subprocess.run(
            [
                "ctr",
                "--address",
                str(self.containerd.socket),
                "-n",
                "k8s.io",
                "task",
                "exec",
                "--exec-id",
                uuid.uuid4().hex[:12],
                cid,
                *argv,
            ],
            capture_output=True,
            timeout=60,
        )
        return r.returncode


def api_pod(
    name: str, namespace: str, uid: str, labels: dict[str, str], cid: str, image_ref: str
) -> dict[str, Any]:
    """The pod as the API shows a Deployment's pod once kubelet reported its container running."""
    rs = f"{name}-{HASH}"
    return {
        "kind": "Pod",
        "metadata": {
            "name": f"{rs}-x2x9q",
            "generateName": f"{rs}-",
            "namespace": namespace,
            "uid": uid,
            "labels": {**labels, "pod-template-hash": HASH},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "controller": True}
            ],
        },
        "spec": {
            "nodeName": socket.gethostname(),
            "containers": [
                {
                    "name": "main",
                    "image": IMAGE,
                    "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}},
                }
            ],
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "main",
                    "containerID": f"containerd://{cid}",
                    "image": IMAGE,
                    "imageID": image_ref,
                    "state": {"running": {"startedAt": "2026-12-04T10:00:00Z"}},
                }
            ],
        },
    }


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    rootfs = busybox_rootfs(tmp_path / "image" / "rootfs")
    daemon = Containerd()
    api = ApiServer()
    pods = CriPods(daemon)
    try:
        daemon.import_images(rootfs, {IMAGE: ["/bin/sh"], Containerd.PAUSE: ["/bin/sleep", "86400"]})
        api.start()
        yield Cluster(daemon, api, pods, tmp_path)
    finally:
        failed = asyncio.run(pods.cleanup())
        pods.remove_cgroups()
        api.stop()
        daemon.stop()
    assert not failed, failed


_KILL = "      matchActions:\n      - action: Sigkill\n"


def _host_cat(path: str) -> int:
    return subprocess.run(["/bin/cat", path], capture_output=True, timeout=30).returncode


def _metric(mport: int, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
    fam = families(text).get(name)
    return {tuple(sorted(s.labels.items())): s.value for s in fam.samples} if fam else {}


def _cat_execs(agent: RunningAgent, token: str) -> list[dict[str, Any]]:
    """The cats run with ``token`` (not the ``ctr`` and ``runc`` that started them)."""
    return [
        e
        for e in execs(agent.events())
        if token in e["process"].get("arguments", "") and e["process"]["binary"].endswith("/cat")
    ]


def test_a_namespaced_sigkill_policy_acts_only_in_its_namespace(cluster: Cluster, start_agent) -> None:
    token = uuid.uuid4().hex[:10]
    forbidden = f"/tg-forbidden-{token}"
    a = cluster.pod("web-a", "team-a", {"app": "web"})
    b = cluster.pod("web-b", "team-b", {"app": "web"})
    policy = openat_policy("ns-kill", forbidden, actions=_KILL)
    policy = policy.replace("kind: TracingPolicy\n", "kind: TracingPolicyNamespaced\n")
    policy = policy.replace("  name: ns-kill\n", "  name: ns-kill\n  namespace: team-a\n")
    pfile = cluster.tmp / "ns-kill.yaml"
    pfile.write_text(policy)
    kubeconfig = cluster.api.kubeconfig(cluster.tmp / "kubeconfig")
    addr, mport = f"127.0.0.1:{free_port()}", free_port()
    agent = start_agent(
        "--enable-k8s-api",
        "--k8s-kubeconfig-path",
        str(kubeconfig),
        "--enable-policy-filter",
        "--tracing-policy",
        str(pfile),
        "--server-address",
        addr,
        "--metrics-server",
        f"127.0.0.1:{mport}",
    )
    listed = Tetra(addr).policies()["ns-kill"]
    assert listed["state"] == "TP_STATE_ENABLED", listed
    # the watcher listed this node's pods, and the filter's table holds both pods' containers
    ops = lambda: _metric(mport, "tetragon_policyfilter_operations_total")  # noqa: E731
    add = (("error", ""), ("operation", "add"), ("subsys", "pod-handlers"))
    _wait(lambda: ops().get(add, 0) >= 2, 30.0, "both pods in the policy filter")

    _wait(lambda: cluster.exec(a, "/bin/cat", forbidden) == 137, 15, "the kill in team-a's pod")
    assert cluster.exec(b, "/bin/cat", forbidden) == 1  # "no such file": it ran, unharmed
    assert _host_cat(forbidden) == 1

    # a pod of team-a made after the start: the watch brings it, and the policy acts there too
    c = cluster.pod("web-c", "team-a", {"app": "web"})
    _wait(lambda: cluster.exec(c, "/bin/cat", forbidden) == 137, 20, "the kill in the new team-a pod")
    assert cluster.exec(b, "/bin/cat", forbidden) == 1
    assert _host_cat(forbidden) == 1

    agent.wait_for(lambda evs: len(_cat_execs(agent, token)) >= 6, timeout=30)
    by_ns: dict[str, list[dict[str, Any]]] = {}
    for e in _cat_execs(agent, token):
        ns = e["process"].get("pod", {}).get("namespace", "")
        by_ns.setdefault(ns, []).append(e)
    assert len(by_ns.get("team-a", [])) >= 2 and len(by_ns.get("team-b", [])) == 2
    assert len(by_ns.get("", [])) == 2  # the host's two cats: no pod
    pod = by_ns["team-b"][0]["process"]["pod"]
    assert pod["name"] == f"web-b-{HASH}-x2x9q"
    assert (pod["workload"], pod["workload_kind"]) == ("web-b", "Deployment")
    assert pod["pod_labels"] == {"app": "web", "pod-template-hash": HASH}
    container = pod["container"]
    assert container["id"] == f"containerd://{b}" and container["name"] == "main"
    assert container["image"]["name"] == IMAGE and container["image"]["id"].startswith("sha256:")
    assert container["start_time"] == "2026-12-04T10:00:00Z"
    assert "maybe_exec_probe" not in container  # cat /tg-forbidden… is not the probe's command
    # the killed cats' exits say SIGKILL; team-b's exited on their own
    killed = {e["process"]["exec_id"] for e in by_ns["team-a"]}
    agent.wait_for(lambda evs: killed <= {x["process"]["exec_id"] for x in exits(evs)}, timeout=30)
    for x in exits(agent.events()):
        if x["process"]["exec_id"] in killed:
            assert x.get("signal") == "SIGKILL", x


def test_cri_pods_drive_a_pod_selector_policy(cluster: Cluster, start_agent) -> None:
    token = uuid.uuid4().hex[:10]
    forbidden = f"/tg-forbidden-{token}"
    # no API server this time: the pods come from the runtime alone
    db = cluster.pod("db", "shop", {"app": "db"}, publish=False)
    web = cluster.pod("web", "shop", {"app": "web"}, publish=False)
    policy = openat_policy("db-kill", forbidden, actions=_KILL)
    policy = policy.replace("spec:\n", "spec:\n  podSelector:\n    matchLabels: {app: db}\n", 1)
    pfile = cluster.tmp / "db-kill.yaml"
    pfile.write_text(policy)
    mport = free_port()
    agent = start_agent(
        "--enable-cri",
        "--cri-endpoint",
        cluster.containerd.endpoint,
        "--enable-policy-filter",
        "--tracing-policy",
        str(pfile),
        "--metrics-server",
        f"127.0.0.1:{mport}",
    )
    _wait(lambda: cluster.exec(db, "/bin/cat", forbidden) == 137, 20, "the kill in the db pod")
    assert cluster.exec(web, "/bin/cat", forbidden) == 1
    assert _host_cat(forbidden) == 1
    ops = _metric(mport, "tetragon_policyfilter_operations_total")
    assert ops.get((("error", ""), ("operation", "add-container"), ("subsys", "rthooks")), 0) >= 2, ops
    agent.wait_for(lambda evs: len(_cat_execs(agent, token)) >= 3, timeout=30)
    pods = {
        e["process"].get("pod", {}).get("name", ""): e["process"].get("pod") for e in _cat_execs(agent, token)
    }
    assert set(pods) >= {"db", "web", ""}
    assert pods["db"]["namespace"] == "shop"
    assert pods["db"]["container"]["id"] == f"containerd://{db}"
    assert pods["db"]["pod_labels"] == {"app": "db"}
