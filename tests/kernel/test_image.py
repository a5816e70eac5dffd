"""The image: built here without a registry (tools/build_image.sh: Debian 12 from Debian's mirror,
this checkout's wheels), run by podman as the DaemonSet runs it (privileged, the host's /proc at
/procRoot, bpffs and BTF mounted, its own PID namespace), it exports the host's processes with
their host pids, and detaches everything when stopped."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.chart import one, render
from tests.k8sapi.server import serving
from tests.kernel.runtimes import PODMAN_LIMITS, need
from tests.kernel.test_policy_scope import _progs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    need("podman", "debootstrap")
    build = subprocess.run(
        [str(ROOT / "tools" / "build_image.sh"), str(tmp_path_factory.mktemp("image"))],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    image = build.stdout.strip().splitlines()[-1]
    assert image.startswith("tetragon-core:")
    return image


def test_the_image_exports_host_processes(tmp_path: Path, image: str) -> None:
    export = tmp_path / "export"
    export.mkdir()
    name = f"tg-image-{uuid.uuid4().hex[:8]}"
    before = _progs()
    run = subprocess.Popen(
        [
            "podman", "run", "--rm", "--name", name, "--privileged", "--network=host", *PODMAN_LIMITS,
            "-v", "/sys/fs/bpf:/sys/fs/bpf", "-v", "/sys/kernel/btf:/sys/kernel/btf:ro",
            "-v", "/proc:/procRoot:ro", "-v", f"{export}:/var/run/cilium/tetragon",
            image, "--procfs", "/procRoot", "--server-address", "", "--health-server-address", "",
            "--export-filename", "/var/run/cilium/tetragon/tetragon.log",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        log = export / "tetragon.log"
        token = uuid.uuid4().hex
        deadline = time.monotonic() + 120
        found: list[dict[str, object]] = []
        pids: set[int] = set()
        while not found:
            assert run.poll() is None, run.stderr.read().decode()[-3000:] if run.stderr else ""
            assert time.monotonic() < deadline, "no exec of the host's marker process in the export"
            marker = subprocess.Popen(["/bin/sh", "-c", f"exec /bin/echo {token}"], stdout=subprocess.DEVNULL)
            pids.add(marker.pid)  # the sh execs echo: the same (host) pid
            assert marker.wait(30) == 0
            if log.exists():
                for line in log.read_text().splitlines():
                    ev = json.loads(line)
                    p = ev.get("process_exec", {}).get("process", {})
                    if token in p.get("arguments", "") and p.get("binary") == "/bin/echo":
                        found.append(p)
            time.sleep(0.5)
        p = found[0]
        # the host's pid, though the agent runs in a PID namespace of its own
        assert p["binary"] == "/bin/echo" and p["pid"] in pids, (p, pids)
        assert len(_progs() - before) > 0  # the containerised agent's programs are attached
    finally:
        subprocess.run(["podman", "stop", "-t", "30", name], capture_output=True, timeout=90)
        run.wait(60)
    assert run.returncode == 0, run.stderr.read().decode()[-3000:] if run.stderr else ""
    assert _progs() - before == set()  # stopped: every program detached


def test_the_image_runs_the_operator_as_the_chart_does(tmp_path: Path, image: str) -> None:
    """The chart's operator Deployment runs `tetragon-operator serve` from the same image: against
    the test API server it creates the CRDs and a PodInfo per pod."""
    docs = render({"tetragonOperator": {"podInfo": {"enabled": True}}})
    (container,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    conf = tmp_path / "operator.conf.d"
    conf.mkdir()
    for key, value in one(docs, "ConfigMap", "tetragon-operator-config")["data"].items():
        (conf / key).write_text(value)
    with serving() as api:
        api.put({"kind": "Pod", "metadata": {"name": "p", "namespace": "x"},
                 "status": {"podIP": "10.9.8.7", "podIPs": [{"ip": "10.9.8.7"}]}})  # fmt: skip
        api.kubeconfig(tmp_path / "kubeconfig")
        name = f"tg-operator-{uuid.uuid4().hex[:8]}"
        args = [a for a in container["args"] if not a.startswith(("--metrics", "--health"))]
        run = subprocess.Popen(
            ["podman", "run", "--rm", "--name", name, "--network=host", *PODMAN_LIMITS,
             "-v", f"{conf}:/etc/tetragon/operator.conf.d:ro", "-v", f"{tmp_path}:/kube:ro",
             "--entrypoint", container["command"][0], image, *args,
             "--kube-config=/kube/kubeconfig", "--metrics-bind-address=", "--health-probe-bind-address="],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while api.get("PodInfo", "p", "x") is None:
                assert run.poll() is None, run.stderr.read().decode()[-3000:] if run.stderr else ""
                assert time.monotonic() < deadline, "no PodInfo from the image's operator"
                time.sleep(0.5)
            crds = sorted(k[2] for k in api._objects if k[0] == "customresourcedefinitions")
            assert crds == [
                "podinfo.cilium.io",
                "tracingpolicies.cilium.io",
                "tracingpoliciesnamespaced.cilium.io",
            ]
        finally:
            subprocess.run(["podman", "stop", "-t", "30", name], capture_output=True, timeout=90)
            run.wait(60)
        assert run.returncode == 0, run.stderr.read().decode()[-3000:] if run.stderr else ""
