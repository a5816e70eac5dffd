"""Upstream's Helm chart, with its default values, starts this agent; so does our own chart
(install/kubernetes/tetragon, rendered by Helm; install/kubernetes/tetragon.yaml is its render).

The chart renders its values into a ConfigMap that the DaemonSet mounts as
``/etc/tetragon/tetragon.conf.d`` and passes as ``--config-dir``. :data:`UPSTREAM_DEFAULTS` is that
ConfigMap's ``data`` as the chart's ``tetragon_configmap.yaml`` renders it with the defaults of its
values.yaml (Tetragon v1.3's chart, the seed's Helm reference). Three entries differ, each for a
reason of this test machine, not of the agent: ``procfs`` (the pod mounts the host's /proc at
/procRoot), ``export-filename`` (kept in the test's directory) and the API credentials (a pod has
its service account; here a kubeconfig for the test API server of tests/k8sapi).
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.chart import one, render
from tests.k8sapi.server import serving as api_serving
from tests.kernel.flagtools import _wait, serving
from tests.kernel.test_tracepoint_policies import Tetra
from tests.promtext import families

UPSTREAM_DEFAULTS = {
    "procfs": "/procRoot",
    "debug": "false",
    "enable-process-cred": "false",
    "enable-process-ns": "false",
    "process-cache-size": "65536",
    "export-filename": "/var/run/cilium/tetragon/tetragon.log",
    "export-file-perm": "600",
    "export-file-max-size-mb": "10",
    "export-file-max-backups": "5",
    "export-file-compress": "false",
    "export-allowlist": '{"event_set":["PROCESS_EXEC", "PROCESS_EXIT", "PROCESS_KPROBE", "PROCESS_UPROBE", '
    '"PROCESS_TRACEPOINT", "PROCESS_LSM"]}',
    "export-denylist": '{"health_check":true}\n{"namespace":["", "cilium", "kube-system"]}',
    "field-filters": "",
    "redaction-filters": "",
    "export-rate-limit": "-1",
    "enable-k8s-api": "true",
    "metrics-server": ":2112",
    "metrics-label-filter": "namespace,workload,pod,binary",
    "server-address": "localhost:54321",
    "health-server-address": ":6789",
    "health-server-interval": "10",
    "gops-address": "localhost:8118",
    "enable-policy-filter": "true",
    "enable-pod-info": "false",
    "enable-tracing-policy-crd": "true",
    "event-cache-retries": "15",
    "event-cache-retry-delay": "2",
}


def gops(port: int, command: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(bytes([command]))
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def _our_chart_config() -> dict[str, str]:
    """The agent's ConfigMap as Helm renders our chart (install/kubernetes/tetragon) with its
    defaults; install/kubernetes/tetragon.yaml is the same render."""
    data: dict[str, str] = one(render(), "ConfigMap", "tetragon-config")["data"]
    return data


@pytest.mark.parametrize("source", ["upstream-chart", "our-chart"])
def test_the_default_config_starts(start_agent, tmp_path: Path, source: str) -> None:
    config = UPSTREAM_DEFAULTS if source == "upstream-chart" else _our_chart_config()
    with api_serving() as api:
        conf = tmp_path / "tetragon.conf.d"
        conf.mkdir()
        export = tmp_path / "export" / "tetragon.log"
        here = {
            "procfs": "/proc",
            "export-filename": str(export),
            "k8s-kubeconfig-path": str(api.kubeconfig(tmp_path / "kubeconfig")),
        }
        for key, value in {**config, **here}.items():
            (conf / key).write_text(value)
        # a namespaced policy, as a cluster would hold it: with the chart's policy filter it loads
        api.put(
            {
                "kind": "TracingPolicyNamespaced",
                "metadata": {"name": "chart-ns", "namespace": "team-a"},
                "spec": {"tracepoints": [{"subsystem": "syscalls", "event": "sys_enter_openat"}]},
            }
        )
        agent = start_agent("--config-dir", str(conf), "--health-server-address", ":6789", ready="log")
        _wait(lambda: serving(6789), 60, "health SERVING on the chart's :6789")
        assert agent.proc.poll() is None, agent.stderr.read_text()[-3000:]

        policies = Tetra("localhost:54321").policies()
        assert policies["chart-ns"]["state"] == "TP_STATE_ENABLED", policies
        text = urllib.request.urlopen("http://127.0.0.1:2112/metrics", timeout=5).read().decode()
        assert "tetragon_policyfilter_operations_total" in families(text)
        if "gops-address" in config:
            assert gops(8118, 0x4).startswith(b"CPython 3.")
        paths = {p for _, p, _ in api.requests}
        assert "/api/v1/pods" in paths and "/apis/cilium.io/v1alpha1/tracingpoliciesnamespaced" in paths
        # the chart's export denylist drops host events (namespace ""): a host exec is seen (it
        # is counted) but not exported
        binary = tmp_path / "true-chart"
        binary.write_bytes(Path("/bin/true").read_bytes())
        binary.chmod(0o755)
        subprocess.run([str(binary), "chart-defaults"], check=True)

        def counted() -> bool:
            text = urllib.request.urlopen("http://127.0.0.1:2112/metrics", timeout=5).read().decode()
            fam = families(text).get("tetragon_events_total")
            return fam is not None and any(s.labels.get("binary") == str(binary) for s in fam.samples)

        _wait(counted, 30, "the host exec counted in tetragon_events_total")
        assert agent.stop() == 0  # the export is flushed
        lines = [json.loads(x) for x in export.read_text().splitlines() if x] if export.exists() else []
        assert not [e for e in lines if "chart-defaults" in json.dumps(e)], lines[:3]
