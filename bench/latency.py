"""Latency from an exec in a real process to its process_exec event on a GetEvents stream, at a
steady 1,000 execs/s.

Method (docs/benchmarks.md): the agent runs as in production (base sensor, JSON export off, gRPC on
a TCP port). A client process pinned to CPU 1 streams GetEvents with grpclib (the decoding `tetra
getevents` does) with an allow list of the marker binary, and for every process_exec notes the
receive time (CLOCK_REALTIME) minus the event's `time`, the kernel's exec timestamp converted to
wall clock by the agent. bench/exec_paced forks and execs the marker (a copy of /bin/true) 1,000
times a second for the run's length, paced to absolute deadlines, each child reaped before the
next. The limit measured in the same run is the workload's own pacing lateness (p99 of how late
each fork was for its deadline): the scheduling noise of this machine, which no agent can beat.
Lost = execs the workload made − events received.

Run as root after `make`: `.venv/bin/python bench/latency.py [--seconds S] [--rate R] [--trials T]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, machine, save

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
TETRAGON = str(Path(sys.executable).with_name("tetragon"))
PACED = OUT / "exec_paced"


async def client(address: str, binary: str, want: int, ready_file: str) -> dict[str, object]:
    from tetragon_core.api.tetragon import events_pb2
    from tetragon_core.cli.grpc_client import get_events

    req = events_pb2.GetEventsRequest(
        allow_list=[events_pb2.Filter(binary_regex=[f"^{binary}$"], event_set=[events_pb2.PROCESS_EXEC])]
    )
    lat_ns: list[int] = []
    Path(ready_file).touch()

    async def consume() -> None:
        async for msg in get_events(address, req, 10.0):
            now = time.time_ns()
            t = msg.time
            lat_ns.append(now - (t.seconds * 1_000_000_000 + t.nanos))
            if len(lat_ns) >= want:
                return

    try:
        await asyncio.wait_for(consume(), timeout=want / 500 + 60)
    except TimeoutError:
        pass
    return {"received": len(lat_ns), "latency_ns": lat_ns}


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else float("nan")


def trial(work: Path, seconds: int, rate: int) -> dict[str, float]:
    n = seconds * rate
    marker = work / "tg-lat-true"
    shutil.copy("/bin/true", marker)
    marker.chmod(0o755)
    port = free_port()
    health = free_port()
    err = (work / "agent.err").open("w")
    agent = subprocess.Popen(
        [TETRAGON, "--server-address", f"127.0.0.1:{port}", "--metrics-server", "", "--export-filename", "",
         "--health-server-address", f"127.0.0.1:{health}"],
        stdout=subprocess.DEVNULL, stderr=err,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "tetragon running" not in (work / "agent.err").read_text():
            if agent.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((work / "agent.err").read_text()[-2000:])
            time.sleep(0.05)
        ready = work / "client.ready"
        ready.unlink(missing_ok=True)
        cl = subprocess.Popen(
            ["taskset", "-c", "1", sys.executable, __file__, "--client", f"127.0.0.1:{port}",
             "--binary", str(marker), "--want", str(n), "--ready", str(ready)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        while not ready.exists():
            time.sleep(0.01)
        time.sleep(0.5)  # the stream is open
        out = subprocess.run(["taskset", "-c", "0", str(PACED), str(n), str(rate), str(marker)],
                             capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
        got = json.loads(cl.communicate(timeout=n / 500 + 120)[0])
    finally:
        agent.terminate()
        agent.wait(30)
        err.close()
    lat_ms = [x / 1e6 for x in got["latency_ns"]]
    return {
        "execs": n,
        "received": got["received"],
        "lost": n - got["received"],
        "p50_ms": pct(lat_ms, 0.50),
        "p99_ms": pct(lat_ms, 0.99),
        "max_ms": max(lat_ms) if lat_ms else float("nan"),
        "pacing_p99_late_ms": int(out[1]) / 1e6,
        "achieved_rate": n / (int(out[0]) / 1e9),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--binary", help=argparse.SUPPRESS)
    ap.add_argument("--want", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ready", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        print(json.dumps(asyncio.run(client(args.client, args.binary, args.want, args.ready))))
        return 0
    if os.geteuid() != 0:
        print("bench/latency.py loads BPF: run it as root", file=sys.stderr)
        return 1
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "bench-build"], check=True, capture_output=True
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="tg-bench-lat-") as tmp:
        for _ in range(args.trials):
            rows.append(trial(Path(tmp), args.seconds, args.rate))
    out = {
        "machine": machine(),
        "seconds": args.seconds,
        "rate": args.rate,
        "trials": rows,
        "median_p99_ms": statistics.median(r["p99_ms"] for r in rows),
        "median_p50_ms": statistics.median(r["p50_ms"] for r in rows),
        "median_pacing_p99_late_ms": statistics.median(r["pacing_p99_late_ms"] for r in rows),
        "lost_total": sum(r["lost"] for r in rows),
    }
    save("latency", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
