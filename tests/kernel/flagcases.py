"""One case per daemon flag that works: set to a non-default value, the agent shows its effect.

Each check starts its own agent (through :class:`Flags`) with the flag and whatever it needs to
observe it, makes real processes act where that matters, and asserts on what the agent exposes:
the JSON export, its log, /metrics, the gRPC API, files and BPF state. A few settings act only
on rare paths (the event cache's retries) or on timing (the health interval); those cases run
the agent in this process and assert that the component serving the setting was built with it.
The refused flags are walked in test_flags.py from support.UNSUPPORTED.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from grpclib.client import Channel
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

from tests.kernel.conftest import TETRAGON, execs, exits, free_port
from tests.kernel.flagcases_export import (
    enable_export_aggregation,
    event_queue_size,
    export_aggregation_buffer_size,
    export_allowlist,
    export_denylist,
    export_file_compress,
    export_file_max_backups,
    export_file_max_size_mb,
    export_file_perm,
    export_file_rotation_interval,
    export_filename,
    export_rate_limit,
    expose_stack_addresses,
    field_filters,
    generate_docs,
    help_,
)
from tests.kernel.flagcases_pods import CASES as POD_CASES
from tests.kernel.flagtools import (
    OBJECTS,
    TETRA,
    TOKEN,
    Flags,
    _our_exec,
    _ours,
    _wait,
    attached_programs,
    serving,
)
from tests.promtext import families
from tetragon_core.agent import Agent
from tetragon_core.bpf._libbpf import num_possible_cpus
from tetragon_core.bpf.ringbuf import ring_size
from tetragon_core.config import parse_agent_args


def bpf_dir(f: Flags) -> None:
    d = f"tg-flag-bpfdir-{os.getpid()}"
    agent = f.start("--bpf-dir", d, "--keep-sensors-on-exit")
    assert agent.stop() == 0
    pins = Path("/sys/fs/bpf") / d
    try:
        assert sorted(p.name for p in (pins / "execve").iterdir()) == [
            "tg_cgroup_rmdir_link",
            "tg_execve_link",
            "tg_exit_link",
            "tg_fork_link",
        ]
    finally:
        shutil.rmtree(pins, ignore_errors=True)  # unlinking the pins detaches the programs


def cgroup_rate(f: Flags) -> None:
    # the whole effect (a real cgroup's burst throttled, START/STOP, rmdir) is
    # tests/kernel/test_cgroup_rate.py; here: the limit reaches the kernel, and a bad one is refused
    f.start("--cgroup-rate", "1000,1s")
    out = subprocess.run(
        ["bpftool", "-j", "map", "dump", "name", "cgroup_rate_opt"],  # names are cut at 15 bytes
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (entry,) = json.loads(out)
    events, interval = struct.unpack("<QQ", bytes(int(b, 16) for b in entry["value"]))
    assert (events, interval) == (1000, 1_000_000_000)
    r = subprocess.run(
        [TETRAGON, "--cgroup-rate", "1000", "--server-address", ""], capture_output=True, text=True
    )
    assert r.returncode == 1 and "--cgroup-rate: '1000' is not <events>,<interval>" in r.stderr, r.stderr


def bpf_lib(f: Flags) -> None:
    lib = f.tmp / "lib"
    lib.mkdir()
    for o in OBJECTS:
        shutil.copy(o, lib / o.name)
    _our_exec(f, f.start("--bpf-lib", str(lib)))  # every object read from there
    (lib / "bpf_execve.o").write_bytes(b"not an ELF object")
    r = subprocess.run(
        [TETRAGON, "--bpf-lib", str(lib), "--server-address", ""], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1 and str(lib / "bpf_execve.o") in r.stderr, r.stderr
    (lib / "bpf_execve.o").unlink()
    r = subprocess.run(
        [TETRAGON, "--bpf-lib", str(lib), "--server-address", ""], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1 and f"--bpf-lib: {lib} has no bpf_execve.o" in r.stderr, r.stderr
    r = subprocess.run(
        [TETRAGON, "--bpf-lib", str(f.tmp / "none")], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1 and f"--bpf-lib: {f.tmp / 'none'} is not a directory" in r.stderr, r.stderr


def cluster_name(f: Flags) -> None:
    agent = f.start("--cluster-name", "prod-eu")
    _our_exec(f, agent)
    f.child("/bin/true")
    evs = agent.wait_for(lambda e: any(TOKEN in x["process"].get("arguments", "") for x in exits(e)))
    assert evs and all(e.get("cluster_name") == "prod-eu" for e in evs)


def config_dir(f: Flags) -> None:
    d = f.tmp / "conf.d"
    d.mkdir()
    (d / "cluster-name").write_text("from-config-dir\n")
    agent = f.start("--config-dir", str(d))
    assert _our_exec(f, agent) and all(e.get("cluster_name") == "from-config-dir" for e in agent.events())


def debug(f: Flags) -> None:
    agent = f.start("--debug")
    assert "level=DEBUG" in agent.stderr.read_text()


def disable_kprobe_multi(f: Flags) -> None:
    f.start("--disable-kprobe-multi")
    calls = ", ".join(["dup", "dup2", "getpid", "getppid", "getuid", "getgid", "geteuid", "getegid"] * 5)
    spec = (
        f"  lists:\n  - {{name: many, type: syscalls, values: [{calls}]}}\n  kprobes:\n  - call: list:many\n"
    )
    r = f.tetra("tp", "add", str(f.policy("many-calls", spec)))
    assert r.returncode != 0 and "requires kprobe.multi, which --disable-kprobe-multi disables" in r.stderr, r


def enable_msg_handling_latency(f: Flags) -> None:
    agent = f.start("--enable-msg-handling-latency")
    _our_exec(f, agent)
    counts = {s["op"]: v for s, v in f.metric("tetragon_handling_latency_count")}
    assert counts.get("5", 0) > 0 and counts.get("23", 0) > 0, counts  # exec and clone records


def enable_pid_set_filter(f: Flags) -> None:
    agent = f.start("--enable-pid-set-filter", "--export-allowlist", json.dumps({"pid_set": [os.getpid()]}))
    _our_exec(f, agent)
    pids = {e["process"]["pid"] for e in execs(agent.events())}
    assert os.getpid() in pids and 1 not in pids, pids  # our tree only: not the procfs walk's pid 1


def enable_process_cred(f: Flags) -> None:
    ex = _our_exec(f, f.start("--enable-process-cred"))
    assert ex["process"]["process_credentials"]["uid"] == os.getuid()


def enable_process_ns(f: Flags) -> None:
    ex = _our_exec(f, f.start("--enable-process-ns"))
    assert ex["process"]["ns"]["pid"]["inum"] == os.stat("/proc/self/ns/pid").st_ino


def _inprocess(args: list[str], check: Callable[[Agent], None], tmp: Path) -> None:
    """Run the agent in this process with ``args`` until ready, then ``check`` it."""
    cfg = parse_agent_args(
        [
            "--export-filename",
            str(tmp / "inproc.log"),
            "--bpf-dir",
            f"tg-flag-inproc-{os.getpid()}",
            "--health-server-address",
            f"127.0.0.1:{free_port()}",
            "--server-address",
            "",
            *args,
        ]
    )
    agent = Agent(cfg)

    async def scenario() -> None:
        task = asyncio.create_task(agent.run())
        try:
            await asyncio.wait_for(agent.ready.wait(), 60)
            check(agent)
        finally:
            agent.stop()
            await asyncio.wait_for(task, 60)

    asyncio.run(scenario())


def event_cache_retries(f: Flags) -> None:
    _inprocess(["--event-cache-retries", "3"], lambda a: _assert(a._event_cache._retries == 3), f.tmp)  # type: ignore[union-attr]


def event_cache_retry_delay(f: Flags) -> None:
    # the retry loop sleeps this long between ticks
    _inprocess(
        ["--event-cache-retry-delay", "0.25"],
        lambda a: _assert(a.cfg.event_cache_retry_delay == 0.25 and a._event_cache is not None),
        f.tmp,
    )


def health_server_interval(f: Flags) -> None:
    _inprocess(
        ["--health-server-interval", "0.5"],
        lambda a: _assert(a.health is not None and a.health.interval == 0.5),
        f.tmp,
    )


def _assert(ok: bool) -> None:
    assert ok


def health_server_address(f: Flags) -> None:
    port = free_port()
    f.start("--health-server-address", f"127.0.0.1:{port}")  # start() waits for SERVING on liveness

    async def overall() -> int:
        ch = Channel("127.0.0.1", port)
        try:
            return int((await HealthStub(ch).Check(HealthCheckRequest(service=""))).status)
        finally:
            ch.close()

    assert serving(port) and asyncio.run(overall()) == HealthCheckResponse.SERVING
    quiet = f.start("--health-server-address", "")  # the documented way to switch it off
    assert "health server listening" not in quiet.stderr.read_text()


def keep_sensors_on_exit(f: Flags) -> None:
    d = f"tg-flag-keep-{os.getpid()}"
    agent = f.start("--keep-sensors-on-exit", "--bpf-dir", d)
    assert agent.stop() == 0
    try:
        links = list((Path("/sys/fs/bpf") / d / "execve").iterdir())
        names = attached_programs()
        assert len(links) == 4 and {"tg_execve", "tg_fork", "tg_exit", "tg_cgroup_rmdir"} <= names
    finally:
        shutil.rmtree(Path("/sys/fs/bpf") / d, ignore_errors=True)


def log_format(f: Flags) -> None:
    agent = f.start("--log-format", "json")
    lines = [ln for ln in agent.stderr.read_text().splitlines() if ln.strip()]
    assert lines and all(json.loads(ln)["level"] for ln in lines)


def log_level(f: Flags) -> None:
    agent = f.start("--log-level", "warn")
    _our_exec(f, agent)
    assert "level=INFO" not in agent.stderr.read_text()


def metrics_label_filter(f: Flags) -> None:
    agent = f.start("--metrics-label-filter", "binary")
    _our_exec(f, agent)
    series = f.metric("tetragon_events_total")
    assert series and all(set(labels) == {"type", "binary"} for labels, _ in series)
    assert any(labels == {"type": "PROCESS_EXEC", "binary": "/bin/true"} for labels, _ in series)


def metrics_server(f: Flags) -> None:
    port = free_port()
    f.start("--metrics-server", f"127.0.0.1:{port}")
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    fams = families(body)
    assert "tetragon_events_total" in fams
    # counters are counters, computed at scrape or not; the families of later features are there
    for name in (
        "tetragon_msg_op_total",
        "tetragon_policyfilter_operations_total",
        "process_cpu_seconds_total",
    ):
        assert fams[name].type == "counter", name
    assert fams["python_info"].samples
    deadline = time.monotonic() + 30  # the build is read by git off the start-up path
    while not families(body)["tetragon_build_info"].samples:
        assert time.monotonic() < deadline, body[-2000:]
        time.sleep(0.2)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    (info,) = families(body)["tetragon_build_info"].samples
    assert info.labels["version"] == "0.1.0" and info.value == 1


def process_cache_gc_interval(f: Flags) -> None:
    agent = f.start("--process-cache-gc-interval", "1s")
    size = lambda: sum(v for _, v in f.metric("tetragon_process_cache_size"))  # noqa: E731
    base = size()
    subprocess.run(["sh", "-c", "for i in $(seq 100); do /bin/true; done"], check=True, timeout=60)
    _wait(lambda: size() >= base + 50, what="the children in the cache")
    _wait(lambda: size() <= base + 10, 10, "the exited children collected within a few 1s intervals")
    assert agent.proc.poll() is None


def process_cache_size(f: Flags) -> None:
    f.start("--process-cache-size", "2000")
    assert f.metric("tetragon_process_cache_capacity") == [({}, 2000.0)]


def procfs(f: Flags) -> None:
    mnt = f.tmp / "proc"
    mnt.mkdir()
    # a procfs of a new pid namespace holding one process: the walk must see only it
    holder = subprocess.Popen(
        ["unshare", "--pid", "--fork", "sh", "-c", f"mount -t proc proc {mnt} && exec sleep 60"]
    )
    try:
        _wait(lambda: (mnt / "1").exists(), what="the namespace's procfs")
        agent = f.start("--procfs", str(mnt))
        evs = agent.wait_for(
            lambda e: any(
                "procFS" in x["process"].get("flags", "") and x["process"].get("binary") == "/usr/bin/sleep"
                for x in execs(e)
            )
        )
        walked = {x["process"]["binary"] for x in execs(evs) if "procFS" in x["process"].get("flags", "")}
        assert walked == {"<kernel>", "/usr/bin/sleep"}, walked
    finally:
        holder.kill()
        holder.wait()
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def rb_queue_size(f: Flags) -> None:
    # the queue fills only when handling falls behind; its bound is asserted on the running reader
    # (tests/unit/test_ring_reader.py shows a full queue leaving the rest in the ring)
    def check(a: Agent) -> None:
        assert a.reader is not None and a.reader.queue_size == 7
        assert a.reader.queued <= 7

    _inprocess(["--rb-queue-size", "7"], check, f.tmp)


def rb_size(f: Flags) -> None:
    agent = f.start("--rb-size", "1M")
    want = ring_size(1 << 20, 0, num_possible_cpus()) // 1024  # 1 MiB per CPU, a power of two
    assert f"ring {want} KiB" in agent.stderr.read_text()


def rb_size_total(f: Flags) -> None:
    agent = f.start("--rb-size-total", "4M")
    assert "ring 4096 KiB" in agent.stderr.read_text()


def redaction_filters(f: Flags) -> None:
    agent = f.start("--redaction-filters", r'{"redact":["--token[= ](\\S+)"]}')
    subprocess.run(["/bin/echo", TOKEN, "--token", "s3cret"], stdout=subprocess.DEVNULL, check=True)
    ex = _ours(agent.wait_for(lambda e: bool(_ours(e))))[0]
    assert ex["process"]["arguments"] == f"{TOKEN} --token *****"


def release_pinned_bpf(f: Flags) -> None:
    d = f"tg-flag-release-{os.getpid()}"
    pins = Path("/sys/fs/bpf") / d / "execve"
    try:
        assert f.start("--keep-sensors-on-exit", "--bpf-dir", d).stop() == 0
        before = sorted(p.name for p in pins.iterdir())
        f.start("--release-pinned-bpf=false", "--bpf-dir", d)
        assert before and sorted(p.name for p in pins.iterdir()) == before  # the earlier run's pins stay
    finally:
        shutil.rmtree(pins.parent, ignore_errors=True)


def server_address(f: Flags) -> None:
    sock = f.tmp / "tetragon.sock"
    f.start("--server-address", f"unix://{sock}")
    r = subprocess.run(
        [TETRA, "--server-address", f"unix://{sock}", "status"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and "running" in r.stdout.lower(), r
    assert stat.S_IMODE(sock.stat().st_mode) == 0o660


def _tp_spec() -> str:
    return "  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_getppid\n"


def tracing_policy(f: Flags) -> None:
    f.start("--tracing-policy", str(f.policy("from-flag", _tp_spec())))
    out = json.loads(f.tetra("tp", "list", "-o", "json").stdout)
    assert [(p["name"], p["state"]) for p in out["policies"]] == [("from-flag", "TP_STATE_ENABLED")]


def tracing_policy_dir(f: Flags) -> None:
    d = f.tmp / "tp.d"
    d.mkdir()
    shutil.move(str(f.policy("from-dir", _tp_spec())), d / "p.yaml")
    f.start("--tracing-policy-dir", str(d))
    out = json.loads(f.tetra("tp", "list", "-o", "json").stdout)
    assert [(p["name"], p["state"]) for p in out["policies"]] == [("from-dir", "TP_STATE_ENABLED")]


def username_metadata(f: Flags) -> None:
    ex = _our_exec(f, f.start("--username-metadata", "unix"))
    assert ex["process"]["user"]["name"] == "root"


def verbose(f: Flags) -> None:
    agent = f.start("--verbose", "1")
    err = agent.stderr.read_text()
    assert "verifier log of bpf_execve.o program tg_execve" in err
    assert re.search(r"processed \d+ insns", err)


CASES: dict[str, Callable[[Flags], None]] = {
    "bpf-dir": bpf_dir,
    "bpf-lib": bpf_lib,
    "enable-export-aggregation": enable_export_aggregation,
    "export-aggregation-buffer-size": export_aggregation_buffer_size,
    "cgroup-rate": cgroup_rate,
    "cluster-name": cluster_name,
    "config-dir": config_dir,
    "debug": debug,
    "disable-kprobe-multi": disable_kprobe_multi,
    "enable-msg-handling-latency": enable_msg_handling_latency,
    "enable-pid-set-filter": enable_pid_set_filter,
    "enable-process-cred": enable_process_cred,
    "enable-process-ns": enable_process_ns,
    "event-cache-retries": event_cache_retries,
    "event-cache-retry-delay": event_cache_retry_delay,
    "event-queue-size": event_queue_size,
    "export-allowlist": export_allowlist,
    "export-denylist": export_denylist,
    "export-file-compress": export_file_compress,
    "export-file-max-backups": export_file_max_backups,
    "export-file-max-size-mb": export_file_max_size_mb,
    "export-file-perm": export_file_perm,
    "export-file-rotation-interval": export_file_rotation_interval,
    "export-filename": export_filename,
    "export-rate-limit": export_rate_limit,
    "expose-stack-addresses": expose_stack_addresses,
    "field-filters": field_filters,
    "generate-docs": generate_docs,
    "health-server-address": health_server_address,
    "health-server-interval": health_server_interval,
    "help": help_,
    "keep-sensors-on-exit": keep_sensors_on_exit,
    "log-format": log_format,
    "log-level": log_level,
    "metrics-label-filter": metrics_label_filter,
    "metrics-server": metrics_server,
    "process-cache-gc-interval": process_cache_gc_interval,
    "process-cache-size": process_cache_size,
    "procfs": procfs,
    "rb-queue-size": rb_queue_size,
    "rb-size": rb_size,
    "rb-size-total": rb_size_total,
    "redaction-filters": redaction_filters,
    "release-pinned-bpf": release_pinned_bpf,
    "server-address": server_address,
    "tracing-policy": tracing_policy,
    "tracing-policy-dir": tracing_policy_dir,
    "username-metadata": username_metadata,
    "verbose": verbose,
}
CASES.update(POD_CASES)
