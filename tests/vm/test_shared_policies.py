"""Every shared example policy on a kernel with kprobes, fmod_ret and BPF LSM: it attaches, or it
is refused with its YAML path and the reason. Through the gRPC API from this process (a tetra
process per call costs seconds under TCG)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from grpclib.exceptions import GRPCError

from tests.kernel.test_tracepoint_policies import start
from tetragon_core.api.tetragon import sensors_pb2
from tetragon_core.cli.grpc_client import unary

SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference" / "policies"


def test_every_shared_example_attaches_or_is_refused_with_a_reason(start_agent) -> None:
    _agent, tetra, _ = start(start_agent)

    async def call(rpc: str, req: Any) -> Any:
        return await unary(tetra.addr, rpc, req, getattr(sensors_pb2, f"{rpc}Response"), 60)

    async def run() -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        for f in sorted(p for p in SHARED.rglob("*") if p.suffix in (".yaml", ".yml")):
            try:
                await call("AddTracingPolicy", sensors_pb2.AddTracingPolicyRequest(yaml=f.read_text()))
            except GRPCError as e:  # registered with its load error, or not parsed at all
                assert "failed to load" in (e.message or ""), (f.name, e.message)
            listed = await call("ListTracingPolicies", sensors_pb2.ListTracingPoliciesRequest())
            (p,) = listed.policies
            out[f.name] = (sensors_pb2.TracingPolicyState.Name(p.state), p.error)
            await call("DeleteTracingPolicy", sensors_pb2.DeleteTracingPolicyRequest(name=p.name))
        return out

    states = asyncio.run(run())
    assert len(states) == 43
    enabled = sorted(f for f, (st, _) in states.items() if st == "TP_STATE_ENABLED")
    # a refusal names what this kernel lacks (a feature, a function, or a kprobe the kernel
    # refuses on a function: dev_queue_xmit on 6.1, EINVAL), or a path of the author's machine
    missing = re.compile(
        r"requires (bpf_override_return|kprobe\.multi)|is not a function of this kernel"
        r"|attaching kprobe \w+ failed"
        r"|\.path: /\S+ does not exist"
        r"|needs the policy filter \(--enable-policy-filter\)"
        r"|\.resolve: resolving a BTF field path of an argument is not built yet"
    )
    for f, (st, err) in states.items():
        if st != "TP_STATE_ENABLED":
            assert st == "TP_STATE_LOAD_ERROR" and re.match(r"spec\.\w+", err), (f, st, err)
            assert missing.search(err), (f, err)
    # what this kernel has, these use: syscall kprobes, kernel-function kprobes with file, sock,
    # skb, cred args, kretprobes with sock returns and TrackSock, matchReturnArgs, stack traces,
    # fmod_ret Override (with return: true), BPF LSM, raw tracepoints with linux_binprm, lists,
    # uprobes, the loader (its kprobe route: perf_event_mmap_output)
    want = {
        "loader.yaml",
        "write.yaml",
        "sys_setuid.yaml",
        "override-security.yaml",
        "lsm_file_open.yaml",
        "tcp-connect.yaml",
        "tcp-connect-only-private-addrs.yaml",
        "datagram-with-sock-tracking.yaml",
        "security-socket-connect-block-others.yaml",
        "kprobe_commit_creds.yaml",
        "stack_traces.yaml",
        "openat_write.yaml",
        "rawtp.yaml",
        "uprobe-pid.yaml",
        "list-generated-ftrace.yaml",
    }
    assert want <= set(enabled), {f: states[f] for f in want}
    # podSelector {} means "every pod": never the host, so never loaded without the policy filter
    assert states["modules-nohost.yaml"][0] == "TP_STATE_LOAD_ERROR"
    assert states["modules-nohost.yaml"][1].startswith("spec.podSelector: "), states["modules-nohost.yaml"]
    print(f"\n{len(enabled)} of 43 enabled: {enabled}")
    for f, (st, err) in sorted(states.items()):
        if st != "TP_STATE_ENABLED":
            print(f"  {f}: {err}")
