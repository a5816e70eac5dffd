"""An independent oracle: the kernel's proc connector (netlink cn_proc) through pyroute2.

Every exec and exit it reports for a burst of short processes must be in our export: 0 missed.
pyroute2's ProcEventSocket subscribes and its marshal parses; we read the socket ourselves with a
large buffer, because its get() loses datagrams under a burst (docs/decisions.md).
"""

from __future__ import annotations

import select
import socket
import subprocess
import uuid
from typing import Any

from pyroute2.netlink.connector.cn_proc import ProcEventSocket

from tests.kernel.conftest import execs, exits

SO_RCVBUFFORCE = 33


def _collect(
    sock: ProcEventSocket, raw: socket.socket, proc: subprocess.Popen[bytes]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    idle_after_exit = 0
    while idle_after_exit < 3:
        ready, _, _ = select.select([raw], [], [], 0.2)
        if ready:
            out.extend(dict(m) for m in sock.marshal.parse(raw.recv(1 << 20)))
        elif proc.poll() is not None:
            idle_after_exit += 1
    return out


def test_every_cn_proc_exec_and_exit_of_a_burst_is_exported(start_agent) -> None:
    agent = start_agent()
    token = "burst" + uuid.uuid4().hex[:8]
    n = 400
    sock = ProcEventSocket()
    sock.bind()
    sock.control(listen=True)
    raw = socket.socket(fileno=sock.fileno())
    try:
        raw.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
        driver = subprocess.Popen(
            ["/bin/sh", "-c", f"i=0; while [ $i -lt {n} ]; do /bin/true {token}; i=$((i+1)); done"]
        )
        oracle = _collect(sock, raw, driver)
        assert driver.wait() == 0
    finally:
        # Closing unsubscribes; a listen=False control would wait for an ack behind the burst.
        raw.detach()
        sock.close()

    children = {
        m["child_tgid"]
        for m in oracle
        if m["event"] == "PROC_EVENT_FORK"
        and m["parent_tgid"] == driver.pid
        and m["child_pid"] == m["child_tgid"]
    }
    k_execs = {
        m["process_tgid"] for m in oracle if m["event"] == "PROC_EVENT_EXEC" and m["process_tgid"] in children
    }
    k_exits = {
        m["process_tgid"]
        for m in oracle
        if m["event"] == "PROC_EVENT_EXIT"
        and m["process_tgid"] in children
        and m["process_pid"] == m["process_tgid"]
    }
    assert len(children) == n, f"oracle saw {len(children)} forks of {n}"
    assert k_execs == children and k_exits == children

    def complete(evs: list[dict[str, Any]]) -> bool:
        return k_exits <= {e["process"]["pid"] for e in exits(evs)}

    evs = agent.wait_for(complete, timeout=60)
    our_execs = {e["process"]["pid"]: e for e in execs(evs) if e["process"]["pid"] in children}
    our_exits = {e["process"]["pid"] for e in exits(evs) if e["process"]["pid"] in children}
    missed_exec = k_execs - set(our_execs)
    missed_exit = k_exits - our_exits
    assert not missed_exec, f"{len(missed_exec)} execs missed: {sorted(missed_exec)[:10]}"
    assert not missed_exit, f"{len(missed_exit)} exits missed: {sorted(missed_exit)[:10]}"
    for _pid, e in our_execs.items():
        assert e["process"]["binary"] == "/bin/true" and e["process"]["arguments"] == token
        assert e["parent"]["pid"] == driver.pid
