"""TracingPolicy tracepoints on the real kernel: in-kernel selectors, actions, lifecycle.

Each test starts the agent, loads a policy, makes real processes do the thing and asserts on the
exact process_tracepoint events of the JSON export and on the kernel-side counters
(``tetragon_tracingpolicy_kernel_events_total``).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, ClassVar

from tests.kernel.conftest import RunningAgent, execs, exits, launch
from tests.kernel.test_grpc import _port
from tetragon_core.cli.tetra import main as tetra_main

TETRA = str(Path(sys.executable).with_name("tetra"))


def tps(evs: list[dict[str, Any]], policy: str) -> list[dict[str, Any]]:
    return [
        e["process_tracepoint"] for e in evs if e.get("process_tracepoint", {}).get("policy_name") == policy
    ]


def copy_bin(tmp_path: Path, src: str, name: str) -> str:
    dst = tmp_path / name
    shutil.copy(src, dst)
    dst.chmod(0o755)
    return str(dst)


def metric(port: int, name: str, **labels: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in body.splitlines():
        if not line.startswith(name + "{"):
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{labels} not in /metrics")


class Tetra:
    """``tetra`` against one agent, run in this process: the same code as the command (whose
    entry point tests/kernel/test_grpc.py and test_wheels.py run), without the interpreter's
    start-up, which costs seconds per call in the VM."""

    def __init__(self, addr: str) -> None:
        self.addr = addr

    def __call__(self, *a: str) -> subprocess.CompletedProcess[str]:
        argv = ["--server-address", self.addr, *a]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = tetra_main(argv)
            except SystemExit as e:  # argparse
                rc = e.code if isinstance(e.code, int) else 2
        return subprocess.CompletedProcess([TETRA, *argv], rc, out.getvalue(), err.getvalue())

    def policies(self) -> dict[str, dict[str, Any]]:
        out = json.loads(self("tp", "list", "-o", "json").stdout)
        return {p["name"]: p for p in out.get("policies", [])}


def start(start_agent: Any) -> tuple[RunningAgent, Tetra, int]:
    """An agent with gRPC and metrics endpoints; in the VM, one shared by the tests (see
    :class:`SharedAgent`)."""
    if os.environ.get("TG_VM_GUEST") == "1":
        return SharedAgent.view()
    addr, mport = f"127.0.0.1:{_port()}", _port()
    agent = start_agent("--server-address", addr, "--metrics-server", f"127.0.0.1:{mport}")
    return agent, Tetra(addr), mport


class SharedAgent(RunningAgent):
    """In the VM an agent's start costs ~40 s of TCG (Python's imports, the exec object's
    verification), so the tests there share one, started by the first. Each test gets a view
    that sees only the events exported after it began, with every policy of the tests before
    it deleted."""

    _agent: ClassVar[tuple[RunningAgent, Tetra, int] | None] = None
    skip: int = 0

    def events(self) -> list[dict[str, Any]]:
        return super().events()[self.skip :]

    @classmethod
    def view(cls) -> tuple[RunningAgent, Tetra, int]:
        if cls._agent is None or cls._agent[0].proc.poll() is not None:
            addr, mport = f"127.0.0.1:{_port()}", _port()
            work = Path(tempfile.mkdtemp(prefix="tg-shared-agent-"))
            agent = launch(work, 0, "--server-address", addr, "--metrics-server", f"127.0.0.1:{mport}")
            atexit.register(agent.stop)
            cls._agent = (agent, Tetra(addr), mport)
        agent, tetra, mport = cls._agent
        for name in tetra.policies():
            assert tetra("tp", "delete", name).returncode == 0, name
        v = cls(agent.proc, agent.export, agent.stderr)
        v.skip = len(agent.events())
        return v, tetra, mport


def openat_policy(name: str, prefix: str, *, binary: str = "", actions: str = "") -> str:
    sel = f"""    - matchArgs:
      - index: 1
        operator: Prefix
        values: ["{prefix}"]
