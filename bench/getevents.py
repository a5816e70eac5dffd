"""GetEvents throughput to one gRPC client, against the JSON export of the same events.

Method (see docs/benchmarks.md): the recorded raw ring records (tests/data/exec_ring.bin: a
``/bin/echo`` exec record and its exit record) are patched to distinct pids and ktimes, as
bench/bpf/bench_emit.c does in the kernel, and decoded here with the exec sensor's decoders into
the process manager, giving N real ``GetEventsResponse`` Structs (exec/exit pairs). No BPF is
loaded and nothing touches the kernel beyond loopback sockets.

Each trial then:

* GetEvents: the real server pieces (``EventHub`` + ``start_server``) listen on 127.0.0.1:<free
  port> in this process, pinned to CPU 0; a client subprocess pinned to CPU 1 (``taskset -c 1``)
  streams GetEvents with grpclib (``tetragon_core.cli.grpc_client.get_events``, what ``tetra
  getevents`` uses; every message is decoded) and counts messages until it has N. The server
  writes the messages it finds queued together, several per HTTP/2 DATA write
  (``tetragon_core.grpc.eventstream``). The server side feeds the hub with
  ``submit_many`` in batches, topping the client's queue up whenever it runs (the queue holds N, so
  it cannot overflow; ``tetragon_notify_overflowed_events_total`` is checked anyway). The rate is
  N over the client's time from the first to the last message. Each CPU's busy time over the
  trial is read from /proc/stat, so that another process's load shows up in the result.
* JSON export: ``JsonExporter`` into a temp file, ``submit_many`` in the same batches, then
  ``flush``; the rate is N over that time, on CPU 0 (writer thread included).
* Bare conversion: ``to_proto(ev).SerializeToString()`` over the N events (and ``to_proto`` alone).

Run (root not needed): ``.venv/bin/python bench/getevents.py [--events N] [--trials T]``; the result
is printed as JSON. ``--client ADDRESS`` is the client side, started by the benchmark itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tetragon_core.agent import tune_gc
from tetragon_core.api.convert import to_proto
from tetragon_core.api.tetragon import events_pb2
from tetragon_core.api.wire import event_bytes
from tetragon_core.cli.grpc_client import get_events
from tetragon_core.events import GetEventsResponse
from tetragon_core.export.jsonexport import QUEUE_DROPPED_METRIC, JsonExporter
from tetragon_core.grpc.hub import EventHub, EventQueue
from tetragon_core.grpc.server import start_server, stop_server
from tetragon_core.metrics import Registry
from tetragon_sensor_exec.decode import decode_exec, decode_exit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import echo_records, free_port, seeded_manager

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "exec_ring.bin"
OVERFLOW_METRIC = "tetragon_notify_overflowed_events_total"
SERVER_CPU, CLIENT_CPU = 0, 1
STALL_S = 15.0  # the client gives up after this long without a message


# -- events -----------------------------------------------------------------------------------


def build_events(n: int) -> list[GetEventsResponse]:
    """n events: n/2 exec/exit pairs decoded from the recorded records, patched to distinct pids."""
    exec_rec, exit_rec = echo_records()
    reg = Registry()
    mgr = seeded_manager(reg)
    ex, xt = bytearray(exec_rec), bytearray(exit_rec)
    base = decode_exec(exec_rec).ktime
    out: list[GetEventsResponse] = []
    for i in range(n // 2):
        pid, ktime = 100_000 + i, base + 1_000 * (i + 1)
        # the offsets bench/bpf/bench_emit.c patches: exec common.ktime, pid, tid, process ktime
        struct.pack_into("<Q", ex, 8, ktime)
        struct.pack_into("<II", ex, 324, pid, pid)
        struct.pack_into("<Q", ex, 368, ktime)
        # exit: common.ktime, current pid and ktime, tid
        struct.pack_into("<QIxxxxQ", xt, 8, ktime + 500, pid, ktime)
        struct.pack_into("<I", xt, 36, pid)
        for ev in (mgr.handle_exec(decode_exec(bytes(ex))), mgr.handle_exit(decode_exit(bytes(xt)))):
            if ev is None:
                raise SystemExit("bench: the process manager parked an event; check the seed parent")
            out.append(ev)
        if i % 10_000 == 0:
            mgr.cache.gc_tick()
    return out


def check_events(events: list[GetEventsResponse]) -> dict[str, Any]:
    """What the events are: kinds, distinct pids, protobuf size."""
    execs = [e for e in events if e.process_exec is not None]
    exits = [e for e in events if e.process_exit is not None]
    pids = {e.process_exec.process.pid for e in execs if e.process_exec is not None}
    sizes = [len(to_proto(e).SerializeToString()) for e in events[:2]]
    if len(execs) != len(exits) or len(pids) != len(execs):
        raise SystemExit(f"bench: {len(execs)} execs, {len(exits)} exits, {len(pids)} pids")
    return {"execs": len(execs), "exits": len(exits), "distinct_pids": len(pids), "pb_bytes": sizes}


# -- client (subprocess, CPU 1) ---------------------------------------------------------------


async def client(address: str, want: int) -> dict[str, Any]:
    """Stream GetEvents until ``want`` messages (or a stall); report times and what was seen."""
    got = 0
    t_first = t_last = 0.0
    first: Any = None
    last: Any = None
    cpu_first = cpu_last = os.times()

    async def receive() -> None:
        nonlocal got, t_first, t_last, first, last, cpu_first, cpu_last
        clock = time.perf_counter
        stream = get_events(address, events_pb2.GetEventsRequest(), 10.0)
        async with contextlib.aclosing(stream):
            async for msg in stream:
                got += 1
                if got == 1:
                    t_first, first, cpu_first = clock(), msg, os.times()
                if got >= want:
                    t_last, last, cpu_last = clock(), msg, os.times()
                    return

    task = asyncio.create_task(receive())
    seen = -1
    while not task.done():
        await asyncio.wait([task], timeout=STALL_S)
        if not task.done() and got == seen:
            task.cancel()
        seen = got
    with contextlib.suppress(asyncio.CancelledError):
        await task

    def describe(m: Any) -> str:
        if m is None:
            return ""
        kind = m.WhichOneof("event")
        return f"{kind} pid {getattr(m, kind).process.pid.value}"

    return {
        "received": got,
        "elapsed_s": t_last - t_first if last is not None else None,
        "client_user_s": cpu_last.user - cpu_first.user,
        "client_sys_s": cpu_last.system - cpu_first.system,
        "first": describe(first),
        "last": describe(last),
    }


# -- server side (this process, CPU 0) --------------------------------------------------------


class ObservedHub(EventHub):
    """The real hub; it also remembers the client's queue so that the feeder can see its depth."""

    queue: EventQueue | None = None

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[EventQueue]:
        with super().subscribe() as q:
            self.queue = q
            try:
                yield q
            finally:
                self.queue = None


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_busy_ticks() -> list[int]:
    """Non-idle ticks of each CPU so far (user, nice, system, irq, softirq, steal)."""
    out = []
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
                out.append(user + nice + system + irq + softirq + steal)
    return out


