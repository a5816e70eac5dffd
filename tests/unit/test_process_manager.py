"""ProcessManager: exec/clone/exit semantics, refcounts, event cache and the <kernel> root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tetragon_core.events import GetEventsResponse, Process, ProcessExec, ProcessExit, encode_json
from tetragon_core.metrics import Registry
from tetragon_core.process.cache import ProcessCache
from tetragon_core.process.caps import EXEC_SETUID, EXEC_SETUID_ROOT
from tetragon_core.process.eventcache import EventCache
from tetragon_core.process.execid import exec_id
from tetragon_core.process.flags import CLONE, COMMON_FLAG_CLONE, EXECVE, IN_INIT_TREE, PROCFS, ROOT_CWD
from tetragon_core.process.manager import ProcessManager
from tetragon_core.process.messages import CloneMessage, Creds, ExecKey, ExecMessage, ExitMessage
from tetragon_core.process.userdb import UserDB

NODE = "test-node"
INVALID = 4294967295
HOST_NS = (11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
KERNEL = ExecKey(0, 1)


def clock(ktime: int) -> str:
    return f"T{ktime}"


def creds(uid: int = 1000, *, euid: int | None = None, caps: int = 0, securebits: int = 0) -> Creds:
    e = uid if euid is None else euid
    return Creds(uid, uid, uid, uid, e, uid, e, uid, securebits, caps, caps, 0, 0, 0, 0, 0)


def exec_msg(
    pid: int,
    ktime: int,
    parent: ExecKey = KERNEL,
    *,
    flags: int = EXECVE | CLONE,
    filename: str = "/bin/true",
    args: tuple[str, ...] = (),
    cwd: str = "/home/u",
    cleanup: ExecKey | None = None,
    c: Creds | None = None,
    ns: tuple[int, ...] = HOST_NS,
    **extra: Any,
) -> ExecMessage:
    return ExecMessage(
        ktime=ktime,
        pid=pid,
        tid=pid,
        nspid=0,
        flags=flags,
        parent=parent,
        parent_flags=0,
        cleanup_key=cleanup,
        filename=filename,
        args=list(args),
        cwd=cwd,
        auid=INVALID,
        creds=c if c is not None else creds(),
        ns=ns,
        **extra,
    )


def clone_msg(pid: int, ktime: int, parent: ExecKey, flags: int = COMMON_FLAG_CLONE) -> CloneMessage:
    return CloneMessage(ktime=ktime, parent=parent, pid=pid, tid=pid, nspid=0, flags=flags)


def exit_msg(key: ExecKey, code: int = 0, ktime: int = 99_000) -> ExitMessage:
    return ExitMessage(ktime=ktime, key=key, code=code, tid=key.pid)


def eid(pid: int, ktime: int) -> str:
    return exec_id(NODE, pid, ktime)


def manager(
    *, event_cache: EventCache | None = None, size: int = 100, registry: Registry | None = None, **kw: Any
) -> tuple[ProcessManager, Registry]:
    reg = registry if registry is not None else Registry()
    m = ProcessManager(
        ProcessCache(size, reg), NODE, clock, registry=reg, event_cache=event_cache, procfs=None, **kw
    )
    return m, reg


def pexec(res: GetEventsResponse | None) -> ProcessExec:
    assert res is not None and res.process_exec is not None
    return res.process_exec


def pexit(res: GetEventsResponse | None) -> ProcessExit:
    assert res is not None and res.process_exit is not None
    return res.process_exit


def refcnt(m: ProcessManager, pid: int, ktime: int) -> int:
    e = m.cache.peek(eid(pid, ktime))
    assert e is not None
    return e.refcnt


def test_kernel_root_process() -> None:
    m, _ = manager()
    kid = eid(0, 1)
    assert m.kernel_exec_id == kid
    k = m.cache.peek(kid)
    assert k is not None and k.pinned and k.refcnt == 1
    assert json.loads(msgspec.json.encode(k.process)) == {
        "exec_id": kid,
        "pid": 0,
        "uid": 0,
        "binary": "<kernel>",
        "flags": "procFS",
        "start_time": "T1",
        "auid": 0,
        "parent_exec_id": kid,
        "tid": 0,
        "in_init_tree": False,
    }


def test_fork_exec_parent_linkage_and_refcounts() -> None:
    m, _ = manager()
    bash = pexec(m.handle_exec(exec_msg(100, 1000, filename="/bin/bash")))
    assert bash.parent is not None and bash.parent.exec_id == m.kernel_exec_id
    m.handle_clone(clone_msg(101, 2000, ExecKey(100, 1000)))
    forked = m.cache.peek(eid(101, 2000))
    assert forked is not None
    assert forked.process.flags == "execve"
    assert forked.process.binary == "/bin/bash"
    assert forked.process.parent_exec_id == eid(100, 1000)
    assert (forked.process.pid, forked.process.tid, forked.process.start_time) == (101, 101, "T2000")

    res = m.handle_exec(
        exec_msg(
            101,
            3000,
            ExecKey(100, 1000),
            flags=EXECVE | ROOT_CWD | CLONE,
            filename="/usr/bin/ls",
            args=("-l", "my dir"),
            cwd="/",
            cleanup=ExecKey(101, 2000),
        )
    )
    ev = pexec(res)
    assert res is not None and res.time == "T3000" and res.node_name == NODE
    p = ev.process
    assert p is not None and ev.parent is not None
    assert p.exec_id == eid(101, 3000)
    assert p.parent_exec_id == ev.parent.exec_id == eid(100, 1000)
    assert p.flags == "execve rootcwd clone"
    assert p.arguments == '-l "my dir"'
    assert (p.binary, p.cwd, p.pid, p.tid, p.uid, p.auid) == ("/usr/bin/ls", "/", 101, 101, 1000, INVALID)
    assert p.start_time == "T3000"

    b = m.cache.peek(eid(100, 1000))
    assert b is not None
    assert b.refcnt == 2
    assert b.refcnt_ops == {"process++": 1, "parent++": 2, "parent--": 1}
    assert forked.refcnt == 0
    assert forked.refcnt_ops == {"process++": 1, "process--": 1}
    assert refcnt(m, 101, 3000) == 1
    assert refcnt(m, 0, 1) == 2

    ex = pexit(m.handle_exit(exit_msg(ExecKey(101, 3000), code=3 << 8, ktime=4000)))
    assert (ex.status, ex.signal, ex.time) == (3, "", "T4000")
    assert ex.process is p and ex.parent is not None and ex.parent.exec_id == eid(100, 1000)
    assert refcnt(m, 101, 3000) == 0
    assert b.refcnt == 1

    ex = pexit(m.handle_exit(exit_msg(ExecKey(100, 1000), code=9)))
    assert (ex.status, ex.signal) == (0, "SIGKILL")
    assert b.refcnt == 0
    assert refcnt(m, 0, 1) == 1

    m.cache.gc_tick()
    assert len(m.cache) == 4
    m.cache.gc_tick()
    assert [d.process.exec_id for d in m.cache.dump()] == [m.kernel_exec_id]


def test_exec_without_fork_descends_from_previous_image() -> None:
    m, _ = manager()
    m.handle_exec(exec_msg(200, 1000, filename="/bin/sh"))
    ev = pexec(
        m.handle_exec(
            exec_msg(200, 5000, ExecKey(1, 10), flags=EXECVE, filename="/bin/app", cleanup=ExecKey(200, 1000))
        )
    )
    assert ev.process is not None and ev.parent is not None
    assert ev.process.parent_exec_id == ev.parent.exec_id == eid(200, 1000)
    assert ev.process.flags == "execve"
    old = m.cache.peek(eid(200, 1000))
    assert old is not None
    assert old.refcnt == 1
    assert old.refcnt_ops == {"process++": 1, "parent++": 1, "process--": 1}
    assert refcnt(m, 0, 1) == 1  # the old image's parent++ on <kernel> was dropped
    m.handle_exit(exit_msg(ExecKey(200, 5000)))
    assert old.refcnt == 0


@pytest.mark.parametrize(
    ("code", "status", "signal"),
    [
        (0, 0, ""),
        (3 << 8, 3, ""),
        (255 << 8, 255, ""),
        (9, 0, "SIGKILL"),
        (0x80 | 11, 0, "SIGSEGV"),
        (15, 0, "SIGTERM"),
    ],
)
def test_exit_status_and_signal(code: int, status: int, signal: str) -> None:
    m, _ = manager()
    m.handle_exec(exec_msg(300, 1000))
    ex = pexit(m.handle_exit(exit_msg(ExecKey(300, 1000), code=code)))
    assert (ex.status, ex.signal) == (status, signal)


def test_exit_of_unknown_process() -> None:
    m, reg = manager()
    res = m.handle_exit(ExitMessage(ktime=9000, key=ExecKey(4242, 777), code=0, tid=4242))
    assert res is not None
    assert json.loads(encode_json(res)) == {
        "process_exit": {"process": {"pid": 4242, "start_time": "T777"}, "time": "T9000"},
        "node_name": NODE,
        "time": "T9000",
    }
    assert reg["tetragon_process_cache_misses_total"].get("get") == 1


def test_missing_parent_without_event_cache_still_emits() -> None:
    m, reg = manager()
    ev = pexec(m.handle_exec(exec_msg(310, 1000, ExecKey(309, 5))))
    assert ev.parent is None
    assert ev.process is not None and ev.process.parent_exec_id == eid(309, 5)
    e = m.cache.peek(eid(310, 1000))
    assert e is not None and not e.holds_parent_ref
    assert reg["tetragon_process_cache_misses_total"].get("get") == 1
    # Its exit must not touch a parent it never referenced.
    m.handle_exec(exec_msg(309, 5))
    m.handle_exit(exit_msg(ExecKey(310, 1000)))
    assert refcnt(m, 309, 5) == 1


def test_event_cache_completes_exec_when_parent_arrives() -> None:
    reg = Registry()
    ec = EventCache(retries=3, registry=reg)
    m, _ = manager(event_cache=ec, registry=reg)
    assert m.handle_exec(exec_msg(321, 2000, ExecKey(320, 1000))) is None
    assert len(ec) == 1
    assert ec.retry_tick() == []
    assert reg["tetragon_event_cache_fetch_retries_total"].get("parent_info") == 1
    pexec(m.handle_exec(exec_msg(320, 1000)))
    out = ec.retry_tick()
    assert len(out) == 1
    ev = pexec(out[0])
    assert ev.process is not None and ev.parent is not None
    assert (ev.process.pid, ev.parent.pid) == (321, 320)
    assert refcnt(m, 320, 1000) == 2
    assert len(ec) == 0
    assert reg["tetragon_event_cache_inserts_total"].get() == 1


def test_event_cache_gives_up_after_retries() -> None:
    reg = Registry()
    ec = EventCache(retries=2, registry=reg)
    m, _ = manager(event_cache=ec, registry=reg)
    assert m.handle_exec(exec_msg(331, 2000, ExecKey(330, 1000))) is None
    assert ec.retry_tick() == []
    out = ec.retry_tick()
    assert len(out) == 1 and pexec(out[0]).parent is None
    assert reg["tetragon_event_cache_fetch_failures_total"].get("PROCESS_EXEC", "parent_info") == 1


def test_exit_before_exec_waits_in_event_cache() -> None:
    ec = EventCache(retries=5)
    m, _ = manager(event_cache=ec)
    m.handle_exec(exec_msg(340, 500))
    assert m.handle_exit(exit_msg(ExecKey(341, 1000), code=1 << 8)) is None
    m.handle_exec(exec_msg(341, 1000, ExecKey(340, 500), filename="/bin/false"))
    assert refcnt(m, 340, 500) == 2
    out = ec.retry_tick()
    ex = pexit(out[0])
    assert ex.process is not None and ex.process.binary == "/bin/false" and ex.status == 1
    assert ex.parent is not None and ex.parent.pid == 340
    assert refcnt(m, 341, 1000) == 0
    assert refcnt(m, 340, 500) == 1


def test_clone_before_parent_waits_in_event_cache() -> None:
    ec = EventCache()
    m, _ = manager(event_cache=ec)
    m.handle_clone(clone_msg(351, 2000, ExecKey(350, 1000)))
    assert eid(351, 2000) not in m.cache
    m.handle_exec(exec_msg(350, 1000))
    assert ec.retry_tick() == []
    assert eid(351, 2000) in m.cache
    assert refcnt(m, 350, 1000) == 2


def test_exec_before_its_clone_releases_clone_later() -> None:
    ec = EventCache()
    m, _ = manager(event_cache=ec)
    m.handle_exec(exec_msg(360, 1000))
    m.handle_exec(exec_msg(361, 3000, ExecKey(360, 1000), cleanup=ExecKey(361, 2000)))
    m.handle_clone(clone_msg(361, 2000, ExecKey(360, 1000)))
    assert refcnt(m, 361, 2000) == 1
    ec.retry_tick()
    assert refcnt(m, 361, 2000) == 0
    assert refcnt(m, 360, 1000) == 2  # process++ and the exec'd child's parent++


def test_clone_fields() -> None:
    m, _ = manager()
    parent = pexec(m.handle_exec(exec_msg(370, 1000, args=("a b",), cgroup_name="x"))).process
    assert parent is not None
    m.handle_clone(clone_msg(371, 2000, ExecKey(370, 1000), COMMON_FLAG_CLONE | IN_INIT_TREE))
    child = m.cache.peek(eid(371, 2000))
    assert child is not None
    c = child.process
    assert c.flags == "execve inInitTree" and c.in_init_tree is True
    assert (c.arguments, c.binary, c.cwd) == (parent.arguments, parent.binary, parent.cwd)
    assert parent.in_init_tree is False and parent.exec_id == eid(370, 1000)
    assert child.holds_parent_ref


def test_cred_ns_and_binary_properties() -> None:
    m, _ = manager(enable_process_cred=True, enable_process_ns=True, host_namespaces=HOST_NS)
    ns = (11, 12, 13, 14, 15, 99, 0, 0, 19, 20)
    msg = exec_msg(
        380,
        1000,
        c=creds(1000, euid=0, caps=1 << 21 | 1 << 12, securebits=16),
        ns=ns,
        secureexec=EXEC_SETUID | EXEC_SETUID_ROOT,
    )
    ev = pexec(m.handle_exec(msg))
    p = ev.process
    assert p is not None and p.cap is not None and p.ns is not None and p.process_credentials is not None
    assert p.uid == 0
    assert p.cap.permitted == ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"] and p.cap.inheritable == []
    assert p.ns.uts is not None and p.ns.uts.is_host and p.ns.uts.inum == 11
    assert p.ns.net is not None and not p.ns.net.is_host and p.ns.net.inum == 99
    assert p.ns.time is None and p.ns.time_for_children is None
    pc = p.process_credentials
    assert (pc.uid, pc.euid, pc.fsuid, pc.securebits) == (1000, 0, 0, ["SecBitKeepCaps"])
    assert p.binary_properties is not None
    assert p.binary_properties.setuid == 0 and p.binary_properties.setgid is None
    assert p.binary_properties.privileges_changed == ["PRIVILEGES_RAISED_EXEC_FILE_SETUID"]
    cached = m.cache.peek(eid(380, 1000))
    assert cached is not None and cached.process.binary_properties is None
    k = m.cache.peek(m.kernel_exec_id)
    assert k is not None and k.process.cap is not None and k.process.ns is not None

    unlinked = pexec(m.handle_exec(exec_msg(381, 1000, ino=1234, nlink=0))).process
    assert unlinked is not None and unlinked.binary_properties is not None
    assert json.loads(msgspec.json.encode(unlinked.binary_properties)) == {
        "file": {"inode": {"number": "1234", "links": 0}}
    }


def test_cred_ns_disabled_by_default() -> None:
    m, _ = manager()
    p = pexec(m.handle_exec(exec_msg(390, 1000, secureexec=EXEC_SETUID))).process
    assert p is not None
    assert (p.cap, p.ns, p.process_credentials, p.binary_properties, p.user) == (None,) * 5


def test_username_metadata(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n")
    reg = Registry()
    m, _ = manager(username_metadata=True, host_namespaces=HOST_NS, user_db=UserDB(str(passwd)), registry=reg)
    p = pexec(m.handle_exec(exec_msg(400, 1000))).process
    assert p is not None and p.user is not None and p.user.name == "alice"
    other_mnt = (11, 12, 99, 14, 15, 16, 17, 18, 19, 20)
    p = pexec(m.handle_exec(exec_msg(401, 1000, ns=other_mnt))).process
    assert p is not None and p.user is None
    assert (
        reg["tetragon_debug_events_total"].get("process_metadata_username_ignored_not_in_host_namespaces")
        == 1
    )
    p = pexec(m.handle_exec(exec_msg(402, 1000, c=creds(4321)))).process
    assert p is not None and p.user is None
    assert reg["tetragon_errors_total"].get("process_metadata_username_failed") == 1


def test_docker_id_and_relative_binary() -> None:
    m, _ = manager()
    hex64 = "6b742e38ee3a212239e6d48b2954435a407af44b9a354bdf540db22f460ab40e"
    p = pexec(
        m.handle_exec(
            exec_msg(410, 1000, filename="./run", cwd="/srv/app", cgroup_name=f"docker-{hex64}.scope")
        )
    ).process
    assert p is not None
    assert p.docker == hex64[:31]
    assert p.binary == "/srv/app/run"


def test_handle_procfs_emits_kernel_first_and_hides_kthreads() -> None:
    m, _ = manager()
    msgs = [
        exec_msg(1, 100, KERNEL, flags=PROCFS | ROOT_CWD, filename="/sbin/init", cwd="/"),
        exec_msg(2, 100, KERNEL, flags=PROCFS, filename="[kthreadd]", cwd="", c=creds(0)),
        exec_msg(3, 200, ExecKey(2, 100), flags=PROCFS, filename="[rcu_gp]", cwd="", c=creds(0)),
        exec_msg(50, 300, ExecKey(1, 100), flags=PROCFS, filename="/usr/sbin/sshd", args=("-D",)),
    ]
    out = m.handle_procfs(msgs)
    procs = [pexec(r).process for r in out]
    assert [p.pid if p else None for p in procs] == [0, 1, 50]
    first = pexec(out[0])
    assert first.process is first.parent
    assert out[0].time == "T1"
    assert [p.flags for p in procs if p] == ["procFS", "procFS rootcwd", "procFS"]
    assert eid(3, 200) in m.cache
    assert refcnt(m, 0, 1) == 4  # itself, its own exec event, pid 1, pid 2
    assert refcnt(m, 2, 100) == 2


def test_exec_event_matches_upstream_doc_example() -> None:
    reg = Registry()
    node = "kind-control-plane"
    m = ProcessManager(ProcessCache(10, reg), node, clock, registry=reg, procfs=None)
    msg = exec_msg(
        130877,
        41275524263221,
        KERNEL,
        flags=EXECVE | ROOT_CWD | CLONE,
        filename="/sbin/modprobe",
        args=("-q", "--", "fs-xfs"),
        cwd="/",
        c=creds(0),
    )
    res = m.handle_exec(msg)
    assert res is not None
    got = json.loads(encode_json(res))
    expected_process = {
        "exec_id": "a2luZC1jb250cm9sLXBsYW5lOjQxMjc1NTI0MjYzMjIxOjEzMDg3Nw==",
        "pid": 130877,
        "uid": 0,
        "cwd": "/",
        "binary": "/sbin/modprobe",
        "arguments": "-q -- fs-xfs",
        "flags": "execve rootcwd clone",
        "start_time": "T41275524263221",
        "auid": 4294967295,
        "parent_exec_id": "a2luZC1jb250cm9sLXBsYW5lOjE6MA==",
        "tid": 130877,
        "in_init_tree": False,
    }
    expected_parent = {
        "exec_id": "a2luZC1jb250cm9sLXBsYW5lOjE6MA==",
        "pid": 0,
        "uid": 0,
        "binary": "<kernel>",
        "flags": "procFS",
        "start_time": "T1",
        "auid": 0,
        "parent_exec_id": "a2luZC1jb250cm9sLXBsYW5lOjE6MA==",
        "tid": 0,
        "in_init_tree": False,
    }
    assert got == {
        "process_exec": {"process": expected_process, "parent": expected_parent},
        "node_name": node,
        "time": "T41275524263221",
    }
    assert list(got["process_exec"]["process"]) == list(expected_process)


def test_pid_tid_mismatch_counted() -> None:
    m, reg = manager()
    msg = exec_msg(420, 1000)
    msg.tid = 421
    p = pexec(m.handle_exec(msg)).process
    assert p is not None and p.tid == 420
    assert reg["tetragon_errors_total"].get("process_pid_tid_mismatch") == 1


def test_events_share_the_cached_struct() -> None:
    m, _ = manager()
    p = pexec(m.handle_exec(exec_msg(430, 1000))).process
    e = m.cache.peek(eid(430, 1000))
    assert e is not None and e.process is p
    assert isinstance(p, Process)


def test_an_event_sent_without_its_process_is_counted() -> None:
    reg = Registry()
    ec = EventCache(retries=2, registry=reg)
    m, _ = manager(event_cache=ec, registry=reg)
    m.handle_exec(exec_msg(350, 500))
    assert m.handle_exit(exit_msg(ExecKey(351, 1000))) is None  # its exec never comes
    assert ec.retry_tick() == []
    assert reg["tetragon_events_missing_process_info_total"].get() == 0  # still waiting
    ec.retry_tick()
    assert reg["tetragon_event_cache_fetch_failures_total"].get("PROCESS_EXIT", "process_info") == 1
    assert reg["tetragon_events_missing_process_info_total"].get() == 1
    # at shutdown, what still waits for its process is sent without it, and counted the same
    assert m.handle_exit(exit_msg(ExecKey(352, 1000))) is None
    ec.flush()
    assert reg["tetragon_events_missing_process_info_total"].get() == 2