"""
    if binary:
        sel += f"""      matchBinaries:
      - operator: In
        values: ["{binary}"]
"""
    if actions:
        sel += actions
    return f"""apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: {name}
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args:
    - index: 5
      type: int
    - index: 6
      type: string
    - index: 7
      type: int
    selectors:
{sel}"""


def add(tetra: Tetra, tmp_path: Path, text: str) -> None:
    f = tmp_path / f"policy-{time.monotonic_ns()}.yaml"
    f.write_text(text)
    r = tetra("tp", "add", str(f))
    assert r.returncode == 0, r.stderr
    name = re.search(r"name: (\S+)", text).group(1)  # type: ignore[union-attr]
    p = tetra.policies()[name]
    assert p["state"] == "TP_STATE_ENABLED", p


def add_spec(tetra: Tetra, tmp_path: Path, name: str, spec: str) -> None:
    """Add the policy ``name`` whose ``spec:`` is ``spec`` (its lines indented by two spaces)."""
    add(
        tetra,
        tmp_path,
        f"apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: {name}\nspec:\n{spec}",
    )


def add_kprobes(tetra: Tetra, tmp_path: Path, name: str, hooks: str) -> None:
    """Add the policy ``name`` with the ``kprobes:`` list ``hooks`` (items indented by two spaces)."""
    add_spec(tetra, tmp_path, name, "  kprobes:\n" + hooks)


def test_openat_prefix_only_the_match_leaves_the_kernel(start_agent, tmp_path: Path) -> None:
    agent, tetra, mport = start(start_agent)
    match, other = tmp_path / "match-file", tmp_path / "other-file"
    match.write_text("m")
    other.write_text("o")
    add(tetra, tmp_path, openat_policy("openat-prefix", str(tmp_path / "match")))
    r = subprocess.run(["/bin/cat", str(match), str(other)], capture_output=True, text=True)
    assert r.stdout == "mo"
    evs = agent.wait_for(lambda e: tps(e, "openat-prefix"))
    time.sleep(1.0)  # anything else would have arrived by now
    got = tps(agent.events(), "openat-prefix")
    assert [a["args"][1]["string_arg"] for a in got] == [str(match)]
    (ev,) = got
    assert ev["subsys"] == "syscalls" and ev["event"] == "sys_enter_openat"
    assert ev["process"]["binary"] == "/bin/cat" and ev["process"]["arguments"] == f"{match} {other}"
    assert ev["args"][0] == {"int_arg": -100} and ev["args"][2] == {"int_arg": 0}  # AT_FDCWD, O_RDONLY
    assert ev["action"] == "KPROBE_ACTION_POST" and ev["parent"]["pid"] > 0
    assert any(e.get("process_tracepoint") for e in evs)
    # The non-match (and every other openat on the machine) was counted as filtered in the kernel;
    # posted equals what arrived.
    assert (
        metric(mport, "tetragon_tracingpolicy_kernel_events_total", policy="openat-prefix", outcome="posted")
        == 1
    )
    filtered = metric(
        mport, "tetragon_tracingpolicy_kernel_events_total", policy="openat-prefix", outcome="filtered"
    )
    assert filtered >= 1
    runs = metric(mport, "tetragon_tracingpolicy_kernel_events_total", policy="openat-prefix", outcome="runs")
    assert runs >= filtered + 1


def test_raw_syscalls_match_binaries(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    a = copy_bin(tmp_path, "/bin/true", "bin-a")
    b = copy_bin(tmp_path, "/bin/true", "bin-b")
    add(
        tetra,
        tmp_path,
        f"""apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: sysenter-bin
spec:
  tracepoints:
  - subsystem: raw_syscalls
    event: sys_enter
    args:
    - index: 4
      type: syscall64
    selectors:
    - matchBinaries:
      - operator: In
        values: ["{a}"]
