"""Namespaced and pod-selecting policies never act on the whole host (no policy filter yet).

A Sigkill policy that matches a host ``cat`` is given with each scope field, through each entry
point (--tracing-policy, --tracing-policy-dir, tetra tp add): the cat survives, every policy is
listed in load_error naming its field and the missing policy filter, and no program is loaded for
them. The same policy without a scope kills the cat, so the test can tell the difference.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.kernel.test_grpc import _port
from tests.kernel.test_tracepoint_policies import Tetra, add, copy_bin, openat_policy


def _progs() -> set[int]:
    """Ids of the loaded programs of tetragon-core's sensors (tg_* and generic_*)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True)
    return {p["id"] for p in json.loads(out.stdout) if p.get("name", "").startswith(("tg_", "generic_"))}


_ACTIONS = "      matchActions:\n      - action: Sigkill\n"


def _scoped(name: str, forbidden: Path, killer: str, scope: str) -> str:
    """The Sigkill policy ``name`` with ``scope`` applied (kind, metadata or spec lines)."""
    text = openat_policy(name, str(forbidden), binary=killer, actions=_ACTIONS)
    if scope == "namespace":
        text = text.replace("kind: TracingPolicy\n", "kind: TracingPolicyNamespaced\n")
        return text.replace(f"  name: {name}\n", f"  name: {name}\n  namespace: team-a\n")
    selector = {
        "podSelector": "  podSelector:\n    matchLabels: {app: web}\n",
        "emptyPodSelector": "  podSelector: {}\n",
        "containerSelector": "  containerSelector:\n    matchExpressions:\n"
        "    - {key: name, operator: In, values: [main]}\n",
        "hostSelector": "  hostSelector: {}\n",
        "nodeSelector": "  nodeSelector:\n    matchLabels: {role: edge}\n",
    }[scope]
    return text.replace("spec:\n", "spec:\n" + selector, 1)


def test_scoped_sigkill_policies_leave_a_host_cat_alive(start_agent, tmp_path: Path) -> None:
    forbidden = tmp_path / "forbidden"
    forbidden.write_text("secret")
    killer = copy_bin(tmp_path, "/bin/cat", "cat-scoped")
    tpdir = tmp_path / "tp.d"
    tpdir.mkdir()
    (tpdir / "ns.yaml").write_text(_scoped("ns-kill", forbidden, killer, "namespace"))
    (tpdir / "pod.yaml").write_text(_scoped("pod-kill", forbidden, killer, "podSelector"))
    (tpdir / "allpods.yaml").write_text(_scoped("allpods-kill", forbidden, killer, "emptyPodSelector"))
    flag_file = tmp_path / "container.yaml"
    flag_file.write_text(_scoped("container-kill", forbidden, killer, "containerSelector"))
    before = _progs()
    addr = f"127.0.0.1:{_port()}"
    start_agent(
        "--server-address", addr, "--tracing-policy-dir", str(tpdir), "--tracing-policy", str(flag_file)
    )
    tetra = Tetra(addr)
    for name, scope in (
        ("tetra-ns-kill", "namespace"),
        ("host-kill", "hostSelector"),
        ("node-kill", "nodeSelector"),
    ):
        f = tmp_path / f"{name}.yaml"
        f.write_text(_scoped(name, forbidden, killer, scope))
        r = tetra("tp", "add", str(f))
        assert r.returncode != 0 and "failed to load" in r.stderr, r
    agent_progs = _progs() - before  # the base sensor's only: no policy reached the kernel

    r = subprocess.run([killer, str(forbidden)], capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout == b"secret", r

    policies = tetra.policies()
    want = {
        "ns-kill": "metadata.namespace: a TracingPolicyNamespaced applies only to the pods of "
        "namespace 'team-a'",
        "tetra-ns-kill": "metadata.namespace: ",
        "pod-kill": "spec.podSelector: ",
        "allpods-kill": "spec.podSelector: ",
        "container-kill": "spec.containerSelector: ",
        "host-kill": "spec.hostSelector: ",
        "node-kill": "spec.nodeSelector: ",
    }
    assert set(policies) == set(want)
    for name, head in want.items():
        p = policies[name]
        assert p["state"] == "TP_STATE_LOAD_ERROR", p
        assert p["error"].startswith(head), p
        assert "--enable-policy-filter" in p["error"] or "--enable-k8s-api" in p["error"], p
        assert p["error"].endswith(
            "not loaded, so it matches no process (it is never applied to the whole host)"
        )

    # the control: the same policy for the whole host kills that cat at the same openat
    add(tetra, tmp_path, openat_policy("host-wide-kill", str(forbidden), binary=killer, actions=_ACTIONS))
    assert len(_progs() - before) > len(agent_progs)
    k = subprocess.run([killer, str(forbidden)], capture_output=True, timeout=30)
    assert k.returncode == -9 and k.stdout == b"", k
