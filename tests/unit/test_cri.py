"""The CRI client (``--enable-cri``): the generated runtime.v1 subset, endpoints, cgroup paths,
and the client against the fake runtime of tests/fakecri.py (the poller: test_cri_sync.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from grpclib.const import Status

from tests.fakecri import (
    CID_A,
    CID_B,
    POD_1,
    POD_2,
    STARTED_NS,
    UID_1,
    UID_2,
    fake_cluster,
    run_coro,
    serving,
)
from tetragon_core.api.cri import api_pb2 as cri
from tetragon_core.cri import (
    DEFAULT_ENDPOINTS,
    CriClient,
    cgroup_path,
    default_endpoint,
    parse_endpoint,
)
from tetragon_core.exceptions import ConfigError, CriError

REPO_ROOT = Path(__file__).resolve().parents[2]

# -- the generated runtime.v1 subset ----------------------------------------------------------------


def test_generated_module_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "gen_cri_proto.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"run tools/gen_cri_proto.py: {done.stderr}"


@pytest.mark.parametrize(
    ("message", "field_name", "number"),
    [
        # the fields the client reads, numbered as k8s.io/cri-api's api.proto numbers them
        ("VersionResponse", "runtime_name", 2),
        ("VersionResponse", "runtime_api_version", 4),
        ("PodSandbox", "metadata", 2),
        ("PodSandbox", "labels", 5),
        ("PodSandboxMetadata", "uid", 2),
        ("PodSandboxMetadata", "namespace", 3),
        ("Container", "pod_sandbox_id", 2),
        ("Container", "state", 6),
        ("ContainerStatusRequest", "verbose", 2),
        ("ContainerStatusResponse", "info", 2),
        ("ContainerStatus", "started_at", 5),
        ("ContainerStatus", "image_ref", 9),
        ("ContainerStatus", "annotations", 13),
        ("ContainerStatus", "image_id", 17),
        ("PodSandboxConfig", "linux", 8),
        ("LinuxSandboxSecurityContext", "run_as_group", 8),
        ("LinuxContainerSecurityContext", "seccomp", 15),
        ("ContainerConfig", "linux", 15),
        ("ImageSpec", "user_specified_image", 18),
    ],
)
def test_wire_numbers_are_upstreams(message: str, field_name: str, number: int) -> None:
    assert cri.DESCRIPTOR.package == "runtime.v1"
    assert cri.DESCRIPTOR.message_types_by_name[message].fields_by_name[field_name].number == number


def test_service_path() -> None:
    service = cri.DESCRIPTOR.services_by_name["RuntimeService"]
    assert service.full_name == "runtime.v1.RuntimeService"
    assert {m.name for m in service.methods} >= {
        "Version",
        "ListPodSandbox",
        "ListContainers",
        "ContainerStatus",
    }
    assert cri.NODE == 2 and cri.CONTAINER_RUNNING == 1 and cri.SANDBOX_NOTREADY == 1


# -- parse_endpoint, default_endpoint --------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "path"),
    [
        ("unix:///run/containerd/containerd.sock", "/run/containerd/containerd.sock"),
        ("/run/crio/crio.sock", "/run/crio/crio.sock"),
        ("unix:///tmp/a b.sock", "/tmp/a b.sock"),
    ],
)
def test_parse_endpoint_takes_unix_urls_and_absolute_paths(endpoint: str, path: str) -> None:
    assert parse_endpoint(endpoint) == path


@pytest.mark.parametrize(
    "endpoint",
    ["tcp://127.0.0.1:1234", "npipe:////./pipe/containerd", "run/containerd.sock", "unix://run/x.sock", ""],
)
def test_parse_endpoint_refuses_the_rest_naming_the_flag(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="--cri-endpoint"):
        parse_endpoint(endpoint)


def test_client_refuses_a_bad_endpoint_at_construction() -> None:
    with pytest.raises(ConfigError, match="--cri-endpoint: 'tcp://x:1'"):
        CriClient("tcp://x:1")


def test_default_endpoint_is_the_first_socket_that_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DEFAULT_ENDPOINTS[0] == "unix:///run/containerd/containerd.sock"
    crio, dockerd = tmp_path / "crio.sock", tmp_path / "cri-dockerd.sock"
    candidates = (f"unix://{tmp_path}/containerd.sock", f"unix://{crio}", f"unix://{dockerd}")
    monkeypatch.setattr("tetragon_core.cri._client.DEFAULT_ENDPOINTS", candidates)
    with pytest.raises(ConfigError, match="--cri-endpoint: empty"):
        default_endpoint()
    dockerd.touch()
    assert default_endpoint() == f"unix://{dockerd}"
    crio.touch()
    assert default_endpoint() == f"unix://{crio}"


# -- cgroup_path ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        # cgroupfs driver: the path itself
        ("/kubepods/besteffort/pod1234/abcd", "/kubepods/besteffort/pod1234/abcd"),
        ("/docker/abcd", "/docker/abcd"),
        # systemd driver: slice:prefix:name, the slice expanded as systemd nests it
        (
            "kubepods-besteffort-pod1234.slice:cri-containerd:abcd",
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/"
            "cri-containerd-abcd.scope",
        ),
        ("kubepods-pod1234.slice:crio:abcd", "/kubepods.slice/kubepods-pod1234.slice/crio-abcd.scope"),
        ("system.slice:docker:abcd", "/system.slice/docker-abcd.scope"),
        ("-.slice:docker:abcd", "/docker-abcd.scope"),
        # no slice: runc's default parent
        (":cri-containerd:abcd", "/system.slice/cri-containerd-abcd.scope"),
        # a name asking for a slice is the unit itself
        ("kubepods.slice:x:kubepods-burstable.slice", "/kubepods.slice/kubepods-burstable.slice"),
        ("", ""),
    ],
)
def test_cgroup_path_resolves_both_drivers(spec: str, path: str) -> None:
    assert cgroup_path(spec) == path


# -- the client -------------------------------------------------------------------------------------


def test_client_reads_version_sandboxes_and_verbose_container_status(tmp_path: Path) -> None:
    fake = fake_cluster()

    async def main() -> None:
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            client = CriClient(endpoint)
            try:
                assert await client.version() == ("containerd", "1.6.20", "v1")
                pods = {s.id: s for s in await client.sandboxes()}
                assert pods[POD_1].name == "web-7d9f" and pods[POD_1].uid == UID_1
                assert sorted(await client.container_ids()) == [
                    (CID_A, POD_1, "CONTAINER_RUNNING"),
                    (CID_B, POD_2, "CONTAINER_RUNNING"),
                ]
                b = await client.container(CID_B)
            finally:
                client.close()
        assert b.sandbox_id == POD_2, "the sandbox comes from the verbose info when not given"
        assert b.pid == 4343
        assert b.state == "CONTAINER_RUNNING"
        assert b.cgroups_path == (
            "/kubepods.slice/kubepods-besteffort.slice/"
            f"kubepods-besteffort-pod{UID_2.replace('-', '_')}.slice/cri-containerd-{CID_B}.scope"
        )
        assert b.image == "docker.io/library/postgres:16" and b.image_ref == "sha256:" + "e" * 64
        assert b.started_at_ns == STARTED_NS
        # the OCI spec's annotations under the container's own
        assert b.annotations["io.kubernetes.cri.sandbox-id"] == POD_2
        assert b.annotations["io.kubernetes.container.hash"] == "1234"

    run_coro(main())


def test_client_survives_verbose_info_it_cannot_read(tmp_path: Path) -> None:
    fake = fake_cluster()
    statuses: list[dict[str, str]] = [
        {},
        {"info": "not json"},
        {"info": '["a list"]'},
        {"info": '{"pid": true}'},
    ]

    async def status(request: cri.ContainerStatusRequest) -> cri.ContainerStatusResponse:
        reply = fake.containers[CID_A].status()
        reply.info.clear()
        reply.info.update(statuses.pop(0))
        return reply

    fake.status = status  # type: ignore[method-assign]

    async def main() -> None:
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            client = CriClient(endpoint)
            try:
                for _ in range(4):
                    c = await client.container(CID_A, POD_1)
                    assert (c.id, c.name, c.pid, c.cgroups_path) == (CID_A, "nginx", 0, "")
            finally:
                client.close()

    run_coro(main())


def test_client_errors_name_the_endpoint_and_the_call(tmp_path: Path) -> None:
    fake = fake_cluster()
    fake.fail["ListPodSandbox"] = Status.UNAVAILABLE

    async def main() -> None:
        missing = CriClient(f"unix://{tmp_path}/nothing.sock")
        with pytest.raises(
            CriError, match=rf"CRI Version on unix://{tmp_path}/nothing.sock: FileNotFoundError"
        ):
            await missing.version()
        async with serving(fake, tmp_path / "cri.sock") as endpoint:
            client = CriClient(endpoint, timeout=0.5)
            try:
                with pytest.raises(
                    CriError, match=rf"CRI ListPodSandbox on {endpoint}: UNAVAILABLE: ListPodSandbox refused"
                ):
                    await client.sandboxes()
                with pytest.raises(CriError, match=rf"CRI ContainerStatus on {endpoint}: NOT_FOUND"):
                    await client.container("f" * 64)
                fake.delay = 2.0
                with pytest.raises(CriError, match=rf"CRI Version on {endpoint}: "):
                    await client.version()
                fake.delay = 0.0
                # the client reconnects after a failure
                assert (await client.version())[0] == "containerd"
            finally:
                client.close()

    run_coro(main())


def test_client_reconnects_after_the_runtime_restarts(tmp_path: Path) -> None:
    sock = tmp_path / "cri.sock"

    async def main() -> None:
        client = CriClient(f"unix://{sock}")
        try:
            async with serving(fake_cluster(), sock):
                assert (await client.version())[0] == "containerd"
            with pytest.raises(CriError, match="CRI Version on"):
                await client.version()
            async with serving(fake_cluster(), sock):
                assert (await client.version())[0] == "containerd"
        finally:
            client.close()

    run_coro(main())
