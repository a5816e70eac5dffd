"""The start-up procfs scan, on the real /proc and on a fake tree."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tetragon_core.process.cache import ProcessCache
from tetragon_core.process.flags import ERROR_CWD, IN_INIT_TREE, NO_CWD_SUPPORT, PROCFS, ROOT_CWD, TRUNC_ARGS
from tetragon_core.process.manager import ProcessManager
from tetragon_core.process.messages import ExecKey, ExecMessage
from tetragon_core.process.procfs import execve_map_entries, is_kernel_thread, walk_procfs

TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
INVALID = 4294967295
HEX64 = "6b742e38ee3a212239e6d48b2954435a407af44b9a354bdf540db22f460ab40e"


def by_pid(msgs: list[ExecMessage]) -> dict[int, ExecMessage]:
    return {m.pid: m for m in msgs}


def assert_parents_first(msgs: list[ExecMessage]) -> None:
    index = {m.pid: i for i, m in enumerate(msgs)}
    for i, m in enumerate(msgs):
        if m.parent.pid in index:
            assert index[m.parent.pid] < i, f"{m.pid} before its parent {m.parent.pid}"


# -- the real /proc -------------------------------------------------------------------------


def test_real_proc_has_this_process() -> None:
    msgs = walk_procfs()
    procs = by_pid(msgs)
    me = procs[os.getpid()]
    assert me.filename == os.path.realpath(sys.executable) == os.readlink("/proc/self/exe")
    if not me.flags & TRUNC_ARGS:
        assert me.args == sys.orig_argv[1:]
    cwd = os.getcwd()
    if cwd == "/":
        assert me.flags & ROOT_CWD and me.cwd == "/"
    elif not me.flags & NO_CWD_SUPPORT:
        assert me.cwd == cwd
    assert me.flags & PROCFS
    assert me.tid == me.pid
    assert me.creds.euid == os.geteuid() and me.creds.uid == os.getuid()
    assert me.creds.egid == os.getegid()
    with open("/proc/self/stat", "rb") as f:
        stat = f.read()
    starttime = int(stat[stat.rfind(b")") + 2 :].split()[19])
    assert me.ktime == starttime * TICK
    assert me.parent.pid == os.getppid()
    parent = procs[os.getppid()]
    assert me.parent == ExecKey(parent.pid, parent.ktime)
    assert me.ns[0] == os.stat("/proc/self/ns/uts").st_ino


def test_real_proc_parents_first_and_roots() -> None:
    msgs = walk_procfs()
    assert_parents_first(msgs)
    procs = by_pid(msgs)
    assert procs[1].parent == ExecKey(0, 1)
    if 2 in procs and is_kernel_thread(procs[2]):
        assert procs[2].filename == "[kthreadd]"
        assert procs[2].parent == ExecKey(0, 1)


def test_real_proc_feeds_the_manager() -> None:
    msgs = walk_procfs()
    m = ProcessManager(ProcessCache(65536), "n", str, procfs=None)
    out = m.handle_procfs(msgs)
    exported = {r.process_exec.process.pid for r in out if r.process_exec and r.process_exec.process}
    assert os.getpid() in exported
    assert 0 in exported
    assert len(m.cache) == len(msgs) + 1


# -- a fake tree ----------------------------------------------------------------------------


def make_proc(
    root: Path,
    pid: int,
    *,
    comm: str,
    cmdline: bytes,
    ppid: int,
    starttime: int,
    exe: str | None = None,
    cwd: str | None = "/",
    uids: tuple[int, int, int, int] = (1000, 1000, 1000, 1000),
    nstgid: tuple[int, ...] = (),
    cap_prm: int = 0,
    loginuid: str | None = "4294967295",
    cgroup: str = "0::/user.slice/user-1000.slice/session-1.scope\n",
) -> Path:
    d = root / str(pid)
    d.mkdir()
    (d / "cmdline").write_bytes(cmdline)
    (d / "comm").write_text(comm + "\n")
    middle = " ".join(["0"] * 17)
    (d / "stat").write_text(f"{pid} ({comm}) S {ppid} {middle} {starttime} 1000 200 18446744073709551615\n")
    u = "\t".join(map(str, uids))
    ns_ids = "\t".join(map(str, (pid, *nstgid)))
    (d / "status").write_text(
        f"Name:\t{comm}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\n"
        f"PPid:\t{ppid}\nUid:\t{u}\nGid:\t100\t101\t102\t103\nNStgid:\t{ns_ids}\n"
        f"CapInh:\t0000000000000000\nCapPrm:\t{cap_prm:016x}\nCapEff:\t{cap_prm:016x}\n"
    )
    if loginuid is not None:
        (d / "loginuid").write_text(loginuid)
    (d / "cgroup").write_text(cgroup)
    if exe is not None:
        (d / "exe").symlink_to(exe)
    if cwd is not None:
        (d / "cwd").symlink_to(cwd)
    return d


@pytest.fixture
def fake_proc(tmp_path: Path) -> Path:
    root = tmp_path / "proc"
    root.mkdir()
    make_proc(
        root,
        1,
        comm="systemd",
        cmdline=b"/sbin/init\0splash\0",
        ppid=0,
        starttime=2,
        exe="/usr/lib/systemd/systemd",
        uids=(0, 0, 0, 0),
    )
    make_proc(root, 2, comm="kthreadd", cmdline=b"", ppid=0, starttime=2, uids=(0, 0, 0, 0))
    make_proc(root, 7, comm="kworker/0:1", cmdline=b"", ppid=2, starttime=3, uids=(0, 0, 0, 0))
    # A child whose pid is lower than its parent's, with a comm full of parentheses and spaces.
    make_proc(
        root,
        42,
        comm="weird) (name",
        cmdline=b"python3\0-c\0print(1) (x)\0",
        ppid=43,
        starttime=500,
        exe="/usr/bin/python3.11",
        cwd="/home/u",
        uids=(1000, 1001, 1002, 1003),
        nstgid=(1,),
        cap_prm=0x3,
        loginuid="1000",
        cgroup=f"12:pids:/system.slice/docker-{HEX64}.scope\n0::/system.slice/docker-{HEX64}.scope\n",
    )
    make_proc(root, 43, comm="bash", cmdline=b"-bash\0", ppid=1, starttime=400, exe="/usr/bin/bash", cwd=None)
    make_proc(
        root,
        45,
        comm="sh",
        cmdline=b"sh\0",
        ppid=42,
        starttime=600,
        exe="/bin/sh",
        nstgid=(2,),
        cgroup=f"0::/system.slice/docker-{HEX64}.scope\n",
    )
    (root / "44").mkdir()  # exited mid-scan: nothing left to read
    (root / "sys").mkdir()
    (root / "self").symlink_to("42")
    return root


def test_fake_tree_order_and_parents(fake_proc: Path) -> None:
    msgs = walk_procfs(str(fake_proc))
    assert sorted(m.pid for m in msgs) == [1, 2, 7, 42, 43, 45]
    assert_parents_first(msgs)
    procs = by_pid(msgs)
    assert procs[42].parent == ExecKey(43, 400 * TICK)
    assert procs[43].parent == ExecKey(1, 2 * TICK)
    assert procs[1].parent == procs[2].parent == ExecKey(0, 1)


def test_fake_tree_stat_with_parenthesised_comm(fake_proc: Path) -> None:
    m = by_pid(walk_procfs(str(fake_proc)))[42]
    assert m.ktime == 500 * TICK
    assert m.filename == "/usr/bin/python3.11"
    assert m.args == ["-c", "print(1) (x)"]
    assert m.cwd == "/home/u"
    assert m.flags == PROCFS
    c = m.creds
    assert (c.uid, c.euid, c.suid, c.fsuid) == (1000, 1001, 1002, 1003)
    assert (c.gid, c.egid, c.sgid, c.fsgid) == (100, 101, 102, 103)
    assert (c.cap_permitted, c.cap_effective, c.cap_inheritable) == (3, 3, 0)
    assert m.auid == 1000
    assert m.nspid == 1
    assert m.cgroup_name == f"docker-{HEX64}.scope"
    assert m.ns == (0,) * 10


def test_fake_tree_kernel_threads_and_cwd_flags(fake_proc: Path) -> None:
    procs = by_pid(walk_procfs(str(fake_proc)))
    k = procs[2]
    assert (k.filename, k.args, k.cwd, k.flags, k.auid) == ("[kthreadd]", [], "", PROCFS, INVALID)
    assert is_kernel_thread(k) and is_kernel_thread(procs[7])
    assert procs[7].filename == "[kworker/0:1]"
    assert procs[7].parent == ExecKey(2, 2 * TICK)
    assert not is_kernel_thread(procs[1])
    assert procs[1].flags == PROCFS | ROOT_CWD and procs[1].cwd == "/"
    assert procs[1].filename == "/usr/lib/systemd/systemd" and procs[1].args == ["splash"]
    assert procs[43].flags == PROCFS | ROOT_CWD | ERROR_CWD and procs[43].cwd == ""
    # No container: nspid is reported as 0, as upstream does.
    assert procs[43].nspid == 0 and procs[43].auid == INVALID


def test_fake_tree_execve_map_rows(fake_proc: Path) -> None:
    msgs = walk_procfs(str(fake_proc))
    rows = execve_map_entries(msgs)
    assert rows[0][:4] == (0, 1, 0, 1)
    by = {r.pid: r for r in rows}
    assert by[42].flags == IN_INIT_TREE and by[45].flags == IN_INIT_TREE
    assert by[43].flags == 0 and by[1].flags == 0
    assert (by[42].parent_pid, by[42].parent_ktime, by[42].ktime) == (43, 400 * TICK, 500 * TICK)
    assert by[2].binary == "kthreadd" and by[42].binary == "/usr/bin/python3.11"
    assert by[42].cap_permitted == 3 and by[42].nspid == 1


def test_fake_tree_truncates_like_upstream(tmp_path: Path) -> None:
    root = tmp_path / "proc"
    root.mkdir()
    make_proc(root, 1, comm="init", cmdline=b"init\0", ppid=0, starttime=1, exe="/sbin/init")
    long_arg = b"x" * 2000
    make_proc(
        root,
        60,
        comm="java",
        cmdline=b"java\0-cp\0" + long_arg + b"\0",
        ppid=1,
        starttime=9,
        exe="/usr/bin/java",
        cwd="/srv",
    )
    m = by_pid(walk_procfs(str(root)))[60]
    assert m.flags == PROCFS | TRUNC_ARGS | NO_CWD_SUPPORT
    assert m.cwd == ""
    assert m.args[0] == "-cp" and 0 < len(m.args[1]) < 2000
    # What fits upstream's 1508-byte buffer once both cwd slots are given up, less the parent's args.
    raw_len = len("/usr/bin/java") + 1 + len(m.args[0]) + 1 + len(m.args[1])
    assert raw_len == 1508 - 2 * (64 + 256) + 2 * 256 - len("/sbin/init\0")


def test_fake_tree_through_the_manager(fake_proc: Path) -> None:
    msgs = walk_procfs(str(fake_proc))
    m = ProcessManager(ProcessCache(100), "node", lambda k: f"T{k}", procfs=None)
    out = m.handle_procfs(msgs)
    pids = [r.process_exec.process.pid or 0 for r in out if r.process_exec and r.process_exec.process]
    assert pids[0] == 0
    assert sorted(pids[1:]) == [1, 42, 43, 45]
    ev = next(
        r.process_exec
        for r in out
        if r.process_exec and r.process_exec.process and r.process_exec.process.pid == 42
    )
    assert ev is not None and ev.process is not None and ev.parent is not None
    assert ev.parent.pid == 43
    assert ev.process.docker == HEX64[:31]
    assert ev.process.arguments == '-c "print(1) (x)"'
    assert ev.process.uid == 1001
