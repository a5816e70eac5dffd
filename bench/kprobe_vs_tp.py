"""Per-event cost of a kprobe hook against the tracepoint path, on the same syscall (root; needs
a kernel with kprobes: run it in the VM, ``tools/vm.py --exec "python bench/kprobe_vs_tp.py"``).

One agent holds two policies with the same 5-value Equal selector on openat's path that matches
nothing: a ``syscalls/sys_enter_openat`` tracepoint and a ``sys_openat`` kprobe (``syscall: true``:
a kprobe on ``__x64_sys_openat``). bench/out/syscall_loop opens and closes /dev/null N times with
neither, only the tracepoint, and only the kprobe enabled, per trial. Results: the cost each adds
per syscall pair (1/rate − 1/rate_none) and their ratio; and, from ``kernel.bpf_stats_enabled``,
each program's own run time per run and their ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import policy as P

VALUES = "[/dev/nul1, /dev/nul2, /dev/nul3, /dev/nul4, /dev/nul5]"
KPROBE = f"""apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: bench-kprobe
spec:
  kprobes:
  - call: sys_openat
    syscall: true
    args: [{{index: 0, type: int}}, {{index: 1, type: string}}, {{index: 2, type: int}}]
    selectors:
    - matchArgs: [{{index: 1, operator: Equal, values: {VALUES}}}]
"""


def prog_stats() -> dict[str, tuple[int, int]]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return {
        p["name"]: (p.get("run_cnt", 0), p.get("run_time_ns", 0))
        for p in json.loads(out)
        if p.get("name", "").startswith(("generic_tp", "generic_kprobe"))
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--syscalls", type=int, default=20_000)
    args = ap.parse_args()
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(P.ROOT), "bench-build"], check=True, capture_output=True
    )
    with tempfile.TemporaryDirectory(prefix="tg-bench-kp-") as tmp:
        agent = P.Agent(Path(tmp), P.NOMATCH.format(name="bench-tp"))
        kfile = Path(tmp) / "kprobe.yaml"
        kfile.write_text(KPROBE)
        agent.tetra("tp", "add", str(kfile))
        stats = Path("/proc/sys/kernel/bpf_stats_enabled")
        stats.write_text("1")
        rows = []
        try:
            n = args.syscalls
            P.loop(n // 10, "/dev/null")
            for _ in range(args.trials):
                agent.tetra("tp", "disable", "bench-tp")
                agent.tetra("tp", "disable", "bench-kprobe")
                none = P.loop(n, "/dev/null")
                agent.tetra("tp", "enable", "bench-tp")
                tp = P.loop(n, "/dev/null")
                agent.tetra("tp", "disable", "bench-tp")
                agent.tetra("tp", "enable", "bench-kprobe")
                kp = P.loop(n, "/dev/null")
                add_tp, add_kp = 1e9 / tp - 1e9 / none, 1e9 / kp - 1e9 / none
                rows.append({"none": none, "tracepoint": tp, "kprobe": kp, "tp_ns": add_tp, "kp_ns": add_kp})
            progs = prog_stats()
        finally:
            stats.write_text("0")
            agent.stop()
    per_run = {name: t / c for name, (c, t) in progs.items() if c}
    tp_run = next(v for k, v in per_run.items() if k.startswith("generic_tp"))
    kp_run = per_run["generic_kprobe_sys"]
    result = {
        "machine": {"kernel": platform.release(), "python": platform.python_version()},
        "trials": rows,
        "median_added_ns_tracepoint": statistics.median(r["tp_ns"] for r in rows),
        "median_added_ns_kprobe": statistics.median(r["kp_ns"] for r in rows),
        "median_ratio_added_kprobe_to_tracepoint": statistics.median(r["kp_ns"] / r["tp_ns"] for r in rows),
        "median_rate_ratio_kprobe_to_tracepoint": statistics.median(
            r["kprobe"] / r["tracepoint"] for r in rows
        ),
        "bpf_stats_ns_per_run": per_run,
        "bpf_stats_ratio_kprobe_to_tracepoint": kp_run / tp_run,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
