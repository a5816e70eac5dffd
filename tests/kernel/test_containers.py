"""Containerised processes carry their container id (``process.docker``), read from the cgroup as
upstream does, with real runtimes: podman, and containerd with runc (tests/kernel/runtimes.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.conftest import execs, exits
from tests.kernel.runtimes import Containerd, Podman, busybox_rootfs, remove_cgroup

IMAGE = "docker.io/library/tg-busybox:latest"


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busybox_rootfs(tmp_path_factory.mktemp("image") / "rootfs")


@pytest.fixture(scope="module")
def containerd(rootfs: Path) -> Iterator[Containerd]:
    daemon = Containerd()
    try:
        daemon.import_images(rootfs, {IMAGE: ["/bin/sh"], Containerd.PAUSE: ["/bin/sleep", "86400"]})
        yield daemon
    finally:
        daemon.stop()


def _token() -> str:
    return "ctr" + uuid.uuid4().hex[:12]


def inside(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events not of the runtimes' own commands (their arguments hold the token too)."""
    return [e for e in events if not e["process"]["binary"].endswith(("/podman", "/ctr"))]


def _with(evs: list[dict[str, Any]], token: str) -> list[dict[str, Any]]:
    return [e for e in execs(evs) if token in e["process"].get("arguments", "")]


def _exits_with(evs: list[dict[str, Any]], token: str) -> list[dict[str, Any]]:
    return [e for e in exits(evs) if token in e["process"].get("arguments", "")]


def test_podman_container_processes_carry_its_id(start_agent, rootfs: Path) -> None:
    podman = Podman()
    try:
        podman.import_rootfs(rootfs, "localhost/tg-busybox")
        agent = start_agent()
        token = _token()
        cid = podman.run("localhost/tg-busybox", "/bin/sh", "-c", f"/bin/echo {token}; /bin/true {token}")
    finally:
        podman.cleanup()
    assert len(cid) == 64, cid

    evs = agent.wait_for(
        lambda evs: len(inside(_with(evs, token))) >= 3 and len(inside(_exits_with(evs, token))) >= 2
    )
    # the shell podman started and the two commands it ran; busybox's shell runs the last one in
    # its own process (an exec without a fork), so two processes exit
    started = inside(_with(evs, token))
    assert len(started) == 3, [e["process"]["arguments"] for e in started]
    ended = inside(_exits_with(evs, token))
    assert len(ended) == 2, [e["process"]["arguments"] for e in ended]
    for ev in started + ended:
        assert ev["process"]["docker"] == cid[:31], ev["process"]
    # the runtime itself (podman, conmon) is not in the container
    runtime = [e for e in execs(evs) if e["process"]["binary"].endswith(("/podman", "/conmon"))]
    assert runtime and all("docker" not in e["process"] for e in runtime), runtime


# Cgroup paths as each runtime and cgroup driver names them. runc here has the cgroupfs driver
# (PID 1 is not systemd), so the systemd driver's names are given as paths: the kernel's cgroup is
# the same as a systemd-managed runtime's.
LAYOUTS = {
    "docker cgroupfs": "/docker/{cid}",
    "docker systemd": "/system.slice/docker-{cid}.scope",
    "containerd default": "/k8s.io/{cid}",
    "kubelet cgroupfs": "/kubepods/besteffort/pod{uid}/{cid}",
    "kubelet systemd containerd": (
        "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/cri-containerd-{cid}.scope"
    ),
    "kubelet systemd cri-o": "/kubepods.slice/kubepods-pod{uid_}.slice/crio-{cid}.scope",
}


def test_containerd_runc_container_ids_under_every_cgroup_layout(start_agent, containerd: Containerd) -> None:
    agent = start_agent()
    ran: dict[str, tuple[str, str]] = {}
    for layout, template in LAYOUTS.items():
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        uid = str(uuid.uuid4())
        cgroup = template.format(cid=cid, uid=uid, uid_=uid.replace("-", "_"))
        token = _token()
        try:
            out = containerd.run(
                IMAGE, cid, cgroup, "/bin/sh", "-c", f"/bin/cat /proc/self/cgroup; /bin/true {token}"
            )
        finally:
            remove_cgroup(cgroup)
        assert f"0::{cgroup}" in out.splitlines(), (layout, out)
        ran[layout] = (cid, token)

    tokens = [t for _, t in ran.values()]
    evs = agent.wait_for(
        lambda evs: all(len(inside(_with(evs, t))) >= 1 and inside(_exits_with(evs, t)) for t in tokens)
    )
    wrong = {}
    for layout, (cid, token) in ran.items():
        got = {e["process"].get("docker", "") for e in inside(_with(evs, token) + _exits_with(evs, token))}
        if got != {cid[:31]}:
            wrong[layout] = (cid[:31], got)
    assert not wrong, wrong
