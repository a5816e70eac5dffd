"""Throughput of ring → decode → process cache → JSON line, against a C libbpf consumer.

Method (see docs/benchmarks.md): a BPF producer (bench/bpf/bench_emit.c, run with
BPF_PROG_TEST_RUN) fills the agent's ring buffer with exec/exit record pairs copied from real
recorded records, patched to distinct pids, through the sensors' own tg_output(). Each trial fills
the ring, then times one consumer draining it:

* C: libbpf's ring_buffer__consume in bench/c_consumer.c (the limit);
* raw: our mmap reader only (RingBuffer.read_batch);
* pipeline: RingReader (ring → its bounded queue) → Observer → exec decoders → ProcessManager →
  EventMetrics and JsonExporter (file written and flushed), all on one CPU.

Run as root after `make`: `.venv/bin/python bench/run.py [--pairs N] [--trials T]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tetragon_core.agent import tune_gc
from tetragon_core.bpf import _libbpf
from tetragon_core.bpf.bpffs import ensure_bpffs
from tetragon_core.bpf.maps import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, Map
from tetragon_core.bpf.objects import BpfObject, SharedMaps
from tetragon_core.bpf.ringbuf import RingBuffer
from tetragon_core.eventmetrics import EventMetrics
from tetragon_core.events import GetEventsResponse
from tetragon_core.export.jsonexport import QUEUE_DROPPED_METRIC, JsonExporter
from tetragon_core.metrics import Registry
from tetragon_core.observer import Observer, RingReader
from tetragon_core.process.messages import ExecMessage, ExitMessage
from tetragon_sensor_exec import ExecSensor
from tetragon_sensor_exec.decode import decode_exec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import echo_records, seeded_manager

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PIN = "/sys/fs/bpf/tg-bench-ring"
TEMPLATE = struct.Struct("<II2048s")
CHUNK = 20000


def build() -> None:
    subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "bench-build"], check=True)


class Producer:
    def __init__(self, ring: RingBuffer) -> None:
        shared = SharedMaps()
        shared.register(ring.map)
        self.conf = Map.create(BPF_MAP_TYPE_ARRAY, "tg_conf_map", 4, 16, 1)
        self.stats = Map.create(BPF_MAP_TYPE_PERCPU_ARRAY, "tg_stats_map", 4, 256 * 7 * 8, 1)
        shared.register(self.conf)
        shared.register(self.stats)
        self.obj = BpfObject.load(str(OUT / "bench_emit.o"), shared)
        exec_rec, exit_rec = echo_records()
        self.parent = decode_exec(exec_rec).parent
        self.exec_len, self.exit_len = len(exec_rec), len(exit_rec)
        tmpl = self.obj.maps["bench_templates"]
        tmpl.update(struct.pack("<I", 0), TEMPLATE.pack(len(exec_rec), 0, exec_rec))
        tmpl.update(struct.pack("<I", 1), TEMPLATE.pack(len(exit_rec), 0, exit_rec))
        self.fd = self.obj.program_fd("bench_emit")
        self.next_pid = 100000

    def fill(self, pairs: int) -> None:
        left = pairs
        while left:
            n = min(CHUNK, left)
            failed = _libbpf.prog_test_run(self.fd, struct.pack("<QQ", n, self.next_pid))
            if failed:
                raise SystemExit(f"producer: {failed} records did not fit the ring; use a larger ring")
            self.next_pid += n
            left -= n

    def close(self) -> None:
        self.obj.close()
        self.conf.close()
        self.stats.close()


def trial_c(ring: RingBuffer, prod: Producer, pairs: int) -> float:
    prod.fill(pairs)
    out = subprocess.run(
        ["taskset", "-c", "0", str(OUT / "c_consumer"), PIN, str(2 * pairs)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return 2 * pairs / float(out[1])


def trial_raw(ring: RingBuffer, prod: Producer, pairs: int) -> float:
    prod.fill(pairs)
    want, seen = 2 * pairs, 0
    t0 = time.perf_counter()
    while seen < want:
        seen += len(ring.read_batch(4096))
    return want / (time.perf_counter() - t0)


def trial_pipeline(ring: RingBuffer, prod: Producer, pairs: int, tmp: Path) -> tuple[float, dict[str, float]]:
    reg = Registry()
    mgr = seeded_manager(reg)
    path = tmp / "bench.log"
    exporter = JsonExporter(path, registry=reg, queue_size=1 << 20, max_size_mb=1024, max_backups=1)
    handle_exec, handle_exit, handle_clone = mgr.handle_exec, mgr.handle_exit, mgr.handle_clone
    pending: list[GetEventsResponse] = []
    submit = pending.append
    metrics = EventMetrics(reg)  # the agent's per-event metrics sink, with its default labels

    def flush() -> None:
        batch = pending[:]
        metrics.submit_many(batch)
        exporter.submit_many(batch)
        pending.clear()

    def listener(msg: object) -> None:
        t = type(msg)
        ev: GetEventsResponse | None
        if t is ExecMessage:
            ev = handle_exec(msg)  # type: ignore[arg-type]
        elif t is ExitMessage:
            ev = handle_exit(msg)  # type: ignore[arg-type]
        else:
            handle_clone(msg)  # type: ignore[arg-type]
            return
        if ev is not None:
            submit(ev)

    obs = Observer(reg, listener, flush)
    obs.add_decoders("execve", ExecSensor().decoders())
    obs.set_stats_map(prod.stats)
    prod.fill(pairs)
    want, seen = 2 * pairs, 0
    t0 = time.perf_counter()
    reader = RingReader(ring, obs)  # the agent's reader: ring → bounded queue → observer
    while seen < want:
        reader.fill()
        n = reader.handle(4096)
        seen += n
        if seen % 100_000 < n:
            mgr.cache.gc_tick()
    exporter.flush()
    dt = time.perf_counter() - t0
    exporter.close()
    lines = sum(1 for _ in path.open("rb"))
    path.unlink()
    counts = {
        "exported_lines": float(lines),
        "export_dropped": reg[QUEUE_DROPPED_METRIC].get(),
        "ring_lost": float(sum(obs.missed().values())),
    }
    return want / dt, counts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--ring-mb", type=int, default=128)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench: needs root", file=sys.stderr)
        return 1
    build()
    tune_gc()  # as the agent does
    os.sched_setaffinity(0, {0})
    ring = RingBuffer(args.ring_mb << 20)
    ensure_bpffs()
    if os.path.exists(PIN):
        os.unlink(PIN)
    ring.map.pin(PIN)
    prod = Producer(ring)
    res: dict[str, list[float]] = {"c": [], "raw": [], "pipeline": []}
    extra: list[dict[str, float]] = []
    try:
        with tempfile.TemporaryDirectory() as td:
            for _ in range(args.trials):
                res["c"].append(trial_c(ring, prod, args.pairs))
                res["raw"].append(trial_raw(ring, prod, args.pairs))
                rate, counts = trial_pipeline(ring, prod, args.pairs, Path(td))
                res["pipeline"].append(rate)
                extra.append(counts)
    finally:
        prod.close()
        os.unlink(PIN)
        ring.close()
    med = {k: statistics.median(v) for k, v in res.items()}
    summary = {
        "machine": f"{platform.machine()} kernel {platform.release()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "pairs_per_trial": args.pairs,
        "records_per_trial": 2 * args.pairs,
        "exec_record_bytes": prod.exec_len,
        "exit_record_bytes": prod.exit_len,
        "trials": args.trials,
        "records_per_s": res,
        "median": med,
        "ratio_raw_to_c": med["raw"] / med["c"],
        "ratio_pipeline_to_c": med["pipeline"] / med["c"],
        "pipeline_counts": extra,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "pipeline.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "records_per_s"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
