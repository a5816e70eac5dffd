"""TracingPolicy benchmarks on the real kernel (root): in-kernel filter cost and matching throughput.

1. Filter cost. One agent runs with a policy on syscalls/sys_enter_openat whose only selector is a
   5-value ``matchArgs`` Equal on the path that matches nothing. bench/out/syscall_loop opens and
   closes /dev/null N times. Each trial measures, back to back and with the same agent running:
   no program on the tracepoint (policy disabled), the nop program bench/bpf/bench_nop_tp.c
   (policy disabled) and the policy (enabled). Result: syscall rate with the policy / with the nop.
   The same again with 32 such policies on the one hook (other values each), all enabled and
   disabled together: what 32 policies that cannot match cost, against the same nop.
2. Matching throughput. Per trial a fresh agent with a Prefix policy that matches the loop's path,
   a 64 MiB ring and the JSON export; the loop opens the path N times while the agent drains;
   rate = N / (time until the export holds all N process_tracepoint events). Loss must be 0: every
   event exported exactly once, kernel ``posted`` = N, no ring output failure.

Run after `make` and `make bench-build`: `.venv/bin/python bench/policy.py [--trials T]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tetragon_core.bpf.objects import BpfObject, SharedMaps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
LOOP = OUT / "syscall_loop"

HEAD = """apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: {name}
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 5
      type: int
    - index: 6
      type: string
    - index: 7
      type: int
    selectors:
    - matchArgs:
      - index: 1
"""
NOMATCH = (
    HEAD
    + "        operator: Equal\n        values: [/dev/nul1, /dev/nul2, /dev/nul3, /dev/nul4, /dev/nul5]\n"
)
MATCH = HEAD + "        operator: Prefix\n        values: [{prefix}]\n"


def metric(port: int, name: str, **labels: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
            if all(got.get(k) == v for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


class Agent:
    def __init__(self, work: Path, policy: str, *extra: str) -> None:
        self.addr = f"127.0.0.1:{free_port()}"
        self.mport = free_port()
        self.export = work / "export" / "tetragon.log"
        pfile = work / "policy.yaml"
        pfile.write_text(policy)
        cmd = [
            str(BIN / "tetragon"),
            "--server-address", self.addr,
            "--metrics-server", f"127.0.0.1:{self.mport}",
            "--export-filename", str(self.export),
            "--export-file-max-size-mb", "100000",
            "--tracing-policy", str(pfile),
            "--bpf-dir", f"tg-bench-{os.getpid()}",
            *extra,
        ]  # fmt: skip
        self.err = (work / "stderr.txt").open("wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.err.close()
                raise SystemExit(f"agent exited: {(work / 'stderr.txt').read_text()[-2000:]}")
            try:
                if metric(self.mport, "tetragon_tracingpolicy_loaded", state="enabled") >= 1:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(
            f"agent did not load the policy in 60 s: {(work / 'stderr.txt').read_text()[-2000:]}"
        )

    def tetra(self, *a: str) -> None:
        subprocess.run(
            [str(BIN / "tetra"), "--server-address", self.addr, *a], check=True, capture_output=True
        )

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        self.err.close()


def loop(n: int, path: str) -> float:
    """Syscalls (openat + close pairs) per second."""
    out = subprocess.run([str(LOOP), str(n), path], check=True, capture_output=True, text=True).stdout
    return n / (int(out) / 1e9)


def nop_vs_policy(
    agent: Agent,
    policy: str | list[str],
    nop: BpfObject,
    attach_nop: Callable[[], object],
    measure: Callable[[], float],
    trials: int,
) -> dict[str, object]:
    """Per trial, back to back with ``agent`` running: ``measure()`` with no program (policy
    disabled), with the nop program attached, and with the policy enabled; the medians, the
    policy/nop ratio, and the kernel's counts of posted and filtered runs. Closes both."""
    rows = []
    names = [policy] if isinstance(policy, str) else policy
    try:
        measure()  # warm caches
        for _ in range(trials):
            for name in names:
                agent.tetra("tp", "disable", name)
            none = measure()
            attach_nop()
            with_nop = measure()
            nop.detach()
            for name in names:
                agent.tetra("tp", "enable", name)
            with_policy = measure()
            ratio = with_policy / with_nop
            rows.append({"none": none, "nop": with_nop, "policy": with_policy, "ratio": ratio})
        posted = metric(agent.mport, "tetragon_tracingpolicy_kernel_events_total", outcome="posted")
        filtered = metric(agent.mport, "tetragon_tracingpolicy_kernel_events_total", outcome="filtered")
    finally:
        nop.close()
        agent.stop()
    return {
        "trials": rows,
        "median_ratio": statistics.median(r["ratio"] for r in rows),
        "median_nop_per_s": statistics.median(r["nop"] for r in rows),
        "median_policy_per_s": statistics.median(r["policy"] for r in rows),
        "median_none_per_s": statistics.median(r["none"] for r in rows),
        "kernel_posted": posted,
        "kernel_filtered": filtered,
    }


