"""Start-up: from exec of `tetragon` to ready (the base sensor attached and the procfs walk done,
which is when its health server first answers SERVING), on this machine.

Method (docs/benchmarks.md): each trial starts the installed agent with only the health server on
(no gRPC API, metrics or export) and polls grpc.health.v1 Check every 5 ms until SERVING; the time
is from just before Popen to the first SERVING answer. The limit measured in the same run is the
interpreter itself importing the agent's modules and exiting (`python -c "import
tetragon_core.agent"`): what any Python agent pays before it does anything.

Run as root after `make`: `.venv/bin/python bench/startup.py [--trials T]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grpclib.client import Channel
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, machine, save

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
TETRAGON = str(Path(sys.executable).with_name("tetragon"))


async def _serving(port: int) -> bool:
    channel = Channel("127.0.0.1", port)
    try:
        reply = await asyncio.wait_for(HealthStub(channel).Check(HealthCheckRequest()), 1.0)
        return bool(reply.status == HealthCheckResponse.SERVING)
    except (TimeoutError, OSError, Exception):
        return False
    finally:
        channel.close()


def one(work: Path) -> float:
    port = free_port()
    cmd = [
        TETRAGON, "--server-address", "", "--metrics-server", "", "--export-filename", "",
        "--health-server-address", f"127.0.0.1:{port}",
    ]  # fmt: skip
    err = (work / "stderr").open("w")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    try:
        while not asyncio.run(_serving(port)):
            if proc.poll() is not None:
                raise RuntimeError((work / "stderr").read_text()[-2000:])
            if time.perf_counter() - t0 > 60:
                raise RuntimeError("not ready in 60 s")
            time.sleep(0.005)
        return time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(30)
        err.close()


def floor() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tetragon_core.agent"], check=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/startup.py loads BPF: run it as root", file=sys.stderr)
        return 1
    ready, floors = [], []
    with tempfile.TemporaryDirectory(prefix="tg-bench-start-") as tmp:
        one(Path(tmp))  # warm the page cache: the first start after a build reads every file
        for _ in range(args.trials):
            ready.append(one(Path(tmp)))
            floors.append(floor())
    out = {
        "machine": machine(),
        "ready_s": ready,
        "import_floor_s": floors,
        "median_ready_s": statistics.median(ready),
        "median_import_floor_s": statistics.median(floors),
        "ratio_to_floor": statistics.median(ready) / statistics.median(floors),
    }
    save("startup", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
