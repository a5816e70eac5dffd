"""CriSync (``--enable-cri``'s poller) against the fake CRI runtime of tests/fakecri.py: containers
recorded with their pods, new ones learnt, errors counted, outages survived."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from grpclib.const import Status

from tests.fakecri import (
    CID_A,
    CID_B,
    CID_C,
    POD_1,
    UID_1,
    UID_2,
    FakeContainer,
    fake_cluster,
    run_coro,
    serving,
)
from tetragon_core.api.cri import api_pb2 as cri
from tetragon_core.cri import (
    CriClient,
    CriSync,
)
from tetragon_core.exceptions import CriError
from tetragon_core.metrics import Registry
from tetragon_core.process.containers import ContainerRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- CriSync ----------------------------------------------------------------------------------------


def test_sync_records_containers_with_their_pods(tmp_path: Path) -> None:
    fake = fake_cluster()
    registry = ContainerRegistry()
    metrics = Registry()
    changes: list[int] = []

    async def main() -> None:
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            sync = CriSync(CriClient(endpoint), registry, metrics, on_change=lambda: changes.append(1))
            try:
                await sync.connect()
                assert sync.runtime == "containerd 1.6.20 (CRI v1)"
                assert await sync.poll() == 2
                # nothing new: one list call, no sandbox list nor status
                calls = dict(fake.calls)
                assert await sync.poll() == 0
                assert fake.calls["ListContainers"] == calls["ListContainers"] + 1
                assert fake.calls["ContainerStatus"] == calls["ContainerStatus"]
                assert fake.calls["ListPodSandbox"] == calls["ListPodSandbox"]
                assert sync.containers[CID_A].pid == 4242
                assert sync.containers[CID_B].pid == 4343
            finally:
                sync.client.close()

    run_coro(main())
    assert changes == [1]
    assert len(registry) == 2
    a = registry.get(CID_A)
    assert a is not None
    assert a.container_id == f"containerd://{CID_A}"
    assert (a.pod_name, a.pod_namespace, a.pod_uid) == ("web-7d9f", "shop", UID_1)
    assert dict(a.pod_labels) == {"app": "web", "tier": "front"}, "kubelet's io.kubernetes.* are dropped"
    assert a.container_name == "nginx"
    assert a.image == "docker.io/library/nginx:1.27"
    assert a.image_id == "sha256:" + "e" * 64
    assert a.cgroups_path == f"/kubepods/besteffort/pod{UID_1}/{CID_A}"
    assert a.start_time == "2023-11-14T22:13:20.123456789Z"
    b = registry.get(CID_B)
    assert b is not None
    assert (b.pod_name, b.pod_namespace, b.pod_uid, dict(b.pod_labels)) == (
        "db-0",
        "data",
        UID_2,
        {"app": "db"},
    )
    assert b.cgroups_path.endswith(f"/cri-containerd-{CID_B}.scope")
    # processes find it by the id their cgroup names (process.docker: 31 characters)
    pod = registry.pod(CID_B[:31], nspid=1)
    assert pod is not None and pod.name == "db-0" and pod.container is not None
    assert pod.container.id == f"containerd://{CID_B}" and pod.container.pid == 1
    assert metrics.counter("tetragon_cri_containers_total", "").get() == 2


def test_sync_learns_new_containers_and_a_created_one_once_it_runs(tmp_path: Path) -> None:
    fake = fake_cluster()
    registry = ContainerRegistry()

    async def main() -> None:
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            sync = CriSync(CriClient(endpoint), registry)
            try:
                await sync.connect()
                assert await sync.poll() == 2
                fake.containers[CID_C] = FakeContainer(
                    CID_C, POD_1, "sidecar", "docker.io/library/busybox:latest", 0,
                    f"/kubepods/besteffort/pod{UID_1}/{CID_C}", state=cri.CONTAINER_CREATED,
                )  # fmt: skip
                assert await sync.poll() == 1
                info = registry.get(CID_C)
                assert info is not None and info.pod_name == "web-7d9f" and info.start_time == ""
                assert sync.containers[CID_C].pid == 0
                statuses = fake.calls["ContainerStatus"]
                # still created: not asked again
                assert await sync.poll() == 0
                assert fake.calls["ContainerStatus"] == statuses
                # started: asked once more, for its pid and start time
                fake.containers[CID_C].state = cri.CONTAINER_RUNNING
                fake.containers[CID_C].pid = 5151
                assert await sync.poll() == 1
                assert sync.containers[CID_C].pid == 5151
                info = registry.get(CID_C)
                assert info is not None and info.start_time != ""
                assert await sync.poll() == 0
                assert fake.calls["ContainerStatus"] == statuses + 1
                # a removed container leaves the poller (the registry keeps it for late events)
                del fake.containers[CID_A]
                assert await sync.poll() == 0
                assert CID_A not in sync.containers and registry.get(CID_A) is not None
            finally:
                sync.client.close()

    run_coro(main())


def test_sync_counts_errors_and_carries_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = fake_cluster()
    fake.fail[f"ContainerStatus:{CID_A}"] = Status.INTERNAL
    registry = ContainerRegistry()
    metrics = Registry()

    async def main() -> None:
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            sync = CriSync(CriClient(endpoint), registry, metrics)
            try:
                await sync.connect()
                # one container's status fails: the other is recorded all the same
                assert await sync.poll() == 1
                assert registry.get(CID_B) is not None and registry.get(CID_A) is None
                assert sync.errors("ContainerStatus") == 1
                # retried each round, then given up on
                assert await sync.poll() == 0
                assert await sync.poll() == 0
                assert sync.errors("ContainerStatus") == 3
                with caplog.at_level(logging.WARNING):
                    assert await sync.poll() == 0
                assert sync.errors("ContainerStatus") == 3
                # a failing list call raises, counted
                fake.fail["ListContainers"] = Status.UNAVAILABLE
                with pytest.raises(CriError, match="ListContainers"):
                    await sync.poll()
                assert sync.errors("ListContainers") == 1
                del fake.fail["ListContainers"]
                fake.fail["ListPodSandbox"] = Status.UNAVAILABLE
                fake.containers[CID_C] = FakeContainer(
                    CID_C, POD_1, "sidecar", "busybox", 77, f"/kubepods/besteffort/pod{UID_1}/{CID_C}"
                )
                with pytest.raises(CriError, match="ListPodSandbox"):
                    await sync.poll()
                assert sync.errors("ListPodSandbox") == 1
                del fake.fail["ListPodSandbox"]
                assert await sync.poll() == 1
            finally:
                sync.client.close()

    run_coro(main())
    family = metrics.counter("tetragon_cri_errors_total", "", ("call",))
    assert family.samples() == {("ContainerStatus",): 3, ("ListContainers",): 1, ("ListPodSandbox",): 1}


def test_sync_records_a_container_whose_sandbox_is_not_listed_yet(tmp_path: Path) -> None:
    fake = fake_cluster()
    fake.containers[CID_A].spec_annotations = {
        "io.kubernetes.cri.sandbox-name": "web-7d9f",
        "io.kubernetes.cri.sandbox-namespace": "shop",
        "io.kubernetes.cri.sandbox-uid": UID_1,
    }
    pod_1 = fake.sandboxes.pop(0)
    registry = ContainerRegistry()

    async def main() -> None:
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            sync = CriSync(CriClient(endpoint), registry)
            try:
                assert await sync.poll() == 2
                # from the OCI spec's annotations meanwhile, without labels
                a = registry.get(CID_A)
                assert a is not None and (a.pod_name, a.pod_namespace, a.pod_uid) == (
                    "web-7d9f",
                    "shop",
                    UID_1,
                )
                assert dict(a.pod_labels) == {}
                fake.sandboxes.append(pod_1)
                assert await sync.poll() == 1
                a = registry.get(CID_A)
                assert a is not None and dict(a.pod_labels) == {"app": "web", "tier": "front"}
                assert await sync.poll() == 0
            finally:
                sync.client.close()

    run_coro(main())


def test_sync_run_keeps_polling_through_an_outage(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sock = tmp_path / "cri.sock"
    registry = ContainerRegistry()

    async def until(cond: Callable[[], bool]) -> None:
        for _ in range(500):
            if cond():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("timed out")

    async def main() -> None:
        sync = CriSync(CriClient(f"unix://{sock}", timeout=1), registry, interval=0.02)
        task = asyncio.create_task(sync.run())
        try:
            # no runtime yet: Version fails, logged once, retried
            await until(lambda: sync.errors("Version") >= 3)
            assert not task.done()
            async with serving(fake_cluster(), sock):
                await until(lambda: len(registry) == 2)
            assert sync.runtime.startswith("containerd")
            # the runtime goes away: the list fails, run() carries on
            await until(lambda: sync.errors("ListContainers") >= 2)
            assert not task.done()
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            sync.client.close()

    with caplog.at_level(logging.INFO, logger="tetragon_core.cri._sync"):
        run_coro(main())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # one per outage
    assert "CRI Version on" in warnings[0] and "CRI ListContainers on" in warnings[1]
    assert [r.getMessage() for r in caplog.records].count(f"CRI endpoint unix://{sock} answers again") == 1
