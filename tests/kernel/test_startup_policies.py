"""--tracing-policy and --tracing-policy-dir at start, seen through the gRPC API."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.kernel.conftest import ROOT, TETRAGON
from tests.kernel.test_grpc import _port
from tetragon_core.probes import has_bpf_lsm

TETRA = str(Path(sys.executable).with_name("tetra"))
POLICIES = ROOT.parent / "shared" / "reference" / "policies"


def test_policies_from_the_directory_and_the_flag_are_registered(start_agent, tmp_path: Path) -> None:
    d = tmp_path / "tp.d"
    (d / "sub").mkdir(parents=True)
    shutil.copy(POLICIES / "write.yaml", d / "write.yaml")
    shutil.copy(POLICIES / "lsm_file_open.yaml", d / "sub" / "lsm.yaml")
    (d / "broken.yaml").write_text(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: b}\nspec: {bogus: 1}\n"
    )
    addr = f"127.0.0.1:{_port()}"
    agent = start_agent(
        "--server-address",
        addr,
        "--tracing-policy-dir",
        str(d),
        "--tracing-policy",
        str(POLICIES / "rawtp.yaml"),
    )
    out = subprocess.run(
        [TETRA, "--server-address", addr, "tp", "list", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    policies = {p["name"]: p for p in json.loads(out.stdout)["policies"]}
    assert len(policies) == 3  # the broken one is logged and skipped, the others kept
    assert {p["sensors"][0] for p in policies.values()} == {
        "generic_kprobe",
        "generic_lsm",
        "generic_tracepoint",
    }
    # write.yaml is a syscall kprobe: a kprobe, or on a kernel without kprobes a syscall tracepoint
    assert policies["sys-write"]["state"] == "TP_STATE_ENABLED", policies["sys-write"]
    assert policies["rawtp"]["state"] == "TP_STATE_ENABLED", policies["rawtp"]  # raw tp, linux_binprm
    assert policies["lsm-file-open"]["state"] == "TP_STATE_LOAD_ERROR"
    # a missing kernel feature is named; else the missing sensor plugin is
    lsm_reason = "spec.lsmhooks: requires BPF LSM" if not has_bpf_lsm() else "requires the generic_lsm"
    assert lsm_reason in policies["lsm-file-open"]["error"]
    err = agent.stderr.read_text()
    assert "broken.yaml" in err and "spec.bogus" in err


def test_a_malformed_tracing_policy_file_stops_the_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: b}\nspec: {bogus: 1}\n"
    )
    r = subprocess.run(
        [TETRAGON, "--server-address", "", "--bpf-dir", "tp-bad", "--tracing-policy", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert f"--tracing-policy: {bad}: spec.bogus" in r.stderr