async def wait_for(cond: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise SystemExit(f"bench: timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def trial_grpc(
    address: str, hub: ObservedHub, reg: Registry, events: list[GetEventsResponse], batch: int, depth: int
) -> dict[str, Any]:
    n = len(events)
    overflow0 = reg[OVERFLOW_METRIC].get()
    proc = await asyncio.create_subprocess_exec(
        "taskset",
        "-c",
        str(CLIENT_CPU),
        sys.executable,
        __file__,
        "--client",
        address,
        "--events",
        str(n),
        stdout=asyncio.subprocess.PIPE,
    )
    await wait_for(lambda: hub.queue is not None, 30.0, "the client to subscribe")
    q = hub.queue
    assert q is not None
    done = asyncio.ensure_future(proc.communicate())
    sent = empty = 0
    drained: tuple[float, float, float] | None = None
    busy: list[int] = []
    t0, cpu0, busy0 = time.perf_counter(), os.times(), cpu_busy_ticks()
    # Feed like the agent's ring reader (submit_many per batch, on the loop), topping the queue up
    # to `depth` at each turn. The stream handler yields the loop after each coalesced write (at
    # most 64 KiB or 512 events), so the feeder gets turns while a backlog drains; a turn that
    # finds the queue empty (before everything was submitted) is counted. The feeder sleeps
    # between turns, so the server's CPU time over the drain is its real work.
    while not done.done():
        have = q.qsize()
        if sent and not have:
            if sent < n:
                empty += 1
            elif drained is None:
                cpu = os.times()
                drained = (time.perf_counter() - t0, cpu.user - cpu0.user, cpu.system - cpu0.system)
                busy = [b - b0 for b, b0 in zip(cpu_busy_ticks(), busy0, strict=True)]
        while have < depth and sent < n:
            hub.submit_many(events[sent : sent + batch])
            sent = min(sent + batch, n)
            have = q.qsize()
        await asyncio.sleep(0.0005)
    out, _ = await asyncio.wait_for(done, 300.0)
    if proc.returncode != 0:
        raise SystemExit(f"bench: client exited with {proc.returncode}")
    res: dict[str, Any] = json.loads(out)
    await wait_for(lambda: hub.clients == 0, 30.0, "the stream to end")
    res.update(
        rate=n / res["elapsed_s"] if res["received"] == n and res["elapsed_s"] else None,
        overflowed=reg[OVERFLOW_METRIC].get() - overflow0,
        lost=n - res["received"],
        queue_found_empty=empty,
        # from the first submit to the queue found drained (±0.5 ms): the server's CPU share
        server_drain_s=drained[0] if drained else None,
        server_user_s=drained[1] if drained else None,
        server_sys_s=drained[2] if drained else None,
        # every process's CPU time on each CPU over the same window, from /proc/stat: what the
        # server (CPU 0) and the client (CPU 1) do not account for is someone else's load
        cpu_busy_s=[t / CLK_TCK for t in busy] if drained else None,
    )
    return res


def trial_json(events: list[GetEventsResponse], batch: int, tmp: Path) -> dict[str, Any]:
    reg = Registry()
    path = tmp / "bench.log"
    n = len(events)
    exp = JsonExporter(path, registry=reg, queue_size=n, max_size_mb=4096, max_backups=1)
    try:
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            exp.submit_many(events[i : i + batch])
        if not exp.flush(300.0):
            raise SystemExit("bench: JSON export did not flush")
        dt = time.perf_counter() - t0
    finally:
        exp.close()
    with path.open("rb") as f:
        lines = sum(1 for _ in f)
    size = path.stat().st_size
    path.unlink()
    return {"rate": n / dt, "lines": lines, "dropped": reg[QUEUE_DROPPED_METRIC].get(), "bytes": size}


def trial_convert(events: list[GetEventsResponse]) -> dict[str, float]:
    t0 = time.perf_counter()
    for ev in events:
        to_proto(ev).SerializeToString()
    t1 = time.perf_counter()
    for ev in events:
        to_proto(ev)
    t2 = time.perf_counter()
    for ev in events:
        event_bytes(ev)
    t3 = time.perf_counter()
    n = len(events)
    return {
        "serialize_us": (t1 - t0) / n * 1e6,
        "to_proto_us": (t2 - t1) / n * 1e6,
        "event_bytes_us": (t3 - t2) / n * 1e6,
    }


async def server_main(args: argparse.Namespace) -> dict[str, Any]:
    os.sched_setaffinity(0, {SERVER_CPU})
    tune_gc()  # as the agent does
    t0 = time.perf_counter()
    events = build_events(args.events)
    build_s = time.perf_counter() - t0
    facts = check_events(events)
    gc.collect()
    gc.freeze()  # the benchmark's own 100k-event list is not something the agent would hold
    for ev in events[:2]:  # build the converters once, as the agent's first events would
        to_proto(ev)

    reg = Registry()
    hub = ObservedHub(reg, args.events)
    address = f"127.0.0.1:{free_port()}"
    server, addr = await start_server(address, hub)
    grpc_res: list[dict[str, Any]] = []
    json_res: list[dict[str, Any]] = []
    conv_res: list[dict[str, float]] = []
    try:
        with tempfile.TemporaryDirectory() as td:
            for t in range(args.trials):
                g = await trial_grpc(address, hub, reg, events, args.batch, args.depth)
                grpc_res.append(g)
                j = trial_json(events, args.batch, Path(td))
                json_res.append(j)
                c = trial_convert(events)
                conv_res.append(c)
                print(
                    f"trial {t + 1}: grpc {g['rate'] or 0:,.0f}/s (lost {g['lost']}, overflowed "
                    f"{g['overflowed']:.0f}), json {j['rate']:,.0f}/s, to_proto+serialize "
                    f"{c['serialize_us']:.2f} µs",
                    file=sys.stderr,
                )
    finally:
        hub.close()
        await stop_server(server, addr)

    grpc_rates = [g["rate"] or 0.0 for g in grpc_res]
    json_rates = [j["rate"] for j in json_res]
    ser = [c["serialize_us"] for c in conv_res]
    med_grpc, med_json = statistics.median(grpc_rates), statistics.median(json_rates)
    return {
        "machine": f"{platform.machine()} kernel {platform.release()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "versions": {p: importlib.metadata.version(p) for p in ("grpclib", "h2", "protobuf", "msgspec")},
        "address": address,
        "events_per_trial": args.events,
        "events": facts,
        "build_s": build_s,
        "batch": args.batch,
        "queue_depth_target": args.depth,
        "hub_queue_size": args.events,
        "trials": args.trials,
        "grpc_rates": grpc_rates,
        "json_rates": json_rates,
        "serialize_us": ser,
        "to_proto_us": [c["to_proto_us"] for c in conv_res],
        "median_grpc": med_grpc,
        "median_json": med_json,
        "median_serialize_us": statistics.median(ser),
        "median_to_proto_us": statistics.median(c["to_proto_us"] for c in conv_res),
        "median_event_bytes_us": statistics.median(c["event_bytes_us"] for c in conv_res),
        "ratio_grpc_to_json": med_grpc / med_json,
        "ratio_grpc_to_goal_100k": med_grpc / 100_000,
        "grpc_lost_total": sum(g["lost"] for g in grpc_res),
        "grpc_overflowed_total": reg[OVERFLOW_METRIC].get(),
        "json_dropped_total": sum(j["dropped"] for j in json_res),
        "json_lines": [j["lines"] for j in json_res],
        "grpc_trials": grpc_res,
        "json_trials": json_res,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000, help="events per trial (even)")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1024, help="events per submit_many")
    ap.add_argument("--depth", type=int, default=16384, help="keep at least this many events queued")
    ap.add_argument("--client", metavar="ADDRESS", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        print(json.dumps(asyncio.run(client(args.client, args.events))))
        return 0
    if args.events < 2 or args.events % 2:
        ap.error("--events must be even and at least 2")
    if (os.cpu_count() or 1) < 2:
        print("bench: needs 2 CPUs (server on CPU 0, client on CPU 1)", file=sys.stderr)
        return 1
    print(json.dumps(asyncio.run(server_main(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
