"""Memory of the process cache: the agent's RSS holding 65,536 live processes (each with its parent
cached), and the cache size as a hard bound with counted evictions beyond it.

Method (docs/benchmarks.md): in one process, the real ProcessManager and ProcessCache (as the agent
builds them, GC tuned as the agent tunes it) take exec messages decoded from the recorded
`/bin/echo` exec record, each made distinct (pid, ktime, argument) and each the child of the one
before, so every process holds a reference to a cached parent. RSS is read from /proc/self/status
before and after, with the events built and dropped as the exporter would. The limit measured in the
same run is the interpreter with the agent's modules imported (the RSS floor). Then as many
processes again are added past the cache size: the cache must stay at its size, with every
eviction counted in tetragon_process_cache_evictions_total.

No root needed: `.venv/bin/python bench/memory.py [--processes N] [--trials T]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import echo_records, machine, save, seeded_manager

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def trial(n: int) -> dict[str, float]:
    """In a fresh interpreter (this script with --one): RSS before and after n live processes."""
    from tetragon_core.agent import tune_gc
    from tetragon_core.metrics import Registry
    from tetragon_core.process.messages import ExecKey
    from tetragon_sensor_exec.decode import decode_exec

    tune_gc()
    reg = Registry()
    mgr = seeded_manager(reg, cache_size=n)
    base = decode_exec(echo_records()[0])
    gc.collect()
    floor = rss_kb()
    parent = base.parent
    binaries = [f"/usr/bin/tool{i}" for i in range(64)]
    made = 0
    for i in range(n - 1):  # the seeded parent is one entry already
        pid = 100_000 + i
        ktime = base.ktime + 1_000 * (i + 1)
        msg = msgspec.structs.replace(
            base, pid=pid, tid=pid, ktime=ktime, parent=parent, filename=binaries[i % 64],
            args=["--job", f"id-{i:08d}"], cleanup_key=None,
        )  # fmt: skip
        if mgr.handle_exec(msg) is not None:
            made += 1
        parent = ExecKey(pid, ktime)
    gc.collect()
    full = rss_kb()
    cached = len(mgr.cache)
    evictions_before = reg["tetragon_process_cache_evictions_total"].get()
    # as many again: the cache stays at its size, each eviction counted
    for i in range(n):
        pid = 400_000 + i
        ktime = base.ktime + 10**12 + 1_000 * i
        msg = msgspec.structs.replace(base, pid=pid, tid=pid, ktime=ktime, parent=parent, cleanup_key=None)
        mgr.handle_exec(msg)
        parent = ExecKey(pid, ktime)
    evictions = reg["tetragon_process_cache_evictions_total"].get() - evictions_before
    return {
        "floor_mb": floor / 1024,
        "rss_mb": full / 1024,
        "delta_mb": (full - floor) / 1024,
        "bytes_per_process": (full - floor) * 1024 / cached,
        "cached": cached,
        "events": made,
        "cache_after_overflow": len(mgr.cache),
        "evictions_counted": evictions,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=65536)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(trial(args.processes)))
        return 0
    rows = []
    for _ in range(args.trials):
        r = subprocess.run(
            [sys.executable, __file__, "--one", "--processes", str(args.processes)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        rows.append(json.loads(r.stdout))
    n = args.processes
    out = {
        "machine": machine(),
        "processes": n,
        "trials": rows,
        "median_rss_mb": statistics.median(r["rss_mb"] for r in rows),
        "median_floor_mb": statistics.median(r["floor_mb"] for r in rows),
        "median_bytes_per_process": statistics.median(r["bytes_per_process"] for r in rows),
        "bounded": all(r["cache_after_overflow"] <= n and r["evictions_counted"] >= n - 1 for r in rows),
    }
    save("memory", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
