"""Flag cases (see flagcases.py) of pod identity (the Kubernetes API, the CRI, the policy filter)
and of the chart's gops diagnostics.
The whole of each (real containers killed or spared by scoped policies, pod info on events) is
tests/kernel/test_pods.py; here each flag's own effect."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import uuid
from collections.abc import Callable

import yaml

from tests.k8sapi.server import ApiServer
from tests.kernel.conftest import TETRAGON
from tests.kernel.flagtools import Flags, _wait
from tests.kernel.runtimes import Containerd, CriPods, busybox_rootfs
from tests.kernel.test_tracepoint_policies import openat_policy

_KILL = "      matchActions:\n      - action: Sigkill\n"
_IMAGE = "docker.io/library/tg-busybox:latest"


def _refused(args: list[str], message: str) -> None:
    r = subprocess.run([TETRAGON, *args, "--server-address", ""], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and message in r.stderr, r.stderr


def _k8s(f: Flags) -> None:
    api = ApiServer()
    api.start()
    try:
        kubeconfig = api.kubeconfig(f.tmp / "kubeconfig")
        f.start("--enable-k8s-api", "--k8s-kubeconfig-path", str(kubeconfig))
        node = socket.gethostname()
        pods = [q for m, p, q in api.requests if p == "/api/v1/pods"]
        assert pods and f"fieldSelector=spec.nodeName%3D{node}" in pods[0], api.requests
        _wait(lambda: any("watch=true" in q for _, _, q in api.requests), 20.0, "the watch")
        api.put({"kind": "Pod", "metadata": {"name": "p", "namespace": "x"}, "spec": {"nodeName": node}})
        _wait(
            lambda: any(v == 1 for _, v in f.metric("tetragon_watcher_events_total")), 20.0, "the pod's event"
        )
        assert f.metric("tetragon_watcher_events_total") == [({"watcher": "k8s"}, 1.0)]
    finally:
        api.stop()
    _refused(
        ["--k8s-kubeconfig-path", str(kubeconfig)], "--k8s-kubeconfig-path: set, but --enable-k8s-api is off"
    )
    _refused(
        ["--enable-k8s-api", "--k8s-kubeconfig-path", str(f.tmp / "none")],
        f"--k8s-kubeconfig-path: {f.tmp / 'none'} does not exist",
    )


def enable_k8s_api(f: Flags) -> None:
    _k8s(f)


def k8s_kubeconfig_path(f: Flags) -> None:
    _k8s(f)


def _cri(f: Flags) -> None:
    rootfs = busybox_rootfs(f.tmp / "image" / "rootfs")
    daemon = Containerd()
    pods = CriPods(daemon)
    try:
        daemon.import_images(rootfs, {_IMAGE: ["/bin/sh"], Containerd.PAUSE: ["/bin/sleep", "86400"]})
        f.start("--enable-cri", "--cri-endpoint", daemon.endpoint)

        async def make() -> None:
            sandbox, config = await pods.run_pod("p", "shop", str(uuid.uuid4()), {"app": "x"})
            cid = await pods.create_container(sandbox, config, "main", _IMAGE, ["/bin/sleep", "60"])
            await pods.start_container(cid)

        asyncio.run(asyncio.wait_for(make(), 240))
        _wait(
            lambda: any(v >= 1 for _, v in f.metric("tetragon_cri_containers_total")),
            20.0,
            "the container via CRI",
        )
        assert not [s for s in f.metric("tetragon_cri_errors_total") if s[1]], f.metric(
            "tetragon_cri_errors_total"
        )
    finally:
        asyncio.run(pods.cleanup())
        pods.remove_cgroups()
        daemon.stop()
    _refused(["--cri-endpoint", daemon.endpoint], "--cri-endpoint: set, but --enable-cri is off")
    _refused(["--enable-cri", "--cri-endpoint", "tcp://1.2.3.4:5"], "--cri-endpoint:")


def enable_cri(f: Flags) -> None:
    _cri(f)


def cri_endpoint(f: Flags) -> None:
    _cri(f)


def _scoped_policies(f: Flags) -> tuple[str, str]:
    """A namespaced Sigkill policy on one path, a hostSelector one on another; their paths."""
    token = uuid.uuid4().hex[:8]
    ns_path, host_path = f"/tg-ns-{token}", f"/tg-host-{token}"
    ns = openat_policy("ns-kill", ns_path, actions=_KILL).replace(
        "kind: TracingPolicy\nmetadata:\n  name: ns-kill\n",
        "kind: TracingPolicyNamespaced\nmetadata:\n  name: ns-kill\n  namespace: team-a\n",
    )
    host = openat_policy("host-kill", host_path, actions=_KILL).replace(
        "spec:\n", "spec:\n  hostSelector: {}\n", 1
    )
    d = f.tmp / "tp.d"
    d.mkdir()
    (d / "ns.yaml").write_text(ns)
    (d / "host.yaml").write_text(host)
    return ns_path, host_path


def _cat(path: str) -> int:
    return subprocess.run(["/bin/cat", path], capture_output=True, timeout=30).returncode


def enable_policy_filter(f: Flags) -> None:
    ns_path, host_path = _scoped_policies(f)
    f.start("--enable-policy-filter", "--tracing-policy-dir", str(f.tmp / "tp.d"))
    states = {
        p["name"]: p["state"] for p in json.loads(f.tetra("tp", "list", "-o", "json").stdout)["policies"]
    }
    assert states == {"ns-kill": "TP_STATE_ENABLED", "host-kill": "TP_STATE_ENABLED"}, states
    assert _cat(ns_path) == 1  # a host process: the namespaced policy does not act on it
    assert _cat(host_path) == -9  # hostSelector: {} does


def enable_policy_filter_debug(f: Flags) -> None:
    _scoped_policies(f)
    agent = f.start(
        "--enable-policy-filter", "--enable-policy-filter-debug", "--tracing-policy-dir", str(f.tmp / "tp.d")
    )
    log = agent.stderr.read_text()
    assert "policy filter: added policy" in log and "cgroup host" in log, log[-2000:]
    _refused(
        ["--enable-policy-filter-debug"],
        "--enable-policy-filter-debug: set, but --enable-policy-filter is off",
    )


def enable_tracing_policy_crd(f: Flags) -> None:
    token = uuid.uuid4().hex[:8]
    path = f"/tg-crd-{token}"
    doc = openat_policy("crd-kill", path, actions=_KILL)
    resource = yaml.safe_load(doc)
    api = ApiServer()
    api.start()
    try:
        api.put(resource)
        kubeconfig = api.kubeconfig(f.tmp / "kubeconfig")
        # the default (true): the resource is loaded, acts, and goes with its deletion
        first = f.start("--enable-k8s-api", "--k8s-kubeconfig-path", str(kubeconfig))
        listed = {p["name"]: p for p in json.loads(f.tetra("tp", "list", "-o", "json").stdout)["policies"]}
        assert listed["crd-kill"]["state"] == "TP_STATE_ENABLED", listed
        assert _cat(path) == -9
        status = (api.get("TracingPolicy", "crd-kill") or {})["status"]["nodes"][socket.gethostname()]
        assert status["state"] == "enabled" and status["observedGeneration"] == 1, status
        api.delete("TracingPolicy", "crd-kill")
        _wait(lambda: _cat(path) == 1, 20.0, "the policy's removal with its resource")
        assert "crd-kill" not in json.loads(f.tetra("tp", "list", "-o", "json").stdout).get("policies", [{}])[
            0
        ].get("name", "")
        # false: no policy resource is read
        assert first.stop() == 0
        api.put(resource)
        api.requests.clear()
        f.start(
            "--enable-k8s-api", "--k8s-kubeconfig-path", str(kubeconfig), "--enable-tracing-policy-crd=false"
        )
        assert not [r for r in api.requests if "tracingpolic" in r[1]], api.requests
        assert json.loads(f.tetra("tp", "list", "-o", "json").stdout).get("policies", []) == []
    finally:
        api.stop()


def gops_address(f: Flags) -> None:
    from tests.kernel.conftest import free_port
    from tests.kernel.test_chart_defaults import gops

    port = free_port()
    f.start("--gops-address", f"127.0.0.1:{port}")
    assert gops(port, 0x4).startswith(b"CPython 3.")
    stacks = gops(port, 0x1).decode()
    assert "thread " in stacks and "task " in stacks and "[pending]" in stacks, stacks[:2000]
    assert gops(port, 0x2) == b"ok"
    _refused(["--gops-address", "localhost"], "--gops-address: 'localhost' is not host:port")


def enable_pod_info(f: Flags) -> None:
    """The agent starts once the PodInfo CRD is Established (as upstream's agent waits for it);
    tetragon-operator creates the CRD and writes a PodInfo per pod."""
    import os
    import sys

    from tests.kernel.conftest import free_port
    from tests.kernel.flagtools import serving

    api = ApiServer()
    api.start()
    operator = None
    try:
        kubeconfig = api.kubeconfig(f.tmp / "kubeconfig")
        health = free_port()
        agent = f.start_agent(
            "--enable-k8s-api",
            "--k8s-kubeconfig-path",
            str(kubeconfig),
            "--enable-pod-info",
            "--health-server-address",
            f"127.0.0.1:{health}",
            "--server-address",
            "",
            ready=False,
        )
        _wait(lambda: "waiting for CRD podinfo.cilium.io" in agent.stderr.read_text(), 30, "the CRD wait")
        assert not serving(health) and agent.proc.poll() is None
        node = socket.gethostname()
        ip = {"podIP": "10.1.2.3", "podIPs": [{"ip": "10.1.2.3"}]}
        api.put(
            {
                "kind": "Pod",
                "metadata": {"name": "p", "namespace": "x"},
                "spec": {"nodeName": node},
                "status": ip,
            }
        )
        exe = os.path.join(os.path.dirname(sys.executable), "tetragon-operator")
        operator = subprocess.Popen(
            [
                exe,
                "serve",
                f"--kube-config={kubeconfig}",
                "--enable-pod-info",
                "--metrics-bind-address=",
                "--health-probe-bind-address=",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait(lambda: agent.proc.poll() is not None or serving(health), 60, "health SERVING after the CRD")
        assert agent.proc.poll() is None, agent.stderr.read_text()[-3000:]
        assert "CRD podinfo.cilium.io is Established" in agent.stderr.read_text()
        _wait(lambda: api.get("PodInfo", "p", "x") is not None, 30, "the operator's PodInfo")
        assert (api.get("PodInfo", "p", "x") or {})["status"] == {
            "podIP": "10.1.2.3",
            "podIPs": [{"IP": "10.1.2.3"}],
        }
        assert agent.stop() == 0
    finally:
        if operator is not None:
            operator.terminate()
            operator.communicate(timeout=20)
        api.stop()
    _refused(["--enable-pod-info"], "--enable-pod-info: set, but --enable-k8s-api is off")


CASES: dict[str, Callable[[Flags], None]] = {
    "enable-pod-info": enable_pod_info,
    "gops-address": gops_address,
    "enable-tracing-policy-crd": enable_tracing_policy_crd,
    "cri-endpoint": cri_endpoint,
    "enable-cri": enable_cri,
    "enable-k8s-api": enable_k8s_api,
    "enable-policy-filter": enable_policy_filter,
    "enable-policy-filter-debug": enable_policy_filter_debug,
    "k8s-kubeconfig-path": k8s_kubeconfig_path,
}
