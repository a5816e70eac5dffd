"""uprobe and loader benchmarks on the real kernel (root).

1. uprobe filter cost. One agent runs a policy with a uprobe on ``bench_target`` of
   bench/out/uprobe_loop whose only selector is a 4-value ``matchArgs`` Equal on the argument that
   matches no call. The loop calls the function N times. Each trial measures, back to back with
   the same agent running: no program (policy disabled), the nop uprobe program
   bench/bpf/bench_nop_uprobe.c on the same function (policy disabled), and the policy (enabled).
   Result: calls per second with the policy / with the nop program (the goal: >= 0.9).
2. loader events/s. Per trial a fresh agent with ``loader: true`` and the JSON export;
   bench/out/exec_burst fork+execs a dynamically linked program N times, one after another,
   while the agent drains; rate = loader events of the burst / time until the export holds them
   all. The limit measured in the same trial is the burst's own rate of executable mappings
   (mappings per exec x execs per second without the agent); the ratio is the agent's rate to it.

Run after `make` and `make bench-build`: `.venv/bin/python bench/probes.py [--trials T]`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policy import Agent, count_events, metric, nop_vs_policy, prepare, report
from tetragon_sensor_uprobe import elf

from tetragon_core.bpf.objects import BpfObject, SharedMaps

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
LOOP = OUT / "uprobe_loop"
BURST = OUT / "exec_burst"

UPROBE = """apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: bench-uprobe
spec:
  uprobes:
  - path: {path}
    symbols: [bench_target]
    args: [{{index: 0, type: int}}]
    selectors:
    - matchArgs:
      - {{index: 0, operator: Equal, values: ["-1", "-2", "-3", "-4"]}}
"""
LOADER = """apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: bench-loader
spec:
  loader: true
"""


def calls(n: int) -> float:
    """bench_target calls per second."""
    out = subprocess.run([str(LOOP), str(n)], check=True, capture_output=True, text=True).stdout
    return n / (int(out) / 1e9)


def uprobe_cost(trials: int, n: int, work: Path) -> dict[str, object]:
    agent = Agent(work, UPROBE.format(path=LOOP))
    nop = BpfObject.load(str(OUT / "bench_nop_uprobe.o"), SharedMaps())
    offset = elf.symbol_offset("bench", str(LOOP), "bench_target")
    return nop_vs_policy(
        agent,
        "bench-uprobe",
        nop,
        lambda: nop.attach_uprobe("bench_nop_uprobe", str(LOOP), offset),
        lambda: calls(n),
        trials,
    )


def burst(n: int, prog: str) -> float:
    """Seconds for n fork+execs of prog."""
    out = subprocess.run([str(BURST), str(n), prog], check=True, capture_output=True, text=True).stdout
    return int(out) / 1e9


def mappings_per_exec(prog: str) -> int:
    """Executable file mappings of one run of ``prog``: itself, its interpreter, each library."""
    out = subprocess.run(["ldd", prog], capture_output=True, text=True, check=True).stdout
    return 1 + sum(1 for line in out.splitlines() if "=>" in line or "ld-linux" in line)


def loader_rate(trials: int, n: int, work: Path) -> dict[str, object]:
    prog = str(work / "bench-true")
    shutil.copy("/bin/true", prog)  # a path of its own: its events are told apart by it
    per_exec = mappings_per_exec(prog)
    needle = f'"binary":"{prog}"'.encode()
    rows = []
    for t in range(trials):
        alone = burst(n, prog)
        d = work / f"loader-{t}"
        d.mkdir()
        agent = Agent(d, LOADER, "--rb-size-total", "67108864")
        try:
            start = time.monotonic()
            with_agent = burst(n, prog)
            want = n * per_exec
            deadline = time.monotonic() + 120
            got = 0
            while time.monotonic() < deadline:
                got = count_events(agent.export, b'"process_loader"')
                if got >= want:
                    break
                time.sleep(0.05)
            elapsed = time.monotonic() - start
            time.sleep(1.0)
            final = count_events(agent.export, b'"process_loader"')
            received = metric(agent.mport, "tetragon_process_loader_stats", count="LoaderReceived")
            output_failed = metric(
                agent.mport, "tetragon_process_loader_kernel_total", outcome="output_failed"
            )
        finally:
            agent.stop()
        execs = count_events(agent.export, needle)
        shutil.rmtree(d, ignore_errors=True)
        limit = want / alone
        rows.append(
            {
                "loader_events_per_s": want / elapsed,
                "burst_mappings_per_s_alone": limit,
                "ratio": (want / elapsed) / limit,
                "execs_per_s_alone": n / alone,
                "execs_per_s_with_agent": n / with_agent,
                "exported_loader_events": final,
                "expected": want,
                "received": received,
                "output_failed": output_failed,
                "events_naming_the_program": execs,
            }
        )
    return {
        "mappings_per_exec": per_exec,
        "trials": rows,
        "median_loader_events_per_s": statistics.median(r["loader_events_per_s"] for r in rows),
        "median_ratio": statistics.median(r["ratio"] for r in rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--calls", type=int, default=300_000)
    ap.add_argument("--execs", type=int, default=2000)
    args = ap.parse_args()
    prepare("bench/probes.py")
    with tempfile.TemporaryDirectory(prefix="tg-bench-probes-") as tmp:
        work = Path(tmp)
        (work / "uprobe").mkdir()
        cost = uprobe_cost(args.trials, args.calls, work / "uprobe")
        rate = loader_rate(args.trials, args.execs, work)
    report(uprobe_filter_cost=cost, loader=rate)


if __name__ == "__main__":
    main()
