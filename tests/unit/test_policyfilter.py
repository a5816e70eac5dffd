"""The policy filter's table (no kernel): scopes, label selectors, cgroup lookup on a directory
tree standing in for the cgroup hierarchy, and the map entries it keeps, applied as diffs."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from tetragon_core.exceptions import BpfMapError, MapKeyNotFound
from tetragon_core.k8s import decode_pod
from tetragon_core.metrics import Registry
from tetragon_core.policy import parse_policy
from tetragon_core.policy.model import LabelSelector, LabelSelectorRequirement
from tetragon_core.policy.registry import PolicyRegistry
from tetragon_core.policyfilter import (
    CgroupFinder,
    PodContainer,
    PodView,
    PolicyFilter,
    Scope,
    cgroup2_root,
    scope_of,
    selector_matches,
)
from tetragon_core.policyfilter.sources import view_of_pod

CID_A = "a" * 64
CID_B = "b" * 64
CID_H = "c" * 64


class FakeMap:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.ops: list[tuple[str, bytes]] = []
        self.fail = False

    def update(self, key: bytes, value: bytes) -> None:
        if self.fail:
            raise BpfMapError("map update failed: No space left on device", 28)
        self.ops.append(("update", key))
        self.data[key] = value

    def delete(self, key: bytes) -> None:
        self.ops.append(("delete", key))
        if key not in self.data:
            raise MapKeyNotFound("key not found", 2)
        del self.data[key]


def policy(doc: str) -> Scope | None:
    return scope_of(parse_policy(doc))


TP = """apiVersion: cilium.io/v1alpha1
kind: {kind}
metadata: {{name: p, namespace: ns-a}}
spec:
{extra}
  tracepoints:
  - {{subsystem: syscalls, event: sys_enter_openat}}
"""


def test_scopes() -> None:
    assert policy(TP.format(kind="TracingPolicy", extra="")) is None  # not scoped: no filter
    ns = policy(TP.format(kind="TracingPolicyNamespaced", extra=""))
    assert ns == Scope(namespace="ns-a", host=False, pods=True)
    sel = policy(TP.format(kind="TracingPolicy", extra="  podSelector: {matchLabels: {app: web}}"))
    assert sel is not None and sel.pod_selector is not None and not sel.host and sel.pods
    host = policy(TP.format(kind="TracingPolicy", extra="  hostSelector: {}"))
    assert host == Scope(host=True, pods=False)
    both = policy(TP.format(kind="TracingPolicy", extra="  hostSelector: {}\n  podSelector: {}"))
    assert both is not None and both.host and both.pods


@pytest.mark.parametrize(
    ("sel", "labels", "want"),
    [
        (LabelSelector(), {}, True),
        (LabelSelector({"app": "web"}), {"app": "web", "x": "1"}, True),
        (LabelSelector({"app": "web"}), {"app": "db"}, False),
        (
            LabelSelector(match_expressions=[LabelSelectorRequirement("t", "In", ["a", "b"])]),
            {"t": "b"},
            True,
        ),
        (LabelSelector(match_expressions=[LabelSelectorRequirement("t", "In", ["a"])]), {}, False),
        (LabelSelector(match_expressions=[LabelSelectorRequirement("t", "NotIn", ["a"])]), {}, True),
        (LabelSelector(match_expressions=[LabelSelectorRequirement("t", "NotIn", ["a"])]), {"t": "a"}, False),
        (LabelSelector(match_expressions=[LabelSelectorRequirement("t", "Exists")]), {"t": ""}, True),
        (LabelSelector(match_expressions=[LabelSelectorRequirement("t", "DoesNotExist")]), {"t": ""}, False),
    ],
)
def test_label_selectors(sel: LabelSelector, labels: dict[str, str], want: bool) -> None:
    assert selector_matches(sel, labels) is want


def test_pod_selector_sees_the_namespace_label() -> None:
    scope = Scope(pod_selector=LabelSelector({"k8s:io.kubernetes.pod.namespace": "ns-b"}))
    c = PodContainer("main", CID_A)
    assert scope.applies(PodView("u", "ns-b", "p", {}, (c,)), c)
    assert not scope.applies(PodView("u", "ns-a", "p", {}, (c,)), c)


def cgroup_tree(root: Path) -> dict[str, int]:
    """A cgroupfs-driver kubelet layout, a systemd-driver one, and podman's conmon beside its container."""
    paths = {
        CID_A: root / "kubepods" / "besteffort" / "poduid-a" / CID_A,
        CID_B: root / "kubepods.slice" / "kubepods-pod_b.slice" / f"cri-containerd-{CID_B}.scope",
        CID_H: root / "machine.slice" / f"libpod-{CID_H}.scope",
    }
    for p in paths.values():
        p.mkdir(parents=True)
    (root / "machine.slice" / f"libpod-conmon-{CID_H}.scope").mkdir()
    (paths[CID_A] / "sub").mkdir()  # a container's own sub-cgroup counts as the container's
    return {cid: os.stat(p).st_ino for cid, p in paths.items()}


