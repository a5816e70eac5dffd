"""tetragon-operator against the test API server (tests/k8sapi): the CRDs created, kept and
updated by schema version, the PodInfo controller's resources, its flags, and `serve` started as
the chart's operator Deployment starts it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.chart import one, render
from tests.k8sapi.server import ApiServer, eventually, serving
from tests.kernel.conftest import free_port
from tetragon_core.exceptions import ConfigError
from tetragon_core.k8s import kube_config, make_client
from tetragon_core.metrics import Registry
from tetragon_core.operator import (
    PODINFO_CRD,
    SCHEMA_VERSION_LABEL,
    TRACING_POLICY_CRDS,
    OperatorConfig,
    PodInfoController,
    crds_to_create,
    ensure_crds,
    packaged_crds,
    parse_operator_args,
)

ALL = [*TRACING_POLICY_CRDS, PODINFO_CRD]


def _client(api: ApiServer, tmp: Path) -> Any:
    return make_client(kube_config(str(api.kubeconfig(tmp / "kubeconfig"))))


def _crd(api: ApiServer, name: str) -> dict[str, Any]:
    found = api.get("CustomResourceDefinition", name)
    assert found is not None, name
    return found


def test_crds_are_created_then_kept_then_updated_by_schema_version(tmp_path: Path) -> None:
    with serving() as api:

        async def ensure(force: bool = False) -> dict[str, str]:
            client = _client(api, tmp_path)
            try:
                return await ensure_crds(client, ALL, force)
            finally:
                await client.close()

        assert asyncio.run(ensure()) == dict.fromkeys(ALL, "created")
        shipped = packaged_crds()
        for name in ALL:
            assert _crd(api, name)["spec"] == shipped[name]["spec"]
        assert asyncio.run(ensure()) == dict.fromkeys(ALL, "kept")
        # an older (or unlabelled) CRD is replaced; a newer one stays unless forced
        old = _crd(api, PODINFO_CRD)
        old["metadata"]["labels"] = {SCHEMA_VERSION_LABEL: "1.2.9"}
        old["spec"]["versions"][0]["additionalPrinterColumns"] = []
        api.put(old)
        newer = _crd(api, TRACING_POLICY_CRDS[0])
        newer["metadata"]["labels"] = {SCHEMA_VERSION_LABEL: "9.0.0"}
        api.put(newer)
        unlabelled = _crd(api, TRACING_POLICY_CRDS[1])
        unlabelled["metadata"]["labels"] = {}
        api.put(unlabelled)
        assert asyncio.run(ensure()) == {
            TRACING_POLICY_CRDS[0]: "kept",
            TRACING_POLICY_CRDS[1]: "updated",
            PODINFO_CRD: "updated",
        }
        assert _crd(api, PODINFO_CRD)["spec"] == shipped[PODINFO_CRD]["spec"]
        assert _crd(api, TRACING_POLICY_CRDS[0])["metadata"]["labels"][SCHEMA_VERSION_LABEL] == "9.0.0"
        assert asyncio.run(ensure(force=True))[TRACING_POLICY_CRDS[0]] == "updated"
        label = shipped[TRACING_POLICY_CRDS[0]]["metadata"]["labels"][SCHEMA_VERSION_LABEL]
        assert _crd(api, TRACING_POLICY_CRDS[0])["metadata"]["labels"][SCHEMA_VERSION_LABEL] == label


def _pod(name: str, ns: str = "team-a", ip: str = "10.0.0.7", **meta: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, **meta},
        "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running"},
    }
    if ip:
        pod["status"] |= {"podIP": ip, "podIPs": [{"ip": ip}, {"ip": "fd00::7"}]}
    return pod


def test_the_pod_info_controller_keeps_one_pod_info_per_pod(tmp_path: Path) -> None:
    deployment_pod = _pod(
        "web-7d4b9c-x2x",
        labels={"app": "web", "pod-template-hash": "7d4b9c"},
        annotations={"a": "b"},
        generateName="web-7d4b9c-",
        ownerReferences=[
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-7d4b9c",
                "uid": "u",
                "controller": True,
            }
        ],
    )
    with serving(bookmark_interval=0.1) as api:
        stored = api.put(deployment_pod)
        api.put(_pod("pending", ip=""))  # no IP yet: no PodInfo
        # left by a pod deleted while the operator was down
        api.put({"kind": "PodInfo", "metadata": {"name": "gone", "namespace": "team-b"}})
        registry = Registry()

        async def main() -> None:
            client = _client(api, tmp_path)
            controller = PodInfoController(client, registry)
            async with anyio.create_task_group() as tg:
                listed = anyio.Event()
                tg.start_soon(controller.run, listed.set)
                await listed.wait()
                assert api.get("PodInfo", "gone", "team-b") is None
                assert api.get("PodInfo", "pending", "team-a") is None
                await eventually(
                    lambda: api.get("PodInfo", "web-7d4b9c-x2x", "team-a") is not None, "podinfo"
                )
                info = api.get("PodInfo", "web-7d4b9c-x2x", "team-a")
                assert info is not None
                assert info["metadata"]["labels"] == {"app": "web", "pod-template-hash": "7d4b9c"}
                assert info["metadata"]["annotations"] == {"a": "b"}
                assert info["metadata"]["ownerReferences"] == [
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "name": "web-7d4b9c-x2x",
                        "uid": stored["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ]
                assert info["spec"] == {"hostNetwork": False, "nodeName": "node-a"}
                assert info["status"] == {
                    "podIP": "10.0.0.7",
                    "podIPs": [{"IP": "10.0.0.7"}, {"IP": "fd00::7"}],
                }
                assert info["workloadType"] == {"apiVersion": "apps/v1", "kind": "Deployment"}
                assert info["workloadObject"] == {"name": "web", "namespace": "team-a"}
                writes = sum(m in ("POST", "PUT") for m, p, _ in api.requests if "/podinfo" in p)
                # the pod gets its IP: its PodInfo appears; a label changes: it is replaced
                api.put(_pod("pending"))
                await eventually(lambda: api.get("PodInfo", "pending", "team-a") is not None, "late IP")
                relabel = api.get("Pod", "web-7d4b9c-x2x", "team-a")
                assert relabel is not None
                relabel["metadata"]["labels"]["tier"] = "front"
                api.put(relabel)
                await eventually(
                    lambda: (
                        (api.get("PodInfo", "web-7d4b9c-x2x", "team-a") or {})["metadata"]["labels"].get(
                            "tier"
                        )
                        == "front"
                    ),
                    "relabel",
                )
                # an event that changes nothing a PodInfo holds writes nothing
                same = api.get("Pod", "pending", "team-a")
                assert same is not None
                same["status"]["phase"] = "Succeeded"
                before = sum(m in ("POST", "PUT") for m, p, _ in api.requests if "/podinfo" in p)
                assert before == writes + 2
                api.put(same)
                await anyio.sleep(0.5)
                assert sum(m in ("POST", "PUT") for m, p, _ in api.requests if "/podinfo" in p) == before
                # the pod goes: so does its PodInfo
                api.delete("Pod", "pending", "team-a")
                await eventually(lambda: api.get("PodInfo", "pending", "team-a") is None, "delete")
                tg.cancel_scope.cancel()
            await client.close()

        asyncio.run(main())
    ops = {k: v for k, v in registry._metrics["tetragon_operator_podinfo_operations_total"].values.items()}
    assert ops == {("create", "ok"): 2.0, ("update", "ok"): 1.0, ("delete", "ok"): 2.0}, ops


def test_flags_from_the_command_line_and_the_config_dir(tmp_path: Path) -> None:
    conf = tmp_path / "operator.conf.d"
    conf.mkdir()
    (conf / "skip-pod-info-crd").write_text("true\n")
    (conf / "..data").mkdir()  # a ConfigMap volume's own entries are not flags
    cfg = parse_operator_args(
        ["serve", f"--config-dir={conf}", "--force-update-crds", "--skip-pod-info-crd=false"]
    )
    assert cfg == OperatorConfig(skip_pod_info_crd=True, force_update_crds=True)  # the file wins
    assert crds_to_create(cfg) == list(TRACING_POLICY_CRDS)
    assert crds_to_create(OperatorConfig(skip_crd_creation=True)) == []
    (conf / "leader-elect").write_text("true")
    with pytest.raises(
        ConfigError, match="--config-dir: leader-elect is not a flag of tetragon-operator serve"
    ):
        parse_operator_args(["serve", f"--config-dir={conf}"])
    with pytest.raises(ConfigError, match="--enable-pod-info: 'yes' is not true or false"):
        parse_operator_args(["serve", "--enable-pod-info=yes"])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


@pytest.mark.parametrize("pod_info", [False, True])
def test_serve_as_the_chart_runs_it(tmp_path: Path, pod_info: bool) -> None:
    """The chart's operator ConfigMap and Deployment args, rendered by Helm, run tetragon-operator:
    it creates the CRDs the values ask for, is ready, serves metrics, and stops on SIGTERM."""
    docs = render({"tetragonOperator": {"podInfo": {"enabled": pod_info}}})
    data = one(docs, "ConfigMap", "tetragon-operator-config")["data"]
    conf = tmp_path / "operator.conf.d"
    conf.mkdir()
    for key, value in data.items():
        (conf / key).write_text(value)
    (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["tetragon-operator"] and container["args"][0] == "serve"
    metrics, health = free_port(), free_port()
    args = [
        a for a in container["args"] if not a.startswith(("--config-dir", "--metrics-bind", "--health-probe"))
    ]
    assert args == ["serve"], container["args"]
    with serving() as api:
        api.put(_pod("p1"))
        cmd = [
            os.path.join(os.path.dirname(sys.executable), "tetragon-operator"),
            *args,
            f"--config-dir={conf}",
            f"--metrics-bind-address=127.0.0.1:{metrics}",
            f"--health-probe-bind-address=127.0.0.1:{health}",
            f"--kube-config={api.kubeconfig(tmp_path / 'kubeconfig')}",
        ]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        try:
            asyncio.run(eventually(lambda: _get(f"http://127.0.0.1:{health}/readyz")[0] == 200, "ready", 30))
            assert _get(f"http://127.0.0.1:{health}/healthz") == (200, "ok")
            want = ALL if pod_info else list(TRACING_POLICY_CRDS)
            have = sorted(k[2] for k in api._objects if k[0] == "customresourcedefinitions")
            assert have == sorted(want)
            assert (api.get("PodInfo", "p1", "team-a") is not None) is pod_info
            status, text = _get(f"http://127.0.0.1:{metrics}/metrics")
            assert status == 200 and ("tetragon_operator_podinfo_operations_total" in text) is pod_info
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err[-2000:]
        assert "SIGTERM: stopping" in err, err[-2000:]


def test_a_bad_flag_is_refused_by_name(tmp_path: Path) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "tetragon-operator")
    r = subprocess.run(
        [exe, "serve", "--kube-config", "relative/path"], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 2 and "--kube-config: relative/path is not an absolute path" in r.stderr, r.stderr


def test_a_bad_listen_address_is_refused_by_name(tmp_path: Path) -> None:
    exe = os.path.join(os.path.dirname(sys.executable), "tetragon-operator")
    with serving() as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        r = subprocess.run(
            [exe, "serve", f"--kube-config={kubeconfig}", "--metrics-bind-address=nonsense"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert r.returncode == 2 and "--metrics-bind-address: 'nonsense' is not host:port" in r.stderr, r.stderr
