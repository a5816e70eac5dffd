"""Runtime-hook containers: the registry, and the pod info processes in them get."""

from __future__ import annotations

import json

import pytest

from tests.unit.test_process_manager import KERNEL, NODE, clock, clone_msg, eid, exec_msg, exit_msg
from tetragon_core.events import Container, Image, Pod, encode_json
from tetragon_core.process.cache import ProcessCache
from tetragon_core.process.containers import (
    ContainerError,
    ContainerRegistry,
    container_id_from_cgroup_path,
    pod_uid_from_cgroup_path,
)
from tetragon_core.process.manager import ProcessManager
from tetragon_core.process.messages import ExecKey

CID = "3f2a9b1c" * 8  # 64 hex characters
UID = "0b7e2d64-59f3-4c4e-9a43-3d1c6b1f2e11"
SYSTEMD_CGROUP = (
    "/kubepods.slice/kubepods-besteffort.slice/"
    f"kubepods-besteffort-pod{UID.replace('-', '_')}.slice/cri-containerd-{CID}.scope"
)


def _record(reg: ContainerRegistry, cid: str = CID) -> None:
    reg.record(
        container_id=f"containerd://{cid}",
        container_name="web",
        pod_name="web-7d9f",
        pod_namespace="shop",
        pod_uid=UID,
        image="nginx:1.27",
    )


def _pod(pid: int | None = None) -> Pod:
    return Pod(
        namespace="shop",
        name="web-7d9f",
        uid=UID,
        container=Container(id=f"containerd://{CID}", name="web", image=Image(name="nginx:1.27"), pid=pid),
    )


def test_recorded_container_is_found_by_id_runtime_prefix_and_docker_prefix() -> None:
    reg = ContainerRegistry()
    _record(reg)
    for key in (CID, f"containerd://{CID}", CID[:31]):
        info = reg.get(key)
        assert info is not None and info.container_name == "web", key
    assert reg.pod(CID[:31], nspid=7) == _pod(7)
    assert reg.pod(CID[:31]) == _pod()
    assert reg.pod("f" * 31) is None
    assert reg.get("nope") is None


def test_ids_and_names_come_from_the_cgroup_path_and_cri_annotations() -> None:
    assert container_id_from_cgroup_path(SYSTEMD_CGROUP) == CID
    assert container_id_from_cgroup_path(f"/kubepods/burstable/pod{UID}/{CID}/") == CID
    assert container_id_from_cgroup_path(f"/x/crio-conmon-{CID}.scope") == CID
    assert pod_uid_from_cgroup_path(SYSTEMD_CGROUP) == UID
    assert pod_uid_from_cgroup_path(f"/kubepods/burstable/pod{UID}/{CID}") == UID
    assert pod_uid_from_cgroup_path(f"/docker/{CID}") == ""

    reg = ContainerRegistry()
    info = reg.record(
        cgroups_path=SYSTEMD_CGROUP,
        annotations={
            "io.kubernetes.cri.container-name": "app",
            "io.kubernetes.cri.sandbox-name": "app-0",
            "io.kubernetes.cri.sandbox-namespace": "default",
            "io.kubernetes.cri.image-name": "busybox",
        },
    )
    assert (info.container_id, info.container_name, info.pod_name, info.pod_namespace) == (
        CID,
        "app",
        "app-0",
        "default",
    )
    assert info.pod_uid == UID and info.image == "busybox"
    # CRI-O's annotation names, and explicit fields winning over annotations.
    info = reg.record(
        container_id="abc",
        pod_name="explicit",
        annotations={"io.kubernetes.pod.name": "ignored", "io.kubernetes.pod.namespace": "crio-ns"},
    )
    assert (info.pod_name, info.pod_namespace) == ("explicit", "crio-ns")


@pytest.mark.parametrize(
    ("kwargs", "field", "reason"),
    [
        ({}, "containerID", "required when cgroupsPath is empty"),
        ({"cgroups_path": "/"}, "cgroupsPath", "no container id in '/'"),
        ({"container_id": "containerd://"}, "containerID", "has no id after the runtime prefix"),
    ],
)
def test_a_container_that_cannot_be_identified_names_the_field(
    kwargs: dict[str, str], field: str, reason: str
) -> None:
    reg = ContainerRegistry()
    with pytest.raises(ContainerError) as err:
        reg.record(**kwargs)
    assert err.value.field == field and reason in err.value.reason
    assert len(reg) == 0


