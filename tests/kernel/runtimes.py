"""Real container runtimes for the kernel tests: podman, and containerd with runc, from Debian's
packages, started here by the tests, each with its state in a temporary directory.

No image registry can be reached, so the image is built here: a root filesystem holding
busybox-static and its applets, imported into podman (``podman import``) and, as an OCI image
archive written by :func:`oci_archive`, into containerd (``ctr images import``).

Both runtimes use the cgroupfs driver: this machine's PID 1 is not systemd, so the systemd driver
(which asks systemd over D-Bus to create each scope) cannot run. The systemd driver's cgroup
*names* (``docker-<id>.scope``, ``cri-containerd-<id>.scope`` under ``kubepods-….slice``) are still
made real, by giving runc those paths through ``ctr run --cgroup``: the kernel sees the same
cgroup a systemd-managed runtime would create.

Kubernetes pods are made without kubelet or crictl: :class:`CriPods` speaks containerd's CRI
(``runtime.v1``, through tetragon-core's own generated messages and client) to run pod sandboxes
on the host network (so no CNI plugin is needed) and containers in them, as kubelet would.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tetragon_core.api.cri import api_pb2 as cri
from tetragon_core.cri import CriClient

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "cat", "echo", "sleep", "true", "ls", "id")
# Raising a limit needs CAP_SYS_RESOURCE, which these machines' root lacks: podman's defaults
# (1M open files and processes) would fail in runc with EPERM, so ask for modest ones.
PODMAN_LIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")


def need(*tools: str) -> None:
    """Skip, naming the tool, when a runtime is not installed (the README's set-up installs them)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"container runtime not installed: {', '.join(missing)}")


def busybox_rootfs(dest: Path) -> Path:
    """A root filesystem of busybox-static and symlinks for :data:`APPLETS`."""
    (dest / "bin").mkdir(parents=True)
    (dest / "tmp").mkdir()
    (dest / "proc").mkdir()
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    for applet in APPLETS:
        (dest / "bin" / applet).symlink_to("busybox")
    return dest


def _layer(rootfs: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(rootfs, arcname=".")
    return buf.getvalue()


def oci_archive(rootfs: Path, dest: Path, images: dict[str, list[str]]) -> Path:
    """An OCI image-layout tar with one image per ``name: cmd`` of ``images``, all on one layer."""
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    layer = _layer(rootfs)
    layer_desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar", **blob(layer)}
    manifests = []
    for name, cmd in images.items():
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **blob(json.dumps(config).encode()),
            },
            "layers": [layer_desc],
        }
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **blob(json.dumps(manifest).encode()),
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": "latest",
                },
            }
        )
    index = {"schemaVersion": 2, "manifests": manifests}
    with tarfile.open(dest, "w") as tar:

        def put(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        put("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        put("index.json", json.dumps(index).encode())
        for digest, data in blobs.items():
            put("blobs/sha256/" + digest.split(":", 1)[1], data)
    return dest


def _run(cmd: list[str], timeout: float = 60) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


class Podman:
    """podman with its own storage (vfs) and run directories, the cgroupfs driver, no network."""

    def __init__(self) -> None:
        need("podman", "runc")
        # podman refuses a run root longer than 50 characters, so not under pytest's tmp_path
        self.base = base = Path(tempfile.mkdtemp(prefix="tg-podman-"))
        self._global = [
            "podman",
            "--root",
            str(base / "storage"),
            "--runroot",
            str(base / "run"),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "--runtime",
            "runc",
        ]

    def __call__(self, *args: str, timeout: float = 60) -> str:
        return _run([*self._global, *args], timeout)

    def import_rootfs(self, rootfs: Path, name: str) -> None:
        """``podman import`` of ``rootfs`` as image ``name``."""
        tarball = self.base / "rootfs.tar"
        tarball.write_bytes(_layer(rootfs))
        self("import", "--change", 'CMD ["/bin/sh"]', str(tarball), name)

    def run(self, image: str, *argv: str) -> str:
        """Run ``argv`` in a new container until it exits; returns the container's full id."""
        cidfile = self.base / f"cid-{time.monotonic_ns()}"
        self("run", "--rm", "--network", "none", *PODMAN_LIMITS, "--cidfile", str(cidfile), image, *argv)
        return cidfile.read_text().strip()

    def cleanup(self) -> None:
        subprocess.run([*self._global, "rm", "-af"], capture_output=True, timeout=60)
        subprocess.run([*self._global, "system", "reset", "-f"], capture_output=True, timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)


CONTAINERD_CONFIG = """\
version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{base}/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{base}/cni/bin"
    conf_dir = "{base}/cni/conf"
"""


class Containerd:
    """A containerd daemon of the test's own (runc through containerd-shim-runc-v2), its socket,
    root and state in a new directory; its CRI plugin uses :attr:`PAUSE` as the sandbox image."""

    PAUSE = "docker.io/library/tg-pause:latest"

    def __init__(self) -> None:
        need("containerd", "ctr", "runc", "containerd-shim-runc-v2")
        # short paths: the shims' unix sockets live under the state directory
        self.base = base = Path(tempfile.mkdtemp(prefix="tg-containerd-"))
        self.socket = base / "containerd.sock"
        for d in ("cni/bin", "cni/conf"):
            (base / d).mkdir(parents=True, exist_ok=True)
        self.config = base / "config.toml"
        self.config.write_text(CONTAINERD_CONFIG.format(base=base, pause=self.PAUSE))
        self._log = (base / "containerd.log").open("wb")
        self.proc = subprocess.Popen(
            ["containerd", "--config", str(self.config)], stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"containerd did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    @property
    def endpoint(self) -> str:
        """The CRI endpoint, as ``--cri-endpoint`` takes it."""
        return f"unix://{self.socket}"

    def log(self) -> str:
        return (self.base / "containerd.log").read_text(errors="replace")

    def ctr(self, *args: str, namespace: str = "k8s.io", timeout: float = 60) -> str:
        return _run(["ctr", "--address", str(self.socket), "--namespace", namespace, *args], timeout)

    def import_images(self, rootfs: Path, images: dict[str, list[str]]) -> None:
        """Import one image per ``name: cmd`` (all on ``rootfs``) with the native snapshotter."""
        archive = oci_archive(rootfs, self.base / "images.tar", images)
        self.ctr("images", "import", "--snapshotter", "native", "--all-platforms", str(archive))

    def run(self, image: str, container_id: str, cgroup: str, *argv: str) -> str:
        """``ctr run`` ``argv`` in container ``container_id`` placed in cgroup ``cgroup``; waits
        for it to exit and returns what it printed."""
        return self.ctr(
            "run", "--rm", "--snapshotter", "native", "--cgroup", cgroup, image, container_id, *argv
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        # the shims outlive containerd by design; the tests' containers are gone by now
        subprocess.run(
            ["pkill", "-f", f"containerd-shim-runc-v2 .*-address {self.socket}"], capture_output=True
        )
        subprocess.run(["umount", "-R", str(self.base / "state")], capture_output=True)
        # what is still mounted below (a CRI sandbox's shm, a task's rootfs), deepest first
        for mount in sorted(_mounts_under(self.base), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def _mounts_under(base: Path) -> list[str]:
    prefix = str(base) + "/"
    out = []
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 1:
            # /proc/mounts spells a space, tab, newline and backslash in octal
            target = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
            if target.startswith(prefix):
                out.append(target)
    return out


class CriPods:
    """Pod sandboxes and containers made through the CRI of a :class:`Containerd`, as kubelet
    makes them: host network, the cgroupfs driver's pod cgroup ``/kubepods/besteffort/pod<uid>``.
    :meth:`cleanup` stops and removes every one of them and their cgroups."""

    def __init__(self, daemon: Containerd) -> None:
        # starting a sandbox can take a while on a loaded machine
        self.client = CriClient(daemon.endpoint, timeout=120)
        self.sandboxes: list[str] = []
        self.containers: list[str] = []
        self.cgroups: list[str] = []

    async def run_pod(
        self, name: str, namespace: str, uid: str, labels: dict[str, str] | None = None
    ) -> tuple[str, cri.PodSandboxConfig]:
        """RunPodSandbox: the sandbox's id, and the config CreateContainer wants again."""
        parent = f"/kubepods/besteffort/pod{uid}"
        config = cri.PodSandboxConfig(
            metadata=cri.PodSandboxMetadata(name=name, namespace=namespace, uid=uid),
            labels=labels or {},
            linux=cri.LinuxPodSandboxConfig(
                cgroup_parent=parent,
                security_context=cri.LinuxSandboxSecurityContext(
                    namespace_options=cri.NamespaceOption(network=cri.NODE, pid=cri.CONTAINER, ipc=cri.POD)
                ),
            ),
        )
        self.cgroups.append(parent)
        reply = await self.client.call(
            "RunPodSandbox", cri.RunPodSandboxRequest(config=config), cri.RunPodSandboxResponse
        )
        self.sandboxes.append(reply.pod_sandbox_id)
        return reply.pod_sandbox_id, config

    async def create_container(
        self,
        sandbox_id: str,
        sandbox_config: cri.PodSandboxConfig,
        name: str,
        image: str,
        argv: list[str],
        labels: dict[str, str] | None = None,
    ) -> str:
        """CreateContainer running ``argv`` (not started yet); returns the container's id."""
        config = cri.ContainerConfig(
            metadata=cri.ContainerMetadata(name=name),
            image=cri.ImageSpec(image=image),
            command=argv,
            labels=labels or {},
            linux=cri.LinuxContainerConfig(
                security_context=cri.LinuxContainerSecurityContext(
                    namespace_options=cri.NamespaceOption(network=cri.NODE, pid=cri.CONTAINER, ipc=cri.POD)
                )
            ),
        )
        reply = await self.client.call(
            "CreateContainer",
            cri.CreateContainerRequest(
                pod_sandbox_id=sandbox_id, config=config, sandbox_config=sandbox_config
            ),
            cri.CreateContainerResponse,
        )
        self.containers.append(reply.container_id)
        return reply.container_id

    async def start_container(self, container_id: str) -> None:
        await self.client.call(
            "StartContainer", cri.StartContainerRequest(container_id=container_id), cri.StartContainerResponse
        )

    async def status(self, container_id: str) -> tuple[cri.ContainerStatus, dict[str, Any]]:
        """ContainerStatus (verbose): the status and containerd's info document (pid, OCI spec)."""
        reply = await self.client.call(
            "ContainerStatus",
            cri.ContainerStatusRequest(container_id=container_id, verbose=True),
            cri.ContainerStatusResponse,
        )
        return reply.status, json.loads(reply.info["info"])

    async def cleanup(self) -> list[str]:
        """Stop and remove every container and sandbox made here, and their cgroups; returns what
        failed (every step is tried)."""
        failed: list[str] = []

        async def attempt(rpc: str, request: Any, reply: Any) -> None:
            try:
                await self.client.call(rpc, request, reply)
            except Exception as e:
                failed.append(f"{rpc}: {e}")

        for cid in reversed(self.containers):
            await attempt(
                "StopContainer",
                cri.StopContainerRequest(container_id=cid, timeout=0),
                cri.StopContainerResponse,
            )
            await attempt(
                "RemoveContainer", cri.RemoveContainerRequest(container_id=cid), cri.RemoveContainerResponse
            )
        for sid in reversed(self.sandboxes):
            await attempt(
                "StopPodSandbox", cri.StopPodSandboxRequest(pod_sandbox_id=sid), cri.StopPodSandboxResponse
            )
            await attempt(
                "RemovePodSandbox",
                cri.RemovePodSandboxRequest(pod_sandbox_id=sid),
                cri.RemovePodSandboxResponse,
            )
        self.client.close()
        self.containers.clear()
        self.sandboxes.clear()
        return failed

    def remove_cgroups(self) -> None:
        """Remove the pods' cgroups (and their parents, when empty); after :meth:`cleanup`."""
        for parent in self.cgroups:
            remove_cgroup(parent)
        self.cgroups.clear()


def cgroup_v2_of(pid: int) -> str:
    """The pid's path in the cgroup v2 hierarchy (``0::`` line), or ""."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    return ""


def remove_cgroup(path: str) -> None:
    """Remove the directories of cgroup ``path`` runc left empty (its parents: runc removes only
    the leaf), in every hierarchy, deepest first; a directory still in use stays."""
    for mount in _cgroup_mounts():
        target = Path(mount + path)
        while target != Path(mount) and target.is_dir():
            try:
                target.rmdir()
            except OSError:
                break
            target = target.parent


def _cgroup_mounts() -> list[str]:
    out = []
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] in ("cgroup", "cgroup2"):
            out.append(fields[1])
    return out


__all__ = [
    "Containerd",
    "CriPods",
    "Podman",
    "busybox_rootfs",
    "cgroup_v2_of",
    "need",
    "oci_archive",
    "remove_cgroup",
]
