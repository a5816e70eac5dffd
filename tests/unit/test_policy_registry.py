"""The policy registry: states, errors and isolation between policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.registry import (
    PolicyExists,
    PolicyNotFound,
    PolicyRegistry,
    PolicyStateError,
)

POLICIES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "policies"


def _text(name: str) -> str:
    return (POLICIES / name).read_text()


def test_a_section_without_its_sensor_is_a_load_error_with_the_reason() -> None:
    reg = PolicyRegistry(lambda: {"execve"})
    e = reg.add(_text("write.yaml"))
    assert e.state == "load_error"
    assert e.sensors == ["generic_kprobe"]
    assert (
        e.error
        == "spec.kprobes: no installed sensor serves this section (requires the generic_kprobe sensor plugin)"
    )
    with pytest.raises(PolicyStateError, match="cannot enable"):
        reg.set_enabled(e.policy.name, "", True)


def test_a_served_section_is_enabled_and_can_be_toggled() -> None:
    reg = PolicyRegistry(lambda: {"generic_tracepoint"})
    e = reg.add(_text("rawtp.yaml"))
    assert e.state == "enabled" and e.mode == "enforce"
    assert reg.set_enabled(e.policy.name, "", False).state == "disabled"
    assert reg.set_mode(e.policy.name, "", "monitor").mode == "monitor"
    with pytest.raises(PolicyError, match="unknown policy mode"):
        reg.set_mode(e.policy.name, "", "audit")


def test_names_are_unique_and_one_failure_leaves_the_others() -> None:
    reg = PolicyRegistry(lambda: set())
    a = reg.add(_text("write.yaml"))
    with pytest.raises(PolicyExists, match="already exists"):
        reg.add(_text("write.yaml"))
    with pytest.raises(PolicyError, match="apiVersion"):
        reg.add("apiVersion: v2\nkind: TracingPolicy\nmetadata: {name: x}\nspec: {}\n")
    assert [e.policy.name for e in reg.list()] == [a.policy.name]
    reg.delete(a.policy.name)
    with pytest.raises(PolicyNotFound):
        reg.delete(a.policy.name)
    assert reg.list() == []


_SCOPED = """apiVersion: cilium.io/v1alpha1
kind: {kind}
metadata:
  name: scoped
{meta}spec:
{spec}  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    selectors:
    - matchActions: [{{action: Sigkill}}]
"""


@pytest.mark.parametrize(
    ("kind", "meta", "spec", "field"),
    [
        ("TracingPolicyNamespaced", "  namespace: team-a\n", "", "metadata.namespace"),
        ("TracingPolicy", "", "  podSelector: {matchLabels: {app: web}}\n", "spec.podSelector"),
        ("TracingPolicy", "", "  podSelector: {}\n", "spec.podSelector"),
        ("TracingPolicy", "", "  containerSelector: {matchLabels: {name: main}}\n", "spec.containerSelector"),
        ("TracingPolicy", "", "  hostSelector: {}\n", "spec.hostSelector"),
        ("TracingPolicy", "", "  nodeSelector: {matchLabels: {role: edge}}\n", "spec.nodeSelector"),
    ],
)
def test_a_scope_without_the_policy_filter_never_loads(kind: str, meta: str, spec: str, field: str) -> None:
    loaded: list[object] = []
    reg = PolicyRegistry(lambda: {"generic_tracepoint"}, loader=lambda e: loaded.append(e) or [])
    e = reg.add(_SCOPED.format(kind=kind, meta=meta, spec=spec))
    assert e.state == "load_error" and loaded == []
    assert e.error.startswith(f"{field}: ")
    assert e.error.endswith("not loaded, so it matches no process (it is never applied to the whole host)")
    want = "--enable-k8s-api" if field == "spec.nodeSelector" else "--enable-policy-filter"
    assert want in e.error
    with pytest.raises(PolicyStateError, match="cannot enable"):
        reg.set_enabled("scoped", e.policy.namespace, True)


def test_every_scope_field_is_named_in_one_error() -> None:
    reg = PolicyRegistry(lambda: {"generic_tracepoint"})
    text = _SCOPED.format(
        kind="TracingPolicyNamespaced",
        meta="  namespace: ns\n",
        spec="  podSelector: {}\n  containerSelector: {}\n",
    )
    err = reg.add(text).error
    assert [part.split(":")[0] for part in err.split("; ")[:3]] == [
        "metadata.namespace",
        "spec.podSelector",
        "spec.containerSelector",
    ]
