"""The Helm chart install/kubernetes/tetragon, rendered by real Helm (tests/chart.py):

* values.yaml has every value of the seed's Helm reference with the seed's default (two
  documented exceptions: the images are this project's);
* what it renders validates against Kubernetes' schemas, for the defaults and for every option;
* its ConfigMap is a configuration the agent accepts, and each value reaches its flag;
* values it cannot honour fail the render, naming the value;
* install/kubernetes/tetragon.yaml is the defaults' render (tools/render_chart.py);
* the agent's and the operator's ClusterRoles allow exactly the requests they make."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import anyio
import helm_python
import kubernetes_validate
import pytest
import yaml

from tests.chart import CHART, one, render
from tests.k8sapi.server import RESOURCES, eventually, serving
from tetragon_core.config.cli import parse_agent_args
from tetragon_core.config.flags import FLAGS_BY_NAME
from tetragon_core.config.loader import ConfigRoots
from tetragon_core.k8s import PodStore, PodWatcher, PolicyWatcher, kube_config, make_client
from tetragon_core.metrics import Registry
from tetragon_core.operator import SCHEMA_VERSION_LABEL, OperatorConfig, packaged_crds, serve
from tetragon_core.policy.registry import PolicyRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED = REPO_ROOT.parent / "shared" / "seed" / "000_c4a706bb3b8a89d1.txt"
K8S_VERSION = "1.30.0"
#: the values whose default is not the seed's, and why (README.md of the chart says so too)
NOT_THE_SEEDS = {
    "tetragon.image.repository": "tetragon-core",  # the seed's names upstream's Go agent
    "tetragon.image.tag": "",  # the chart's appVersion
    "tetragonOperator.image.repository": "tetragon-core",  # the operator is in the agent's image
    "tetragonOperator.image.tag": "",
}


def seed_values() -> dict[str, Any]:
    """key -> default, from the seed's Helm values table."""
    text = SEED.read_text()
    table = text[text.index("Key Type Default Description") :].split("\n\n")[0].splitlines()[1:]
    out: dict[str, Any] = {}
    decoder = json.JSONDecoder()
    for line in table:
        m = re.match(r"(\S+) (object|string|bool|list|int) (.*)$", line)
        assert m, line
        key, rest = m.group(1), m.group(3)
        out[key] = None if rest.startswith("nil") else decoder.raw_decode(rest)[0]
    return out


def _lookup(values: Any, key: str) -> Any:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        values = values[int(part[1:-1])] if part.startswith("[") else values[part]
    return values


def _leaves(values: Any, prefix: str = "") -> set[str]:
    if isinstance(values, dict) and values:
        return {leaf for k, v in values.items() for leaf in _leaves(v, f"{prefix}.{k}" if prefix else k)}
    if isinstance(values, list) and values and isinstance(values[0], dict):
        return {leaf for i, v in enumerate(values) for leaf in _leaves(v, f"{prefix}[{i}]")}
    return {prefix}


def _values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def test_values_are_the_seeds_with_its_defaults() -> None:
    seed, values = seed_values(), _values()
    assert len(seed) > 130
    for key, default in seed.items():
        have = _lookup(values, key)
        if isinstance(default, dict):
            for leaf in _leaves(default):
                full = f"{key}.{leaf}"
                want = NOT_THE_SEEDS.get(full, _lookup(default, leaf)) if leaf else default
                assert _lookup(values, full) == want, full
        else:
            assert have == NOT_THE_SEEDS.get(key, default), key
    # and nothing the seed does not have
    covered = set()
    for key, default in seed.items():
        covered |= (
            {f"{key}.{leaf}" if leaf else key for leaf in _leaves(default)}
            if isinstance(default, dict)
            else {key}
        )
    assert _leaves(values) <= covered | {k for k in covered if k}, _leaves(values) - covered


