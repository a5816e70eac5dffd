"""``--enable-cri`` against a real containerd: pods and containers made through its CRI (as kubelet
makes them, with tetragon-core's own ``runtime.v1`` messages) are found by :class:`CriSync` with
their pod, image, pid and cgroup. Needs root and containerd, runc (tests/kernel/runtimes.py); no
BPF."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.runtimes import Containerd, CriPods, busybox_rootfs
from tetragon_core.cri import CriClient, CriSync
from tetragon_core.exceptions import CriError
from tetragon_core.metrics import Registry
from tetragon_core.process.containers import ContainerRegistry

IMAGE = "docker.io/library/tg-busybox:latest"


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    rootfs = busybox_rootfs(tmp_path_factory.mktemp("image") / "rootfs")
    daemon = Containerd()
    try:
        # the busybox image, and the same root filesystem as the sandbox ("pause") image
        daemon.import_images(rootfs, {IMAGE: ["/bin/sh"], Containerd.PAUSE: ["/bin/sleep", "86400"]})
        yield daemon
    finally:
        daemon.stop()


def _task_pids(daemon: Containerd) -> dict[str, int]:
    """What ``ctr task ls`` says each task's pid is."""
    out: dict[str, int] = {}
    for line in daemon.ctr("task", "ls").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2 and fields[1].isdigit():
            out[fields[0]] = int(fields[1])
    return out


def test_cri_sync_finds_pod_containers_with_their_pid_and_cgroup(containerd: Containerd) -> None:
    uid = str(uuid.uuid4())
    token = uuid.uuid4().hex[:8]
    pods = CriPods(containerd)
    registry = ContainerRegistry()
    metrics = Registry()
    seen: dict[str, Any] = {}

    async def main() -> None:
        sandbox, config = await pods.run_pod(
            f"web-{token}",
            "shop",
            uid,
            {"app": "web", "tier": "front", "io.kubernetes.pod.name": f"web-{token}"},
        )
        seen["sandbox"] = sandbox
        cid = await pods.create_container(
            sandbox,
            config,
            "sleeper",
            IMAGE,
            ["/bin/sleep", "30"],
            {"io.kubernetes.container.name": "sleeper"},
        )
        seen["cid"] = cid
        sync = CriSync(CriClient(containerd.endpoint), registry, metrics)
        try:
            await sync.connect()
            seen["runtime"] = sync.runtime
            # created, not started: known, with its pod and cgroup, but no pid yet
            assert await sync.poll() == 1
            seen["created"] = sync.containers[cid]
            await pods.start_container(cid)
            status, info = await pods.status(cid)
            seen["status_pid"] = info["pid"]
            seen["status"] = status
            # running: asked once more, for the pid
            assert await sync.poll() == 1
            seen["running"] = sync.containers[cid]
            assert await sync.poll() == 0
            seen["tasks"] = _task_pids(containerd)
            pid = info["pid"]
            seen["proc_cgroup"] = Path(f"/proc/{pid}/cgroup").read_text()
            seen["errors"] = metrics.counter("tetragon_cri_errors_total", "", ("call",)).samples()
        finally:
            sync.client.close()

    try:
        asyncio.run(asyncio.wait_for(main(), 240))
    finally:
        failed = asyncio.run(pods.cleanup())
        pods.remove_cgroups()
    assert not failed, failed

    cid, sandbox = seen["cid"], seen["sandbox"]
    assert seen["runtime"].startswith("containerd "), seen["runtime"]
    assert seen["errors"] == {}

    created = seen["created"]
    running = seen["running"]
    assert created.pid == 0 and created.state == "CONTAINER_CREATED"
    assert running.state == "CONTAINER_RUNNING"
    assert running.sandbox_id == sandbox

    # the pid is the container's real one: what ContainerStatus and ctr say, and its cgroup is the
    # container's (cgroupfs driver: <cgroup_parent>/<id>)
    pid = running.pid
    assert pid > 0 and pid == seen["status_pid"]
    tasks = seen["tasks"]
    assert tasks.get(cid) == pid, tasks
    cgroup = f"/kubepods/besteffort/pod{uid}/{cid}"
    proc_cgroup = seen["proc_cgroup"]
    assert cid in proc_cgroup, proc_cgroup
    assert any(line.endswith(":" + cgroup) for line in proc_cgroup.splitlines()), proc_cgroup

    info = registry.get(cid)
    assert info is not None, registry.containers()
    assert info.container_id == f"containerd://{cid}"
    assert info.container_name == "sleeper"
    assert (info.pod_name, info.pod_namespace, info.pod_uid) == (f"web-{token}", "shop", uid)
    assert dict(info.pod_labels) == {"app": "web", "tier": "front"}
    assert info.image == IMAGE
    assert info.image_id.startswith("sha256:"), info.image_id
    assert info.cgroups_path == cgroup
    assert info.start_time.endswith("Z"), info.start_time
    # containerd's own annotations of the OCI spec came along
    assert info.annotations.get("io.kubernetes.cri.sandbox-id") == sandbox
    # a process of the container (process.docker: the id's first 31 characters) gets the pod
    pod = registry.pod(cid[:31], nspid=1)
    assert pod is not None and pod.name == f"web-{token}" and pod.namespace == "shop"
    assert pod.container is not None and pod.container.id == f"containerd://{cid}"
    assert pod.container.image is not None and pod.container.image.name == IMAGE
    assert len(registry) == 1, "the sandbox (pause) container is not a pod container"


def test_cri_client_errors_against_a_stopped_containerd(tmp_path: Path) -> None:
    daemon = Containerd()
    endpoint = daemon.endpoint
    daemon.stop()
    sync = CriSync(CriClient(endpoint, timeout=5), ContainerRegistry())

    async def main() -> None:
        try:
            with pytest.raises(CriError, match=f"CRI Version on {endpoint}"):
                await sync.connect()
        finally:
            sync.client.close()

    asyncio.run(main())
    assert sync.errors("Version") == 1
