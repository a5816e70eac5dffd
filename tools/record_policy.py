"""Record raw ring records of a policy sensor at work, for the replay tests.

Run as root after `make`::

    .venv/bin/python tools/record_policy.py tracepoint tests/data/tracepoint_ring.bin
    .venv/bin/python tools/record_policy.py kprobe tests/data/kprobe_ring.bin
    .venv/bin/python tools/record_policy.py usdt tests/data/usdt_ring.bin
    .venv/bin/python tools/record_policy.py loader tests/data/loader_ring.bin

It loads the exec sensor and, through the named sensor, its policy below. tracepoint: hook 1
syscalls/sys_enter_openat, Prefix /tmp/tg-replay-; hook 2 raw_syscalls/sys_enter for the binary
/tmp/tg-replay-true. kprobe: sys_openat (syscall: true, return: true), Prefix /tmp/tg-replay-, on
kprobes or, without them, on the syscall tracepoints. The workload: ``/bin/cat
/tmp/tg-replay-match /etc/hostname`` (kprobe: and ``/tmp/tg-replay-missing``) and
``/tmp/tg-replay-true``. usdt: tgtest:call of tests/kernel/progs/usdt_target.c (built as
/tmp/tg-replay-usdt), run as ``/tmp/tg-replay-usdt 3 replay``. loader: ``loader: true`` and the
``/tmp/tg-replay-true`` run (its own mappings, its interpreter's and libc's). Exec, clone, exit
and the sensor's records are kept, in ring order.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
from importlib.resources import files

from tetragon_sensor_kprobe import KprobeSensor
from tetragon_sensor_loader import LoaderSensor
from tetragon_sensor_usdt import UsdtSensor

from tetragon_core.bpf.maps import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, Map
from tetragon_core.bpf.objects import BpfObject, SharedMaps
from tetragon_core.bpf.replay import dump_records
from tetragon_core.bpf.ringbuf import RingBuffer
from tetragon_core.metrics import Registry
from tetragon_core.policy import parse_policy
from tetragon_core.process.messages import MSG_OP_GENERIC_KPROBE, MSG_OP_GENERIC_TRACEPOINT
from tetragon_core.sensors.api import Sensor, SensorContext
from tetragon_sensor_tracepoint import TracepointSensor

POLICY = """apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: replay
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    message: opened
    tags: [replay]
    args:
    - {index: 5, type: int}
    - {index: 6, type: string, label: path}
    - {index: 7, type: int}
    selectors:
    - matchArgs:
      - {index: 1, operator: Prefix, values: [/tmp/tg-replay-]}
  - subsystem: raw_syscalls
    event: sys_enter
    args:
    - {index: 4, type: syscall64}
    selectors:
    - matchBinaries:
      - {operator: In, values: [/tmp/tg-replay-true]}
"""


KPROBE_POLICY = """apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: replay
spec:
  kprobes:
  - call: sys_openat
    syscall: true
    return: true
    returnArg: {index: 0, type: int}
    message: opened
    tags: [replay]
    args:
    - {index: 0, type: int}
    - {index: 1, type: string, label: path}
    - {index: 2, type: int}
    selectors:
    - matchArgs:
      - {index: 1, operator: Prefix, values: [/tmp/tg-replay-]}
"""
USDT_POLICY = """apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: replay
spec:
  usdts:
  - path: /tmp/tg-replay-usdt
    provider: tgtest
    name: call
    message: probed
    tags: [replay]
    args:
    - {index: 0, type: int32}
    - {index: 1, type: string}
    - {index: 2, type: int64}
    - {index: 3, type: int32}
"""
LOADER_POLICY = """apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: replay
spec:
  loader: true
"""
SENSORS: dict[str, tuple[type[Sensor], str, int]] = {
    "tracepoint": (TracepointSensor, POLICY, MSG_OP_GENERIC_TRACEPOINT),
    "kprobe": (KprobeSensor, KPROBE_POLICY, MSG_OP_GENERIC_KPROBE),
    "usdt": (UsdtSensor, USDT_POLICY, 28),
    "loader": (LoaderSensor, LOADER_POLICY, 26),
}
USDT_SRC = os.path.join(os.path.dirname(__file__), "..", "tests", "kernel", "progs", "usdt_target.c")


def main() -> int:
    kind = sys.argv[1] if len(sys.argv) > 1 else "tracepoint"
    out = sys.argv[2] if len(sys.argv) > 2 else f"tests/data/{kind}_ring.bin"
    sensor_cls, policy, op = SENSORS[kind]
    ring = RingBuffer(1 << 22)
    shared = SharedMaps()
    shared.register(ring.map)
    shared.register(Map.create(BPF_MAP_TYPE_ARRAY, "tg_conf_map", 4, 16, 1))
    shared.register(Map.create(BPF_MAP_TYPE_PERCPU_ARRAY, "tg_stats_map", 4, 256 * 7 * 8, 1))
    exec_obj = BpfObject.load(str(files("tetragon_sensor_exec") / "bpf" / "bpf_execve.o"), shared)
    shared.register(exec_obj.maps["execve_map"])
    with open("/tmp/tg-replay-match", "w") as f:
        f.write("match\n")
    shutil.copy("/bin/true", "/tmp/tg-replay-true")
    if kind == "usdt":
        subprocess.run(["gcc", "-O2", "-o", "/tmp/tg-replay-usdt", USDT_SRC], check=True)
    sensor = sensor_cls()
    ctx = SensorContext(shared, Registry())
    exec_obj.attach()
    handle = sensor.load_policy(ctx, parse_policy(policy), 1, "enforce")
    try:
        if kind == "usdt":
            subprocess.run(["/tmp/tg-replay-usdt", "3", "replay"], capture_output=True, check=True)
        elif kind == "loader":
            subprocess.run(["/tmp/tg-replay-true"], cwd="/tmp")
        else:
            cat = ["/bin/cat", "/tmp/tg-replay-match", "/etc/hostname"]
            if kind == "kprobe":  # a failing open: its return value is -ENOENT
                cat.append("/tmp/tg-replay-missing")
            subprocess.run(cat, cwd="/tmp", capture_output=True)
            subprocess.run(["/tmp/tg-replay-true"], cwd="/tmp")
        time.sleep(0.2)
    finally:
        handle.unload()
        exec_obj.close()
        os.unlink("/tmp/tg-replay-true")
    me = os.getpid()
    all_recs = ring.read_batch(100000)
    # only the workload's processes (children of this one), not the rest of the machine
    pids = {
        struct.unpack_from("<I", r, 32)[0]
        for r in all_recs
        if r[0] == 23 and struct.unpack_from("<I", r, 16)[0] == me
    }
    pids |= {
        struct.unpack_from("<I", r, 324)[0]
        for r in all_recs
        if r[0] == 5 and struct.unpack_from("<I", r, 160)[0] == me
    }
    # the sensor's records of the workload alone (the loader sees every process's mappings)
    mine = {me, *pids}
    recs = [
        r
        for r in all_recs
        if (r[0] == op and (kind != "loader" or struct.unpack_from("<I", r, 32)[0] in mine))
        or (r[0] == 23 and struct.unpack_from("<I", r, 32)[0] in pids)
        or (r[0] == 5 and struct.unpack_from("<I", r, 324)[0] in pids)
        or (r[0] == 7 and struct.unpack_from("<I", r, 16)[0] in pids)
    ]
    n = dump_records(out, recs)
    print(f"recorded {n} records to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