def test_helm_lints_the_chart_clean() -> None:
    report = helm_python.lint(CHART, strict=True, kube_version=f"v{K8S_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


EVERYTHING_ON: dict[str, Any] = {
    "crds": {"installMethod": "helm"},
    "tetragonOperator": {
        "podInfo": {"enabled": True},
        "forceUpdateCRDs": True,
        "annotations": {"a": "b"},
        "extraVolumes": [{"name": "x", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "x", "mountPath": "/x"}],
        "strategy": {"type": "Recreate"},
        "priorityClassName": "system-cluster-critical",
    },
    "tetragon": {
        "clusterName": "prod",
        "extraArgs": {"cgroup-rate": "1000,1s", "enable-process-ancestors": ""},
        "extraEnv": [{"name": "X", "value": "1"}],
        "extraVolumeMounts": [{"name": "y", "mountPath": "/y"}],
        "resources": {"limits": {"memory": "1Gi"}},
        "livenessProbe": {"grpc": {"port": 6789}},
        "enableKeepSensorsOnExit": True,
        "enableMsgHandlingLatency": True,
        "enableProcessCred": True,
        "fieldFilters": '{"fields":"process.binary","action":"INCLUDE"}',
    },
    "extraVolumes": [{"name": "y", "emptyDir": {}}],
    "extraHostPathMounts": [
        {"name": "h", "mountPath": "/h", "readOnly": True, "mountPropagation": "HostToContainer"}
    ],
    "extraConfigmapMounts": [{"name": "c", "mountPath": "/c", "configMap": "cm"}],
    "imagePullSecrets": [{"name": "pull"}],
    "podAnnotations": {"p": "q"},
    "podLabels": {"l": "m"},
    "updateStrategy": {"type": "RollingUpdate"},
    "priorityClassName": "system-node-critical",
    "podSecurityContext": {"runAsUser": 0},
    "nodeSelector": {"kubernetes.io/os": "linux"},
}

CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "defaults": (
        {},
        ["ServiceAccount"] * 2
        + ["ConfigMap"] * 2
        + ["ClusterRole", "ClusterRoleBinding"] * 2
        + ["Service"] * 2
        + ["DaemonSet", "Deployment"],
    ),
    "everything-on": (
        EVERYTHING_ON,
        ["CustomResourceDefinition"] * 3
        + ["ServiceAccount"] * 2
        + ["ConfigMap"] * 2
        + ["ClusterRole", "ClusterRoleBinding"] * 2
        + ["Service"] * 2
        + ["DaemonSet", "Deployment"],
    ),
    "no-operator-no-export-sidecar": (
        {"tetragonOperator": {"enabled": False}, "crds": {"installMethod": "none"}, "export": {"mode": ""}},
        ["ServiceAccount", "ConfigMap", "ClusterRole", "ClusterRoleBinding", "Service", "DaemonSet"],
    ),
    "agent-off": (
        {"tetragon": {"enabled": False}},
        ["ServiceAccount", "ConfigMap", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_render_validates_against_the_kubernetes_schemas(case: str) -> None:
    values, kinds = CASES[case]
    docs = render(values)
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert sorted(d["kind"] for d in docs) == sorted(kinds)


def test_service_monitors_render_when_asked() -> None:
    """ServiceMonitor is the Prometheus operator's CRD, not in Kubernetes' schemas: its shape here."""
    on = {"prometheus": {"serviceMonitor": {"enabled": True, "extraLabels": {"release": "kp"}}}}
    docs = render({"tetragon": on, "tetragonOperator": on})
    monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert len(monitors) == 2
    for m, service in zip(
        sorted(monitors, key=lambda d: d["metadata"]["name"]),
        ["tetragon", "tetragon-operator-metrics"],
        strict=True,
    ):
        svc = one(docs, "Service", service)
        assert m["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
        assert m["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "10s"}]
        assert m["metadata"]["labels"]["release"] == "kp"


def test_the_check_can_fail() -> None:
    ds = one(render(), "DaemonSet")
    bad = json.loads(json.dumps(ds))
    bad["spec"]["template"]["spec"]["containers"][1]["ports"][0]["containerPort"] = "metrics"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    bad = json.loads(json.dumps(ds))
    bad["spec"]["template"]["spec"]["hostPid"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


REFUSED = {
    "rthooks.enabled": {"rthooks": {"enabled": True}},
    "tetragon.ociHookSetup.enabled": {"tetragon": {"ociHookSetup": {"enabled": True}}},
    "tetragon.pprof.enabled": {"tetragon": {"pprof": {"enabled": True}}},
    "tetragon.enablePolicyFilterCgroupMap": {"tetragon": {"enablePolicyFilterCgroupMap": True}},
    "tetragon.btf": {"tetragon": {"btf": "/boot/vmlinux.btf"}},
    "crds.installMethod": {"crds": {"installMethod": "kubectl"}},
    "export.mode": {"export": {"mode": "fluentd"}},
    "tetragonOperator.podInfo.enabled": {
        "tetragonOperator": {"enabled": False, "podInfo": {"enabled": True}},
        "crds": {"installMethod": "none"},
    },
}


@pytest.mark.parametrize("value", sorted(REFUSED))
def test_a_value_the_chart_cannot_honour_fails_naming_it(value: str) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=re.escape(value + ":")):
        render(REFUSED[value])


def test_the_operator_method_needs_the_operator() -> None:
    with pytest.raises(
        helm_python.HelmRenderError,
        match=re.escape('crds.installMethod: "operator" needs tetragonOperator.enabled'),
    ):
        render({"tetragonOperator": {"enabled": False}})


def _agent_config(tmp: Path, data: dict[str, str]) -> Any:
    assert set(data) <= set(FLAGS_BY_NAME), set(data) - set(FLAGS_BY_NAME)
    conf = tmp / "conf.d"
    conf.mkdir(exist_ok=True)
    for old in conf.iterdir():
        old.unlink()
    for key, value in data.items():
        (conf / key).write_text(value)
    return parse_agent_args(["--config-dir", str(conf)], ConfigRoots.under(tmp / "root"))


def test_the_configmap_is_a_configuration_the_agent_accepts(tmp_path: Path) -> None:
    cfg = _agent_config(tmp_path, one(render(), "ConfigMap", "tetragon-config")["data"])
    assert cfg.enable_k8s_api and cfg.enable_policy_filter and cfg.enable_tracing_policy_crd
    assert not cfg.enable_pod_info
    assert cfg.procfs == "/procRoot" and cfg.health_server_address == ":6789"
    assert cfg.metrics_server == ":2112" and cfg.server_address == "localhost:54321"
    assert cfg.gops_address == "localhost:8118"
    assert cfg.export_filename == "/var/run/cilium/tetragon/tetragon.log"
    assert cfg.export_denylist.splitlines()[1] == '{"namespace":["", "cilium", "kube-system"]}'
    # each value reaches its flag
    cfg = _agent_config(tmp_path, one(render(EVERYTHING_ON), "ConfigMap", "tetragon-config")["data"])
    assert cfg.cluster_name == "prod" and cfg.enable_pod_info and cfg.keep_sensors_on_exit
    assert cfg.enable_msg_handling_latency and cfg.enable_process_cred
    assert cfg.field_filters == EVERYTHING_ON["tetragon"]["fieldFilters"]
    off = {
        "prometheus": {"enabled": False},
        "grpc": {"enabled": False},
        "healthGrpc": {"enabled": False},
        "gops": {"enabled": False},
        "exportFilename": "",
    }
    cfg = _agent_config(tmp_path, one(render({"tetragon": off}), "ConfigMap", "tetragon-config")["data"])
    assert (cfg.metrics_server, cfg.server_address, cfg.health_server_address, cfg.gops_address) == (
        "",
        "",
        "",
        "",
    )
    assert cfg.export_filename == ""


def test_the_daemonset_wires_config_health_mounts_and_the_sidecar() -> None:
    docs = render()
    ds = one(docs, "DaemonSet")["spec"]["template"]["spec"]
    sidecar, agent = ds["containers"]
    assert sidecar["name"] == "export-stdout" and agent["name"] == "tetragon"
    data = one(docs, "ConfigMap", "tetragon-config")["data"]
    assert sidecar["args"] == [data["export-filename"]]
    mounts = {m["name"]: m for m in agent["volumeMounts"]}
    volumes = {v["name"]: v for v in ds["volumes"]}
    assert agent["args"] == ["--config-dir=/etc/tetragon/tetragon.conf.d/"]
    assert mounts["tetragon-config"]["mountPath"] == "/etc/tetragon/tetragon.conf.d/"
    assert volumes["tetragon-config"]["configMap"]["name"] == "tetragon-config"
    assert (
        mounts["host-proc"]["mountPath"] == data["procfs"]
        and volumes["host-proc"]["hostPath"]["path"] == "/proc"
    )
    export_dir = str(Path(data["export-filename"]).parent)
    assert mounts["export-logs"]["mountPath"] == export_dir
    assert {m["mountPath"] for m in sidecar["volumeMounts"]} == {export_dir}
    assert mounts["bpf-maps"]["mountPropagation"] == "Bidirectional"
    assert {mounts[n]["mountPath"] for n in ("cgroup", "btf")} == {"/sys/fs/cgroup", "/sys/kernel/btf"}
    health = int(data["health-server-address"].rpartition(":")[2])
    assert agent["livenessProbe"]["grpc"] == {"port": health, "service": "liveness"}
    assert [p["containerPort"] for p in agent["ports"]] == [int(data["metrics-server"].rpartition(":")[2])]
    (env,) = agent["env"]
    assert env == {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    assert ds["serviceAccountName"] == one(docs, "ServiceAccount", "tetragon")["metadata"]["name"]
    assert ds["hostPID"] is True and ds["hostNetwork"] is True
    assert agent["securityContext"] == {"privileged": True}
    assert agent["image"] == "tetragon-core:0.1.0"
    svc = one(docs, "Service", "tetragon")
    assert (
        svc["spec"]["selector"].items()
        <= one(docs, "DaemonSet")["spec"]["template"]["metadata"]["labels"].items()
    )
    # extra arguments, environment and mounts land where the values say
    agent = one(render(EVERYTHING_ON), "DaemonSet")["spec"]["template"]["spec"]["containers"][1]
    assert agent["args"][1:] == ["--cgroup-rate=1000,1s", "--enable-process-ancestors"]
    assert {"name": "X", "value": "1"} in agent["env"]


def test_the_manifest_file_is_the_charts_render() -> None:
    spec = importlib.util.spec_from_file_location("_render_chart", REPO_ROOT / "tools" / "render_chart.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--check"]) == 0, "run .venv/bin/python tools/render_chart.py"


_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def _needed(requests: list[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """(group, resource[/subresource], verb) of each request, as RBAC names them."""
    out = set()
    for method, path, query in requests:
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:
            continue
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


def _allowed(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def test_the_agents_cluster_role_allows_exactly_what_the_agent_does(tmp_path: Path) -> None:
    with serving(bookmark_interval=0.1) as api:
        api.put({"kind": "TracingPolicy", "metadata": {"name": "p"}, "spec": {}})
        api.put({"kind": "TracingPolicyNamespaced", "metadata": {"name": "q", "namespace": "a"}, "spec": {}})
        api.put(packaged_crds()["podinfo.cilium.io"])

        async def main() -> None:
            from tetragon_core.agent_pods import _wait_for_pod_info_crd

            client = make_client(kube_config(str(api.kubeconfig(tmp_path / "kubeconfig"))))
            reg = Registry()
            policies = PolicyRegistry(lambda: set(), lambda entry: [])
            parts = [
                PodWatcher(client, "node-a", PodStore(), reg).run,
                PolicyWatcher(client, "node-a", policies, reg, False).run,
                PolicyWatcher(client, "node-a", policies, reg, True).run,
                lambda started: _wait_for_pod_info_crd(client, started),
            ]
            async with anyio.create_task_group() as tg:
                for run in parts:
                    done = asyncio.Event()
                    tg.start_soon(run, done.set)
                    await done.wait()
                await eventually(lambda: sum("watch=true" in q for _, _, q in api.requests) >= 3, "watches")
                await eventually(lambda: sum(m == "PATCH" for m, _, _ in api.requests) >= 2, "status writes")
                tg.cancel_scope.cancel()
            await client.close()

        asyncio.run(main())
        needed = _needed(api.requests)
    role = one(render({"tetragonOperator": {"podInfo": {"enabled": True}}}), "ClusterRole", "tetragon")
    assert _allowed(role) == needed
    (crd_rule,) = [r for r in role["rules"] if "customresourcedefinitions" in r["resources"]]
    assert crd_rule["resourceNames"] == ["podinfo.cilium.io"]
    # without pod info, the CRD rule goes
    assert ("apiextensions.k8s.io", "customresourcedefinitions", "get") not in _allowed(
        one(render(), "ClusterRole", "tetragon")
    )


def test_the_operators_cluster_role_allows_exactly_what_the_operator_does(tmp_path: Path) -> None:
    with serving(bookmark_interval=0.1) as api:
        api.put(
            {
                "kind": "Pod",
                "metadata": {"name": "p", "namespace": "a"},
                "status": {"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]},
            }
        )
        api.put({"kind": "PodInfo", "metadata": {"name": "gone", "namespace": "a"}})
        api.put(
            {
                "kind": "Pod",
                "metadata": {"name": "q", "namespace": "a"},
                "status": {"podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.2"}]},
            }
        )
        api.put({"kind": "PodInfo", "metadata": {"name": "q", "namespace": "a"}})  # stale: replaced
        # an older CRD is replaced
        older = packaged_crds()["tracingpolicies.cilium.io"]
        older["metadata"]["labels"] = {SCHEMA_VERSION_LABEL: "1.0.0"}
        api.put(older)
        cfg = OperatorConfig(
            kube_config=str(api.kubeconfig(tmp_path / "kubeconfig")),
            enable_pod_info=True,
            metrics_bind_address="",
            health_probe_bind_address="",
        )

        async def main() -> None:
            ready = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(serve, cfg, ready)
                await ready.wait()
                await eventually(
                    lambda: any("watch=true" in q for _, _, q in api.requests), "the pods' watch"
                )
                tg.cancel_scope.cancel()

        asyncio.run(main())
        needed = _needed(api.requests)
    role = one(
        render({"tetragonOperator": {"podInfo": {"enabled": True}}}), "ClusterRole", "tetragon-operator"
    )
    assert _allowed(role) == needed, _allowed(role) ^ needed
    # without pod info, only the CRDs
    without = _allowed(one(render(), "ClusterRole", "tetragon-operator"))
    assert {r for _, r, _ in without} == {"customresourcedefinitions"}
