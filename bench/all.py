"""`make bench-all`: every benchmark, and bench/out/summary.json with issue 17's keys.

Each benchmark runs as its own process (as root, after `make`) and writes its full results to
bench/out/<name>.json or prints them; this collects the medians into summary.json: each key's
figure, the limit it was compared with in the same run, the goal, and whether the goal is met.
A key no benchmark measures yet is null, with the reason under "not_measured" (never a guess).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PY = sys.executable

#: key -> (goal text, test of the figure)
GOALS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "pipeline_events_per_s": (">= 250000", lambda v: v >= 250_000),
    "pipeline_lost": ("== 0", lambda v: v == 0),
    "getevents_events_per_s": (">= 200000", lambda v: v >= 200_000),
    "getevents_8_clients_events_per_s": (">= 200000", lambda v: v >= 200_000),
    "filter_ratio_to_nop": (">= 0.95", lambda v: v >= 0.95),
    "filter_ratio_to_nop_32_policies": (">= 0.9", lambda v: v >= 0.9),
    "exec_to_grpc_p99_ms": ("< 5", lambda v: v < 5),
    "rss_mb_65536_processes": ("<= 150", lambda v: v <= 150),
    "startup_ready_s": ("< 2", lambda v: v < 2),
    "workload_overhead_pct": ("<= 10", lambda v: v <= 10),
    "workload_lost": ("== 0", lambda v: v == 0),
}

NOT_BUILT = {
    "getevents_8_clients_events_per_s": "the 8-client fan-out benchmark is not built yet",
}


def _json_of(stdout: str) -> Any:
    """The JSON document a benchmark printed last (it may print progress lines before it)."""
    start = next(i for i, line in enumerate(stdout.splitlines()) if line.startswith("{"))
    return json.loads("\n".join(stdout.splitlines()[start:]))


def run(script: str, *args: str) -> tuple[Any, float]:
    t0 = time.monotonic()
    print(f"bench-all: {script} {' '.join(args)}", file=sys.stderr, flush=True)
    r = subprocess.run([PY, str(ROOT / "bench" / script), *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{script} failed:\n{r.stderr[-3000:]}")
    return _json_of(r.stdout), time.monotonic() - t0


def collect(quick: bool) -> dict[str, Any]:
    trials = "3" if quick else "5"
    values: dict[str, float | None] = dict.fromkeys(GOALS)
    limits: dict[str, dict[str, Any]] = {}
    took: dict[str, float] = {}

    pipe, took["run.py"] = run("run.py", "--trials", trials)
    values["pipeline_events_per_s"] = pipe["median"]["pipeline"]
    want = pipe["records_per_trial"]
    values["pipeline_lost"] = sum(
        (want - c["exported_lines"]) + c["export_dropped"] + c["ring_lost"] for c in pipe["pipeline_counts"]
    )
    limits["pipeline_events_per_s"] = {"C libbpf consumer, same ring": pipe["median"]["c"]}

    ge, took["getevents.py"] = run("getevents.py", "--trials", trials)
    values["getevents_events_per_s"] = ge["median_grpc"]
    limits["getevents_events_per_s"] = {
        "JSON export of the same events": ge["median_json"],
        "lost": ge["grpc_lost_total"],
    }

    pol, took["policy.py"] = run("policy.py", "--trials", trials)
    cost = pol["filter_cost"]
    values["filter_ratio_to_nop"] = cost["median_ratio"]
    limits["filter_ratio_to_nop"] = {"nop program on the same hook, syscalls/s": cost["median_nop_per_s"]}
    cost32 = pol["filter_cost_32_policies"]
    values["filter_ratio_to_nop_32_policies"] = cost32["median_ratio"]
    limits["filter_ratio_to_nop_32_policies"] = {
        "nop program on the same hook, syscalls/s": cost32["median_nop_per_s"]
    }

    lat, took["latency.py"] = run("latency.py", "--trials", "3", "--seconds", "10" if quick else "30")
    values["exec_to_grpc_p99_ms"] = lat["median_p99_ms"]
    limits["exec_to_grpc_p99_ms"] = {
        "the workload's own pacing lateness p99, ms": lat["median_pacing_p99_late_ms"],
        "lost": lat["lost_total"],
    }

    mem, took["memory.py"] = run("memory.py", "--trials", trials)
    values["rss_mb_65536_processes"] = mem["median_rss_mb"]
    limits["rss_mb_65536_processes"] = {
        "interpreter with the agent's modules, MB": mem["median_floor_mb"],
        "bytes per cached process": mem["median_bytes_per_process"],
        "bounded, evictions counted": mem["bounded"],
    }

    start, took["startup.py"] = run("startup.py", "--trials", trials)
    values["startup_ready_s"] = start["median_ready_s"]
    limits["startup_ready_s"] = {"python -c 'import tetragon_core.agent', s": start["median_import_floor_s"]}

    # a 64 MiB ring: with the default (64 KiB a CPU) the job's bursts overflow it (counted drops)
    ring = "67108864"
    work, took["workload.py"] = run("workload.py", "--trials", trials, "--rb-size-total", ring)
    values["workload_overhead_pct"] = work["median_overhead_pct"]
    values["workload_lost"] = work["lost_total"]
    limits["workload_overhead_pct"] = {
        "the same job with no agent, s": work["median_none_s"],
        "with the agent, s": work["median_agent_s"],
        "agent ring (--rb-size-total), bytes": int(ring),
    }

    return {
        **values,
        "limits": limits,
        "goals": {k: g for k, (g, _) in GOALS.items()},
        "met": {k: (None if v is None else bool(GOALS[k][1](v))) for k, v in values.items()},
        "not_measured": {k: NOT_BUILT[k] for k, v in values.items() if v is None},
        "machine": {
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"),
        },
        "seconds": took,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer trials and a 10 s latency run")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/all.py loads BPF: run it as root", file=sys.stderr)
        return 1
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "bench-build"], check=True, capture_output=True
    )
    summary = collect(args.quick)
    OUT.mkdir(exist_ok=True)
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