def test_finder_finds_each_layout(tmp_path: Path) -> None:
    ino = cgroup_tree(tmp_path)
    finder = CgroupFinder(str(tmp_path))
    got = finder.find_all({CID_A: "", CID_B: "", CID_H: "", "d" * 64: ""})
    assert set(got) == {CID_A, CID_B, CID_H}
    assert got[CID_A][1] == [
        ino[CID_A],
        os.stat(tmp_path / "kubepods/besteffort/poduid-a" / CID_A / "sub").st_ino,
    ]
    assert got[CID_H][0].endswith(f"libpod-{CID_H}.scope")  # not the conmon cgroup
    hinted = finder.find(CID_A, f"/kubepods/besteffort/poduid-a/{CID_A}")
    assert hinted is not None and hinted[1][0] == ino[CID_A]


def test_cgroup2_root_reads_mountinfo(tmp_path: Path) -> None:
    mi = tmp_path / "mountinfo"
    mi.write_text(
        "30 23 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro\n"
        "35 30 0:30 / /sys/fs/cgroup/unified rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate\n"
    )
    assert cgroup2_root(str(mi)) == "/sys/fs/cgroup/unified"
    assert cgroup2_root(str(tmp_path / "none")) == ""


def key(policy_id: int, cg: int) -> bytes:
    return struct.pack("<IIQ", policy_id, 0, cg)


def test_the_table_follows_policies_and_pods(tmp_path: Path) -> None:
    ino = cgroup_tree(tmp_path)
    polf, pods = FakeMap(), FakeMap()
    reg = Registry()
    pf = PolicyFilter(polf, pods, reg, CgroupFinder(str(tmp_path)))
    pf.add_policy(1, Scope(namespace="ns-a"))
    pf.add_policy(2, Scope(pod_selector=LabelSelector({"app": "db"}), host=True))
    pf.add_policy(3, Scope(container_selector=LabelSelector({"name": "side"})))
    assert pf.entries() == ({(2, 0)}, set())  # host processes only, no pod known yet
    a = PodView("ua", "ns-a", "web", {"app": "web"}, (PodContainer("main", CID_A),))
    b = PodView("ub", "ns-b", "db", {"app": "db"}, (PodContainer("side", CID_B),))
    pf.pod_upsert(a)
    pf.pod_upsert(b)
    pf.sync()
    sub = os.stat(tmp_path / "kubepods/besteffort/poduid-a" / CID_A / "sub").st_ino
    assert pf.entries() == (
        {(1, ino[CID_A]), (1, sub), (2, ino[CID_B]), (3, ino[CID_B]), (2, 0)},
        {ino[CID_A], sub, ino[CID_B]},
    )
    assert polf.data == {key(p, cg): b"\x01" for p, cg in pf.entries()[0]}
    # the pod's labels change: policy 2 no longer applies to it
    pf.pod_upsert(PodView("ub", "ns-b", "db", {"app": "cache"}, b.containers))
    pf.sync()
    assert (2, ino[CID_B]) not in pf.entries()[0] and (3, ino[CID_B]) in pf.entries()[0]
    pf.pod_delete("ua")
    pf.remove_policy(3)
    pf.sync()
    assert pf.entries() == ({(2, 0)}, {ino[CID_B]})
    assert set(polf.data) == {key(2, 0)} and set(pods.data) == {struct.pack("<Q", ino[CID_B])}
    ops = reg["tetragon_policyfilter_operations_total"]
    assert ops.get("pod-handlers", "add", "") == 2
    assert ops.get("pod-handlers", "update", "") == 1
    assert ops.get("pod-handlers", "delete", "") == 1


