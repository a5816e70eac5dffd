"""The cost to a real workload: wall time of a file-heavy job (untar ~50k files, then find them and
read each) with an agent running a post-every-openat policy and exporting every event, against the
same job with no agent, and the events lost.

Method (docs/benchmarks.md): the tarball (bench/out/workload.tar: 50 directories of 1,000 files
of 256 bytes) is made once. Each trial runs the job twice, with no agent and with one, in
alternating order. The agent runs as in production (default ring and queue sizes, the JSON
export to a file) with a TracingPolicy on syscalls/sys_enter_openat with no selector, so every
openat on the machine is posted. The job is `tar -xf` into a fresh directory, then `find -type f`
piped to `xargs cat > /dev/null`: about 100,000 openat calls. Only the job's wall time is timed.
The job runs on tmpfs (/dev/shm), so that it is bound by the CPU rather than this machine's
disk. Then the export is awaited until it holds every event the kernel posted (up to 120 s).
lost = the kernel's output failures (the ring was full; counted) + posted events missing from
the export. Both come from the agent's own metrics and the export file. The limit measured in the
same run is the job without an agent.

Run as root after `make`: `.venv/bin/python bench/workload.py [--trials T]`.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, save
from policy import HEAD, Agent, count_events, metric

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
TARBALL = OUT / "workload.tar"
DIRS, FILES, SIZE = 50, 1000, 256

# policy.py's openat policy with no selector: every openat is posted
POLICY = HEAD.split("    selectors:")[0].format(name="bench-every-openat")
NEEDLE = b'"policy_name":"bench-every-openat"'


def make_tarball() -> None:
    if TARBALL.exists():
        return
    OUT.mkdir(exist_ok=True)
    data = b"x" * SIZE
    tmp = TARBALL.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        for d in range(DIRS):
            for f in range(FILES):
                info = tarfile.TarInfo(f"tree/d{d:02d}/f{f:04d}.txt")
                info.size = SIZE
                tar.addfile(info, io.BytesIO(data))
    tmp.rename(TARBALL)


def job(work: Path) -> float:
    """The job's wall time, in a fresh directory."""
    dest = work / "job"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    t0 = time.perf_counter()
    subprocess.run(["tar", "-xf", str(TARBALL), "-C", str(dest)], check=True)
    subprocess.run(f"find {dest} -type f -print0 | xargs -0 cat > /dev/null", shell=True, check=True)
    took = time.perf_counter() - t0
    shutil.rmtree(dest, ignore_errors=True)
    return took


def with_agent(work: Path, extra: list[str]) -> dict[str, float]:
    d = work / "agent"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    agent = Agent(d, POLICY, *extra)
    try:
        before = metric(agent.mport, "tetragon_tracingpolicy_kernel_events_total", outcome="posted")
        took = job(work)
        posted = metric(agent.mport, "tetragon_tracingpolicy_kernel_events_total", outcome="posted")
        deadline = time.monotonic() + 120
        while count_events(agent.export, NEEDLE) < posted and time.monotonic() < deadline:
            time.sleep(0.2)
        posted = metric(agent.mport, "tetragon_tracingpolicy_kernel_events_total", outcome="posted")
        failed = metric(agent.mport, "tetragon_tracingpolicy_kernel_events_total", outcome="output_failed")
        missed = metric(agent.mport, "tetragon_bpf_missed_events_total")
    finally:
        agent.stop()
    exported = count_events(agent.export, NEEDLE)  # flushed at stop: every event posted so far
    shutil.rmtree(d, ignore_errors=True)
    user_lost = max(0.0, posted - exported)
    return {
        "seconds": took,
        "posted_during_job": posted - before,
        "posted": posted,
        "exported": exported,
        # the kernel could not write these into the full ring (counted; the ring's own count of
        # the same failures is bpf_missed)
        "kernel_dropped": failed,
        "bpf_missed": missed,
        "user_space_lost": user_lost,
        "lost": failed + user_lost,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--rb-size-total", default="", help="the agent's ring size (default: the agent's)")
    args = ap.parse_args()
    extra = ["--rb-size-total", args.rb_size_total] if args.rb_size_total else []
    if os.geteuid() != 0:
        print("bench/workload.py loads BPF: run it as root", file=sys.stderr)
        return 1
    make_tarball()
    rows = []
    # tmpfs when there is one: the job is then bound by the CPU, not by this machine's disk
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="tg-bench-work-", dir=shm) as tmp:
        work = Path(tmp)
        job(work)  # warm the page cache
        for t in range(args.trials):
            if t % 2 == 0:
                none = job(work)
                agent = with_agent(work, extra)
            else:
                agent = with_agent(work, extra)
                none = job(work)
            rows.append({"none_s": none, **agent, "overhead_pct": 100 * (agent["seconds"] - none) / none})
    out = {
        "machine": machine(),
        "files": DIRS * FILES,
        "agent_args": extra,
        "trials": rows,
        "median_none_s": statistics.median(r["none_s"] for r in rows),
        "median_agent_s": statistics.median(r["seconds"] for r in rows),
        "median_overhead_pct": statistics.median(r["overhead_pct"] for r in rows),
        "lost_total": sum(r["lost"] for r in rows),
    }
    save("workload", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