def filter_cost(trials: int, n: int, work: Path) -> dict[str, object]:
    agent = Agent(work, NOMATCH.format(name="bench-nomatch"))
    nop = BpfObject.load(str(OUT / "bench_nop_tp.o"), SharedMaps())
    return nop_vs_policy(agent, "bench-nomatch", nop, nop.attach, lambda: loop(n, "/dev/null"), trials)


def filter_cost_32(trials: int, n: int, work: Path) -> dict[str, object]:
    """The same with 32 such policies on the one hook, each with other values: the kernel's
    cost must not grow with the number of policies that cannot match."""
    pdir = work / "policies.d"
    pdir.mkdir()
    names = [f"bench-nomatch-{i:02d}" for i in range(32)]
    for i, name in enumerate(names):
        values = ", ".join(f"/dev/nul{i:02d}{k}" for k in range(5))
        doc = HEAD.format(name=name) + f"        operator: Equal\n        values: [{values}]\n"
        (pdir / f"{name}.yaml").write_text(doc)
    first = (pdir / f"{names[0]}.yaml").read_text()
    (pdir / f"{names[0]}.yaml").unlink()  # Agent loads the first with --tracing-policy
    agent = Agent(work, first, "--tracing-policy-dir", str(pdir))
    deadline = time.monotonic() + 60
    while metric(agent.mport, "tetragon_tracingpolicy_loaded", state="enabled") < 32:
        if time.monotonic() > deadline:
            agent.stop()
            raise SystemExit("the 32 policies did not load in 60 s")
        time.sleep(0.2)
    nop = BpfObject.load(str(OUT / "bench_nop_tp.o"), SharedMaps())
    return nop_vs_policy(agent, names, nop, nop.attach, lambda: loop(n, "/dev/null"), trials)


def count_events(path: Path, needle: bytes) -> int:
    """Occurrences of ``needle`` in the export files, read in chunks that overlap by its length."""
    n = 0
    for f in sorted(path.parent.glob("*")):
        with f.open("rb") as fh:
            tail = b""
            while chunk := fh.read(1 << 24):
                buf = tail + chunk
                n += buf.count(needle)
                # keep the bytes a needle could start in without being complete in this buffer
                tail = buf[-(len(needle) - 1) :]
    return n


def throughput(trials: int, n: int, work: Path) -> dict[str, object]:
    rows = []
    target = work / "bench-match-file"
    target.write_text("x")
    needle = b'"policy_name":"bench-match"'
    for t in range(trials):
        d = work / f"match-{t}"
        d.mkdir()
        agent = Agent(d, MATCH.format(name="bench-match", prefix=str(target)), "--rb-size-total", "67108864")
        try:
            start = time.monotonic()
            gen = loop(n, str(target))
            deadline = time.monotonic() + 120
            got = 0
            while time.monotonic() < deadline:
                got = count_events(agent.export, needle)
                if got >= n:
                    break
                time.sleep(0.05)
            elapsed = time.monotonic() - start
            time.sleep(1.0)
            final = count_events(agent.export, needle)
            posted = metric(agent.mport, "tetragon_tracingpolicy_kernel_events_total", outcome="posted")
            out_failed = metric(
                agent.mport, "tetragon_tracingpolicy_kernel_events_total", outcome="output_failed"
            )
            missed = metric(agent.mport, "tetragon_bpf_missed_events_total")
        finally:
            agent.stop()
            shutil.rmtree(d, ignore_errors=True)
        rows.append(
            {
                "events_per_s": n / elapsed,
                "generated_per_s": gen,
                "exported": final,
                "kernel_posted": posted,
                "output_failed": out_failed,
                "bpf_missed": missed,
                "lost": n - final,
            }
        )
    return {
        "trials": rows,
        "median_events_per_s": statistics.median(r["events_per_s"] for r in rows),
        "median_generated_per_s": statistics.median(r["generated_per_s"] for r in rows),
        "lost_total": sum(r["lost"] for r in rows),
    }


def prepare(script: str) -> None:
    """A benchmark that loads BPF: root, and the bench/ programs built."""
    if os.geteuid() != 0:
        raise SystemExit(f"{script} loads BPF: run it as root")
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "bench-build"], check=True, capture_output=True
    )


def report(**results: object) -> None:
    """Print the results as JSON, with the machine they were measured on."""
    machine = {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()}
    print(json.dumps({"machine": machine, **results}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--syscalls", type=int, default=500_000)
    ap.add_argument("--events", type=int, default=100_000)
    args = ap.parse_args()
    prepare("bench/policy.py")
    with tempfile.TemporaryDirectory(prefix="tg-bench-policy-") as tmp:
        work = Path(tmp)
        (work / "cost").mkdir()
        cost = filter_cost(args.trials, args.syscalls, work / "cost")
        (work / "cost32").mkdir()
        cost32 = filter_cost_32(args.trials, args.syscalls, work / "cost32")
        thr = throughput(args.trials, args.events, work)
    report(filter_cost=cost, filter_cost_32_policies=cost32, matching_throughput=thr)


if __name__ == "__main__":
    main()