def test_unresolved_containers_are_found_later_and_failures_counted(tmp_path: Path) -> None:
    polf, pods = FakeMap(), FakeMap()
    reg = Registry()
    pf = PolicyFilter(polf, pods, reg, CgroupFinder(str(tmp_path)))
    pf.add_policy(1, Scope(namespace="ns-a"))
    pf.pod_upsert(PodView("ua", "ns-a", "web", {}, (PodContainer("main", CID_A),)))
    pf.sync()
    assert pf.unresolved == 1 and pf.entries() == (set(), set())
    ino = cgroup_tree(tmp_path)  # the runtime made the cgroup now
    pf.sync()
    assert pf.unresolved == 0 and (1, ino[CID_A]) in pf.entries()[0]
    polf.fail = True
    pf.add_policy(4, Scope(namespace="ns-a"))
    assert (4, ino[CID_A]) not in pf.entries()[0]  # not pretended
    assert reg["tetragon_policyfilter_operations_total"].get("pod-handlers", "update", "generic-error") == 1
    polf.fail = False
    pf.sync()
    assert (4, ino[CID_A]) in pf.entries()[0]
    # a pod seen again in another namespace is a conflict (counted), and the new one is kept
    pf.pod_upsert(PodView("ua", "ns-x", "web", {}, (PodContainer("main", CID_A),)))
    assert (
        reg["tetragon_policyfilter_operations_total"].get("pod-handlers", "update", "pod-namespace-conflict")
        == 1
    )


def test_view_of_an_api_pod() -> None:
    pod = decode_pod(
        {
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "labels": {"app": "web"}},
            "status": {
                "containerStatuses": [
                    {"name": "main", "containerID": f"containerd://{CID_A}"},
                    {"name": "waiting"},  # not started: no id, no cgroup yet
                ]
            },
        }
    )
    assert view_of_pod(pod) == PodView("u1", "shop", "web", {"app": "web"}, (PodContainer("main", CID_A),))


NAMESPACED = """apiVersion: cilium.io/v1alpha1
kind: TracingPolicyNamespaced
metadata: {name: scoped, namespace: ns-a}
spec:
  tracepoints:
  - {subsystem: syscalls, event: sys_enter_openat}
"""


def test_the_registry_loads_a_scoped_policy_only_with_the_filter() -> None:
    class Handle:
        def __init__(self) -> None:
            self.unloaded = False

        def enable(self) -> None: ...
        def disable(self) -> None: ...
        def set_mode(self, mode: str) -> None: ...
        def unload(self) -> None:
            self.unloaded = True

        def kernel_memory(self) -> int:
            return 0

        def stats(self) -> dict[str, int]:
            return {}

    seen: list[tuple[int, set[int]]] = []

    class Filter:
        def __init__(self) -> None:
            self.policies: dict[int, Scope] = {}

        def add_policy(self, policy_id: int, scope: Scope) -> None:
            self.policies[policy_id] = scope

        def remove_policy(self, policy_id: int) -> None:
            self.policies.pop(policy_id)

    pf = Filter()

    def loader(entry):  # type: ignore[no-untyped-def]
        seen.append((entry.filter_id, set(pf.policies)))  # the table has it before the load
        return [Handle()]

    reg = PolicyRegistry(lambda: {"generic_tracepoint"}, loader)
    refused = reg.add(NAMESPACED)
    assert refused.state == "load_error" and "metadata.namespace" in refused.error
    assert "--enable-policy-filter" in refused.error
    reg.delete("scoped", "ns-a")
    reg.policy_filter = pf
    entry = reg.add(NAMESPACED)
    assert entry.state == "enabled" and entry.filter_id == entry.id
    assert seen == [(entry.id, {entry.id})]
    assert pf.policies[entry.id] == Scope(namespace="ns-a")
    plain = reg.add(NAMESPACED.replace("TracingPolicyNamespaced", "TracingPolicy").replace("scoped", "plain"))
    assert plain.filter_id == 0 and set(pf.policies) == {entry.id}
    reg.delete("scoped", "ns-a")
    assert pf.policies == {}
    node = reg.add(NAMESPACED.replace("spec:\n", "spec:\n  nodeSelector: {matchLabels: {a: b}}\n"))
    assert node.state == "load_error" and "spec.nodeSelector" in node.error