def test_the_registry_is_bounded_and_rerecording_replaces() -> None:
    reg = ContainerRegistry(capacity=2)
    ids = [c * 64 for c in "abc"]
    for cid in ids:
        reg.record(container_id=cid, pod_name=cid[:3])
    assert reg.evicted == 1 and len(reg) == 2
    assert reg.get(ids[0]) is None and reg.pod(ids[0][:31]) is None
    reg.record(container_id=ids[1], pod_name="renamed")
    assert len(reg) == 2 and reg.evicted == 1
    assert [c.pod_name for c in reg.containers()] == ["ccc", "renamed"]
    with pytest.raises(ValueError, match="capacity"):
        ContainerRegistry(capacity=0)


def _manager(reg: ContainerRegistry) -> ProcessManager:
    return ProcessManager(ProcessCache(64), NODE, clock, procfs=None, containers=reg)


def test_an_exec_after_create_container_carries_the_pod() -> None:
    reg = ContainerRegistry()
    mgr = _manager(reg)
    _record(reg)
    shim = exec_msg(100, 1000, cgroup_name="")
    assert mgr.handle_exec(shim) is not None
    cgroup = f"cri-containerd-{CID}.scope"
    msg = exec_msg(200, 2000, ExecKey(100, 1000), filename="/usr/sbin/nginx", cgroup_name=cgroup)
    msg.nspid = 1
    ev = mgr.handle_exec(msg)
    assert ev is not None and ev.process_exec is not None and ev.process_exec.process is not None
    proc = ev.process_exec.process
    assert proc.docker == CID[:31]
    assert proc.pod == _pod(1)
    line = json.loads(encode_json(ev))["process_exec"]["process"]
    assert line["pod"] == {
        "namespace": "shop",
        "name": "web-7d9f",
        "uid": UID,
        "container": {"id": f"containerd://{CID}", "name": "web", "image": {"name": "nginx:1.27"}, "pid": 1},
    }
    # the host process has none
    assert ev.process_exec.parent is not None and ev.process_exec.parent.pod is None
    # a fork of it inherits the pod, with its own pid in the container
    fork = clone_msg(201, 2100, ExecKey(200, 2000))
    fork.nspid = 5
    mgr.handle_clone(fork)
    child = mgr.cache.get(eid(201, 2100))
    assert child is not None and child.process.pod == _pod(5)


def test_a_process_cached_before_its_container_was_recorded_gets_the_pod_later() -> None:
    reg = ContainerRegistry()
    mgr = _manager(reg)
    early = exec_msg(300, 3000, KERNEL, cgroup_name=f"docker-{CID}.scope")
    ev = mgr.handle_exec(early)
    assert ev is not None and ev.process_exec is not None and ev.process_exec.process is not None
    assert ev.process_exec.process.pod is None and ev.process_exec.process.docker == CID[:31]
    _record(reg)
    # its child's exec shows the parent with the pod; the child itself gets it from the cgroup
    kid = mgr.handle_exec(exec_msg(301, 3100, ExecKey(300, 3000), cgroup_name=f"docker-{CID}.scope"))
    assert kid is not None and kid.process_exec is not None and kid.process_exec.parent is not None
    assert kid.process_exec.parent.pod == _pod()
    assert kid.process_exec.process is not None and kid.process_exec.process.pod == _pod()
    ex = mgr.handle_exit(exit_msg(ExecKey(300, 3000)))
    assert ex is not None and ex.process_exit is not None and ex.process_exit.process is not None
    assert ex.process_exit.process.pod == _pod()


def test_without_a_registry_nothing_changes() -> None:
    mgr = ProcessManager(ProcessCache(64), NODE, clock, procfs=None)
    ev = mgr.handle_exec(exec_msg(400, 4000, cgroup_name=f"docker-{CID}.scope"))
    assert ev is not None and ev.process_exec is not None and ev.process_exec.process is not None
    assert ev.process_exec.process.pod is None and ev.process_exec.process.docker == CID[:31]


def test_a_pod_chain_counts_a_miss_once_and_only_when_no_source_knows_it() -> None:
    from tetragon_core.k8s import PodStore
    from tetragon_core.process.containers import PodSources

    store, reg = PodStore(), ContainerRegistry()
    misses: list[str] = []
    store.on_miss = lambda: misses.append("miss")
    store.count_misses = False
    chain = PodSources(store, reg, on_miss=store.miss)
    _record(reg)
    docker = CID[:31]
    # the runtime knows it, the API not yet: found, and no miss
    found = chain.pod(docker)
    assert found is not None and found.name == "web-7d9f" and misses == []
    assert chain.pod("a" * 31) is None and misses == ["miss"]  # nobody knows it: one miss
    assert chain.pod("") is None and misses == ["miss"]  # a host process is no miss
    # the store on its own still counts its misses
    alone = PodStore()
    alone.on_miss = lambda: misses.append("alone")
    assert alone.pod(docker) is None and misses == ["miss", "alone"]
