"""install/kubernetes/tetragon.yaml: its ConfigMap is a configuration the agent accepts, the
DaemonSet wires it as Tetragon's does, and the ClusterRole allows every request the agent's
watchers make (run here against the test API server), and no more verbs than those."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anyio
import kubernetes_validate
import pytest
import yaml

from tests.k8sapi.server import RESOURCES, eventually, serving
from tetragon_core.config.cli import parse_agent_args
from tetragon_core.config.flags import FLAGS_BY_NAME
from tetragon_core.config.loader import ConfigRoots
from tetragon_core.k8s import PodStore, PodWatcher, PolicyWatcher, kube_config, make_client
from tetragon_core.metrics import Registry
from tetragon_core.policy.registry import PolicyRegistry

MANIFEST = Path(__file__).resolve().parents[2] / "install" / "kubernetes" / "tetragon.yaml"
_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def docs() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text()) if d}


def test_the_configmap_is_a_configuration_the_agent_accepts(tmp_path: Path) -> None:
    data = docs()["ConfigMap"]["data"]
    assert set(data) <= set(FLAGS_BY_NAME), set(data) - set(FLAGS_BY_NAME)
    conf = tmp_path / "conf.d"
    conf.mkdir()
    for key, value in data.items():
        (conf / key).write_text(value)
    cfg = parse_agent_args(["--config-dir", str(conf)], ConfigRoots.under(tmp_path / "root"))
    assert cfg.enable_k8s_api and cfg.enable_policy_filter and cfg.enable_tracing_policy_crd
    assert cfg.procfs == "/procRoot" and cfg.health_server_address == ":6789"
    assert cfg.export_denylist.splitlines()[1] == '{"namespace":["", "cilium", "kube-system"]}'


def test_the_daemonset_wires_config_health_and_node_name() -> None:
    d = docs()
    ds = d["DaemonSet"]["spec"]["template"]["spec"]
    (c,) = ds["containers"]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in ds["volumes"]}
    assert c["args"] == ["--config-dir=/etc/tetragon/tetragon.conf.d/"]
    assert mounts["tetragon-config"]["mountPath"] == "/etc/tetragon/tetragon.conf.d/"
    assert volumes["tetragon-config"]["configMap"]["name"] == d["ConfigMap"]["metadata"]["name"]
    data = d["ConfigMap"]["data"]
    assert mounts["host-proc"]["mountPath"] == data["procfs"]
    assert volumes["host-proc"]["hostPath"]["path"] == "/proc"
    assert mounts["export-logs"]["mountPath"] == str(Path(data["export-filename"]).parent)
    assert mounts["bpf-maps"]["mountPropagation"] == "Bidirectional"
    health = int(data["health-server-address"].rpartition(":")[2])
    assert c["livenessProbe"]["grpc"] == {"port": health, "service": "liveness"}
    assert {p["containerPort"] for p in c["ports"]} == {
        health,
        int(data["metrics-server"].rpartition(":")[2]),
    }
    (env,) = c["env"]
    assert env == {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    assert ds["serviceAccountName"] == d["ServiceAccount"]["metadata"]["name"]
    binding = d["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == d["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tetragon", "namespace": "kube-system"}]
    assert ds["hostNetwork"] is True and c["securityContext"]["privileged"] is True


def _needed(requests: list[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """(group, resource[/subresource], verb) of each request, as RBAC names them."""
    out = set()
    for method, path, query in requests:
        parts = [p for p in path.split("/") if p]
        group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
        if rest[:1] == ["namespaces"] and len(rest) > 2:
            rest = rest[2:]
        resource = RESOURCES[rest[0]].plural
        if len(rest) > 2:
            resource += "/" + rest[2]
        verb = _VERBS[method]
        if method == "GET" and len(rest) == 1:
            verb = "watch" if "watch=true" in query else "list"
        out.add((group, resource, verb))
    return out


def test_the_cluster_role_allows_exactly_what_the_agent_does(tmp_path: Path) -> None:
    with serving(bookmark_interval=0.1) as api:
        api.put({"kind": "TracingPolicy", "metadata": {"name": "p"}, "spec": {}})
        api.put({"kind": "TracingPolicyNamespaced", "metadata": {"name": "q", "namespace": "a"}, "spec": {}})

        async def main() -> None:
            client = make_client(kube_config(str(api.kubeconfig(tmp_path / "kubeconfig"))))
            reg = Registry()
            policies = PolicyRegistry(lambda: set(), lambda entry: [])
            parts = [
                PodWatcher(client, "node-a", PodStore(), reg),
                PolicyWatcher(client, "node-a", policies, reg, False),
                PolicyWatcher(client, "node-a", policies, reg, True),
            ]
            async with anyio.create_task_group() as tg:
                for p in parts:
                    done = asyncio.Event()
                    tg.start_soon(p.run, done.set)
                    await done.wait()
                await eventually(lambda: sum("watch=true" in q for _, _, q in api.requests) >= 3, "watches")
                await eventually(lambda: sum(m == "PATCH" for m, _, _ in api.requests) >= 2, "status writes")
                tg.cancel_scope.cancel()
            await client.close()

        asyncio.run(main())
        needed = _needed(api.requests)
    allowed = {
        (g, r, v)
        for rule in docs()["ClusterRole"]["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    assert needed <= allowed, needed - allowed
    # no write verb on anything but status, and nothing the agent never asks for
    assert {(g, r) for g, r, v in allowed if v not in ("get", "list", "watch")} == {
        ("cilium.io", "tracingpolicies/status"),
        ("cilium.io", "tracingpoliciesnamespaced/status"),
    }
    assert {r for _, r, _ in allowed} == {r for _, r, _ in needed}


K8S_VERSION = "1.30.0"


def test_every_manifest_validates_against_the_kubernetes_schemas() -> None:
    manifests = [MANIFEST, *sorted((MANIFEST.parent / "crds").glob("*.yaml"))]
    checked = []
    for path in manifests:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
                checked.append(doc["kind"])
    assert sorted(checked) == sorted(
        ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet"]
        + ["CustomResourceDefinition"] * 3
    )
    # the check can fail: a wrong type, and an unknown field under strict
    ds = docs()["DaemonSet"]
    bad = yaml.safe_load(yaml.safe_dump(ds))
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "metrics"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    bad = yaml.safe_load(yaml.safe_dump(ds))
    bad["spec"]["template"]["spec"]["hostPid"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
