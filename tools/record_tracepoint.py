"""Record raw ring records of a tracepoint policy at work, for the replay tests.

Run as root after `make`: ``.venv/bin/python tools/record_tracepoint.py tests/data/tracepoint_ring.bin``.
It loads the exec sensor and, through the tracepoint sensor, the policy POLICY below (hook 1:
syscalls/sys_enter_openat, Prefix /tmp/tg-replay-; hook 2: raw_syscalls/sys_enter for the
binary /tmp/tg-replay-true). The workload: ``/bin/cat /tmp/tg-replay-match /etc/hostname`` and
``/tmp/tg-replay-true``. Exec, clone, exit and tracepoint records are kept, in ring order.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
from importlib.resources import files

from tetragon_core.bpf.maps import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, Map
from tetragon_core.bpf.objects import BpfObject, SharedMaps
from tetragon_core.bpf.replay import dump_records
from tetragon_core.bpf.ringbuf import RingBuffer
from tetragon_core.metrics import Registry
from tetragon_core.policy import parse_policy
from tetragon_core.sensors.api import SensorContext
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


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/tracepoint_ring.bin"
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
    sensor = TracepointSensor()
    ctx = SensorContext(shared, Registry())
    exec_obj.attach()
    handle = sensor.load_policy(ctx, parse_policy(POLICY), 1, "enforce")
    try:
        subprocess.run(["/bin/cat", "/tmp/tg-replay-match", "/etc/hostname"], cwd="/tmp", capture_output=True)
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
    recs = [
        r
        for r in all_recs
        if r[0] == 14
        or (r[0] == 23 and struct.unpack_from("<I", r, 32)[0] in pids)
        or (r[0] == 5 and struct.unpack_from("<I", r, 324)[0] in pids)
        or (r[0] == 7 and struct.unpack_from("<I", r, 16)[0] in pids)
    ]
    n = dump_records(out, recs)
    print(f"recorded {n} records to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
