"""Record raw exec-sensor ring records of a small scripted workload, for the replay tests.

Run as root after `make`: ``.venv/bin/python tools/record_ring.py tests/data/exec_ring.bin``.
The workload runs in /tmp: a shell that forks /bin/echo, exits with status 3, execs without
forking, and a sleep that is SIGKILLed.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from importlib.resources import files

from tetragon_core.bpf.maps import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, Map
from tetragon_core.bpf.objects import BpfObject, SharedMaps
from tetragon_core.bpf.replay import dump_records
from tetragon_core.bpf.ringbuf import RingBuffer


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/exec_ring.bin"
    ring = RingBuffer(1 << 22)
    shared = SharedMaps()
    shared.register(ring.map)
    shared.register(Map.create(BPF_MAP_TYPE_ARRAY, "tg_conf_map", 4, 16, 1))
    shared.register(Map.create(BPF_MAP_TYPE_PERCPU_ARRAY, "tg_stats_map", 4, 256 * 7 * 8, 1))
    obj = BpfObject.load(str(files("tetragon_sensor_exec") / "bpf" / "bpf_execve.o"), shared)
    emap = obj.maps["execve_map"]
    # Seed this process so its children have a known parent, as the procfs walk would.
    me = os.getpid()
    with open(f"/proc/{me}/stat") as f:
        start = int(f.read().rsplit(")", 1)[1].split()[19]) * 10_000_000
    val = struct.pack(
        "<I4xQ I4xQ II 10I 3Q iI256s Q",
        me,
        start,
        os.getppid(),
        0,
        0,
        me,
        *([0] * 10),
        0,
        0,
        0,
        6,
        0,
        b"python",
        0,
    )
    emap.update(struct.pack("<I", me), val)
    obj.attach()
    try:
        subprocess.run(["/bin/sh", "-c", "/bin/echo 'hello world' replay >/dev/null; exit 3"], cwd="/tmp")
        subprocess.run(["/bin/sh", "-c", "exec /bin/true exec-no-fork"], cwd="/")
        victim = subprocess.Popen(["/bin/sleep", "1000"], cwd="/tmp")
        time.sleep(0.2)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        time.sleep(0.2)
    finally:
        obj.close()
    recs = [r for r in ring.read_batch(100000) if r[0] in (5, 7, 23)]
    n = dump_records(out, recs)
    print(f"recorded {n} records to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