""",
    )
    subprocess.run([b], check=True)
    subprocess.run([a], check=True)
    agent.wait_for(lambda e: any(t["process"].get("binary") == a for t in tps(e, "sysenter-bin")))
    subprocess.run([b], check=True)
    time.sleep(1.0)
    got = tps(agent.events(), "sysenter-bin")
    assert {t["process"]["binary"] for t in got} == {a}
    ids = [t["args"][0]["syscall_id"] for t in got]
    assert {"id": 231, "abi": "x64"} in ids  # exit_group, the last thing /bin/true does


def test_sigkill_kills_the_matching_binary_only_and_monitor_mode_spares_it(
    start_agent, tmp_path: Path
) -> None:
    agent, tetra, mport = start(start_agent)
    forbidden = tmp_path / "forbidden"
    forbidden.write_text("secret")
    killer = copy_bin(tmp_path, "/bin/cat", "cat-killed")
    sibling = copy_bin(tmp_path, "/bin/cat", "cat-sibling")
    actions = "      matchActions:\n      - action: Sigkill\n"
    add(tetra, tmp_path, openat_policy("kill-forbidden", str(forbidden), binary=killer, actions=actions))

    r = subprocess.run([killer, str(forbidden)], capture_output=True)
    assert r.returncode == -9, r
    assert r.stdout == b""  # killed as the openat returned, before read
    s = subprocess.run([sibling, str(forbidden)], capture_output=True)
    assert s.returncode == 0 and s.stdout == b"secret"

    evs = agent.wait_for(
        lambda e: any(x["process"].get("binary") == killer and x.get("signal") == "SIGKILL" for x in exits(e))
    )
    (tp,) = tps(evs, "kill-forbidden")
    assert tp["action"] == "KPROBE_ACTION_SIGKILL" and tp["process"]["binary"] == killer
    (ex,) = [x for x in exits(evs) if x["process"].get("binary") == killer]
    assert ex["process"]["exec_id"] == tp["process"]["exec_id"]

    assert tetra("tp", "set-mode", "kill-forbidden", "monitor").returncode == 0
    m = subprocess.run([killer, str(forbidden)], capture_output=True)
    assert m.returncode == 0 and m.stdout == b"secret"
    skips = metric(
        mport, "tetragon_tracingpolicy_kernel_events_total", policy="kill-forbidden", outcome="monitor_skips"
    )
    assert skips == 1
    assert (
        metric(
            mport, "tetragon_tracingpolicy_kernel_events_total", policy="kill-forbidden", outcome="signals"
        )
        == 1
    )
    assert tetra("tp", "set-mode", "kill-forbidden", "enforce").returncode == 0
    assert subprocess.run([killer, str(forbidden)], capture_output=True).returncode == -9


def test_signal_and_no_post_actions(start_agent, tmp_path: Path) -> None:
    agent, tetra, mport = start(start_agent)
    target = tmp_path / "sig-target"
    target.write_text("x")
    cat = copy_bin(tmp_path, "/bin/cat", "cat-signalled")
    actions = "      matchActions:\n      - action: Signal\n        argSig: 10\n"
    add(tetra, tmp_path, openat_policy("signal-usr1", str(target), binary=cat, actions=actions))
    r = subprocess.run([cat, str(target)], capture_output=True)
    assert r.returncode == -10  # SIGUSR1's default action ends the process
    evs = agent.wait_for(lambda e: tps(e, "signal-usr1"))
    assert tps(evs, "signal-usr1")[0]["action"] == "KPROBE_ACTION_SIGNAL"
    # NoPost: matched and counted in the kernel, never sent
    quiet = tmp_path / "quiet-target"
    quiet.write_text("q")
    add(
        tetra,
        tmp_path,
        openat_policy("no-post", str(quiet), actions="      matchActions:\n      - action: NoPost\n"),
    )
    subprocess.run(["/bin/cat", str(quiet)], check=True, capture_output=True)
    deadline = time.monotonic() + 10
    while (
        metric(mport, "tetragon_tracingpolicy_kernel_events_total", policy="no-post", outcome="no_post") < 1
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.5)
    assert tps(agent.events(), "no-post") == []
    assert (
        metric(mport, "tetragon_tracingpolicy_kernel_events_total", policy="no-post", outcome="posted") == 0
    )


def test_rate_limited_post_delivers_one_event_per_window(start_agent, tmp_path: Path) -> None:
    agent, tetra, mport = start(start_agent)
    f1, f2 = tmp_path / "rl-one", tmp_path / "rl-two"
    f1.write_text("1")
    f2.write_text("2")
    actions = (
        "      matchActions:\n      - action: Post\n        rateLimit: 1m\n        rateLimitScope: global\n"
    )
    add(tetra, tmp_path, openat_policy("rate-limited", str(tmp_path / "rl-"), actions=actions))
    for _ in range(5):
        subprocess.run(["/bin/cat", str(f1)], check=True, capture_output=True)
    subprocess.run(["/bin/cat", str(f2)], check=True, capture_output=True)
    agent.wait_for(lambda e: len(tps(e, "rate-limited")) >= 2)
    time.sleep(1.0)
    got = [t["args"][1]["string_arg"] for t in tps(agent.events(), "rate-limited")]
    assert got == [str(f1), str(f2)]  # same arguments once per minute; other arguments pass
    limited = metric(
        mport, "tetragon_tracingpolicy_kernel_events_total", policy="rate-limited", outcome="rate_limited"
    )
    assert limited == 4


def _map_ids(name: str) -> set[int]:
    out = subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True, text=True, check=True).stdout
    return {m["id"] for m in json.loads(out) if m.get("name") == name}


def test_disable_enable_delete(start_agent, tmp_path: Path) -> None:
    agent, tetra, mport = start(start_agent)
    f = tmp_path / "lifecycle"
    f.write_text("x")
    before = _map_ids("tg_str_short")
    add(tetra, tmp_path, openat_policy("lifecycle", str(f)))
    ours = _map_ids("tg_str_short") - before
    assert len(ours) == 1
    assert int(tetra.policies()["lifecycle"]["kernel_memory_bytes"]) > 0

    def opened(n: int) -> None:
        subprocess.run(["/bin/cat", str(f)], check=True, capture_output=True)
        agent.wait_for(lambda e: len(tps(e, "lifecycle")) == n)

    opened(1)
    assert tetra("tp", "disable", "lifecycle").returncode == 0
    assert tetra.policies()["lifecycle"]["state"] == "TP_STATE_DISABLED"
    runs = metric(mport, "tetragon_tracingpolicy_kernel_events_total", policy="lifecycle", outcome="runs")
    subprocess.run(["/bin/cat", str(f)], check=True, capture_output=True)
    time.sleep(1.0)
    assert len(tps(agent.events(), "lifecycle")) == 1
    # detached: no more runs
    assert (
        metric(mport, "tetragon_tracingpolicy_kernel_events_total", policy="lifecycle", outcome="runs")
        == runs
    )
    assert tetra("tp", "enable", "lifecycle").returncode == 0
    opened(2)
    # the sensor RPCs act on the policies a policy sensor serves
    rows = [line.split() for line in tetra("sensors", "list").stdout.splitlines()[1:]]
    assert ["generic_tracepoint", "true", "lifecycle"] in rows
    assert tetra("sensors", "disable", "generic_tracepoint").returncode == 0
    assert tetra.policies()["lifecycle"]["state"] == "TP_STATE_DISABLED"
    assert tetra("sensors", "enable", "generic_tracepoint").returncode == 0
    assert tetra.policies()["lifecycle"]["state"] == "TP_STATE_ENABLED"
    assert tetra("tp", "delete", "lifecycle").returncode == 0
    deadline = time.monotonic() + 10
    while _map_ids("tg_str_short") & ours and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _map_ids("tg_str_short") & ours
    assert "lifecycle" not in tetra.policies()


def test_match_binaries_follow_children_and_relative_exec(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    target = tmp_path / "fc-file"
    target.write_text("x")
    sh = copy_bin(tmp_path, "/bin/sh", "fc-sh")
    rel = copy_bin(tmp_path, "/bin/cat", "rel-cat")
    text = openat_policy("follow-children", str(target), binary=sh).replace(
        f'values: ["{sh}"]', f'values: ["{sh}", "{rel}"]\n        followChildren: true'
    )
    add(tetra, tmp_path, text)
    subprocess.run(["/bin/cat", str(target)], check=True, capture_output=True)  # not under fc-sh
    subprocess.run([sh, "-c", f"/bin/cat {target}; true"], check=True, capture_output=True)
    subprocess.run(["./rel-cat", str(target)], cwd=tmp_path, check=True, capture_output=True)
    evs = agent.wait_for(lambda e: len(tps(e, "follow-children")) >= 2)
    time.sleep(1.0)
    got = tps(agent.events(), "follow-children")
    assert len(got) == 2, got
    child, relative = got
    assert child["process"]["binary"] == "/bin/cat" and child["parent"]["binary"] == sh
    assert relative["process"]["binary"] == rel  # ./rel-cat, matched as the absolute path
    assert relative["process"]["arguments"] == str(target)
    assert any(e.get("process_exec", {}).get("process", {}).get("binary") == rel for e in evs)


def _policy_with(name: str, prefix: str, selector_yaml: str) -> str:
    return openat_policy(name, prefix) + selector_yaml


PY = sys.executable
UNSHARE_NET = "import ctypes,sys; ctypes.CDLL(None, use_errno=True).unshare(0x40000000) == 0 or sys.exit(9); "
SETUID_NOBODY = "import os; os.setuid(65534); "
# a new pid namespace: the forked child is its pid 1 and goes on to the open; the parent waits
UNSHARE_PID = (
    "import ctypes,os,sys; ctypes.CDLL(None, use_errno=True).unshare(0x20000000) == 0 or sys.exit(9)\n"
    "if os.fork(): os.wait(); os._exit(0)\n"
    "assert os.getpid() == 1\n"
)


def test_pids_namespaces_capabilities_and_their_changes(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    files = {k: tmp_path / f"{k}-file" for k in ("pid", "nspid", "ns", "cap", "nschg", "capchg")}
    for f in files.values():
        f.write_text("x")
        f.chmod(0o644)
    tmp_path.chmod(0o755)
    pid_sel = f"      matchPIDs:\n      - operator: In\n        values: [{os.getpid()}]\n"
    pid_sel += "        followForks: true\n"
    add(tetra, tmp_path, _policy_with("pids", str(files["pid"]), pid_sel))
    nspid_sel = "      matchPIDs:\n      - operator: In\n        values: [1]\n        isNamespacePID: true\n"
    add(tetra, tmp_path, _policy_with("nspid", str(files["nspid"]), nspid_sel))
    ns_sel = "      matchNamespaces:\n      - namespace: Net\n        operator: In\n"
    ns_sel += "        values: [host_ns]\n"
    add(tetra, tmp_path, _policy_with("netns", str(files["ns"]), ns_sel))
    cap_sel = (
        "      matchCapabilities:\n      - type: Effective\n        operator: In\n"
        "        values: [CAP_SYS_ADMIN]\n"
    )
    add(tetra, tmp_path, _policy_with("caps", str(files["cap"]), cap_sel))
    nschg_sel = "      matchNamespaceChanges:\n      - operator: In\n        values: [Net]\n"
    add(tetra, tmp_path, _policy_with("nschange", str(files["nschg"]), nschg_sel))
    capchg_sel = (
        "      matchCapabilityChanges:\n      - type: Effective\n        operator: In\n"
        "        values: [CAP_SYS_ADMIN]\n"
    )
    add(tetra, tmp_path, _policy_with("capchange", str(files["capchg"]), capchg_sel))

    def py(code: str, f: Path) -> None:
        # the openat is what counts (the tracepoint fires on entry); as nobody it may be refused
        opener = f"\ntry: open({str(f)!r})\nexcept PermissionError: pass"
        r = subprocess.run([PY, "-c", code + opener], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

    # matchPIDs followForks: our children match; a process outside our tree does not
    py("", files["pid"])
    # a grandchild orphaned before it execs /bin/cat: reparented, so no longer in our tree
    orphan = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    if os.fork() == 0:\n"
        f"        time.sleep(0.5); os.execv('/bin/cat', ['/bin/cat', {str(files['pid'])!r}])\n"
        "    os._exit(0)\n"
    )
    subprocess.run([PY, "-c", orphan], check=True)
    time.sleep(1.0)
    # matchPIDs isNamespacePID: pid 1 of a new pid namespace matches, our pid does not
    py("", files["nspid"])
    py(UNSHARE_PID, files["nspid"])
    # matchNamespaces Net In host_ns: a process in a new network namespace does not match
    py("", files["ns"])
    py(UNSHARE_NET, files["ns"])
    # matchCapabilities: root has CAP_SYS_ADMIN, nobody has none
    py("", files["cap"])
    py(SETUID_NOBODY, files["cap"])
    # changes since exec: unshare / setuid after exec are seen; none without
    py("", files["nschg"])
    py(UNSHARE_NET, files["nschg"])
    py("", files["capchg"])
    py(SETUID_NOBODY, files["capchg"])
    names = ("pids", "nspid", "netns", "caps", "nschange", "capchange")
    agent.wait_for(lambda e: all(tps(e, n) for n in names))
    time.sleep(1.0)
    evs = agent.events()

    def code_of(t: dict[str, Any]) -> str:
        return t["process"]["arguments"]

    assert [t["process"]["binary"] for t in tps(evs, "pids")] == [PY]
    orphan_exec = [e for e in execs(evs) if e["process"]["binary"] == "/bin/cat" and "pid-file" in code_of(e)]
    assert len(orphan_exec) == 1  # it ran, and opened the file, unmatched
    (nspid_ev,) = tps(evs, "nspid")
    assert "unshare(0x20000000)" in code_of(nspid_ev) and nspid_ev["process"]["pid"] != 1
    (ns_ev,) = tps(evs, "netns")
    assert "unshare" not in code_of(ns_ev)
    (cap_ev,) = tps(evs, "caps")
    assert "setuid" not in code_of(cap_ev)
    (nschg_ev,) = tps(evs, "nschange")
    assert "unshare" in code_of(nschg_ev)
    (capchg_ev,) = tps(evs, "capchange")
    assert "setuid" in code_of(capchg_ev)


# (policy, selector on args [dfd, path, flags], the opens that must match)
OPS = [
    ("op-gt", "{index: 2, operator: GT, values: ['0']}", {"w", "c"}),
    ("op-lt", "{index: 2, operator: LT, values: ['1']}", {"r", "s"}),
    ("op-mask", "{index: 2, operator: Mask, values: ['0x40']}", {"c"}),
    ("op-neq", "{index: 2, operator: NotEqual, values: ['0']}", {"w", "c"}),
    ("op-inrange", "{index: 2, operator: InRange, values: ['1:2']}", {"w"}),
    ("op-notinrange", "{index: 2, operator: NotInRange, values: ['1:0x7fffffff']}", {"r", "s"}),
    ("op-inmap", "{index: 2, operator: InMap, values: ['1', '2', '3', '4', '5', '6']}", {"w"}),
    ("op-notinmap", "{index: 2, operator: NotInMap, values: ['0', '1']}", {"c"}),
    ("op-postfix", "{index: 1, operator: Postfix, values: [.txt]}", {"c"}),
    ("op-notpostfix", "{index: 1, operator: NotPostfix, values: [.txt]}", {"r", "w", "s"}),
    ("op-equal", "{index: 1, operator: Equal, values: [EQ]}", {"w"}),
    ("op-notequal", "{index: 1, operator: NotEqual, values: [EQ]}", {"r", "c", "s"}),
    # values under 32 bytes are compared in place (tg_str_short), longer ones hashed
    ("op-equal-short", "{index: 1, operator: Equal, values: [/tmp/none, SHORT]}", {"s"}),
    ("op-notequal-short", "{index: 1, operator: NotEqual, values: [SHORT, /x]}", {"r", "w", "c"}),
]


def test_match_args_operators_in_the_kernel(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    d = tmp_path / "ops"
    d.mkdir()
    short = Path(tempfile.mkdtemp(prefix="tg", dir="/tmp"))
    paths = {"r": d / "r-file", "w": d / "w-file", "c": d / "c-file.txt", "s": short / "s"}
    paths["r"].write_text("r")
    paths["w"].write_text("w")
    paths["s"].write_text("s")
    assert len(str(paths["s"])) < 32
    tag = copy_bin(tmp_path, PY, "py-ops")  # only this binary's opens count
    for name, sel, _ in OPS:
        sel = sel.replace("EQ", str(paths["w"])).replace("SHORT", str(paths["s"]))
        text = openat_policy(name, "/").replace(
            '    - matchArgs:\n      - index: 1\n        operator: Prefix\n        values: ["/"]\n',
            f'    - matchArgs: [{sel}]\n      matchBinaries: [{{operator: In, values: ["{tag}"]}}]\n',
        )
        add(tetra, tmp_path, text)
    # libc's open: exactly these flags (os.open would add O_CLOEXEC)
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"for p, fl in (({str(paths['r'])!r}, 0), ({str(paths['w'])!r}, 1), ({str(paths['c'])!r}, 0x241),"
        f" ({str(paths['s'])!r}, 0)):\n"
        "    fd = libc.open(p.encode(), fl, 0o600)\n"
        "    assert fd >= 0, ctypes.get_errno()\n"
        "    os.close(fd)\n"
    )
    try:
        r = subprocess.run([tag, "-S", "-c", code], capture_output=True, text=True)
    finally:
        shutil.rmtree(short)
    assert r.returncode == 0, r.stderr
    agent.wait_for(lambda e: all(tps(e, n) for n, _, _ in OPS))
    time.sleep(1.0)
    evs = agent.events()
    by_path = {str(p): k for k, p in paths.items()}
    for name, _, want in OPS:  # the interpreter's own opens may match too; only ours are compared
        got = {
            by_path[t["args"][1]["string_arg"]]
            for t in tps(evs, name)
            if t["args"][1]["string_arg"] in by_path
        }
        assert got == want, (name, got)


def test_char_buf_with_size_arg_and_fd(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    echo = copy_bin(tmp_path, "/bin/echo", "echo-buf")
    add(
        tetra,
        tmp_path,
        f"""apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: write-buf
spec:
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_write
    args:
    - {{index: 5, type: fd}}
    - {{index: 6, type: char_buf, sizeArgIndex: 3}}
    - {{index: 7, type: size_t}}
    selectors:
    - matchBinaries: [{{operator: In, values: ["{echo}"]}}]
""",
    )
    r = subprocess.run([echo, "hello-buf"], capture_output=True)
    assert r.stdout == b"hello-buf\n"
    (ev,) = tps(agent.wait_for(lambda e: tps(e, "write-buf")), "write-buf")
    fd, buf, count = ev["args"]
    assert fd == {"int_arg": 1}
    assert base64.b64decode(buf["bytes_arg"]) == b"hello-buf\n"
    assert count == {"size_arg": "10"}
