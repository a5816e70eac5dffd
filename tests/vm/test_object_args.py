"""Kernel-object arguments of kprobes, read in the kernel and filtered there: sock (tcp_connect,
DAddr and DPort), skb (__dev_queue_xmit, DAddr, Protocol and DPort), socket and sockaddr
(security_socket_connect, Family and SPort), cred (commit_creds), bpf_attr (bpf_check),
capability (cap_capable), and a sock returned by sk_alloc tracked to its owner (TrackSock)."""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.kernel.test_kprobe_policies import kps
from tests.kernel.test_tracepoint_policies import add_kprobes, copy_bin, start


def _listener() -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("0.0.0.0", 0))
    srv.listen(8)
    return srv, srv.getsockname()[1]


def _connect(addr: str, port: int) -> None:
    with socket.create_connection((addr, port), timeout=5):
        pass


def test_sock_and_sockaddr_filtered_on_address_port_and_family(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    srv, port = _listener()
    add_kprobes(
        tetra,
        tmp_path,
        "sock-args",
        f"""  - call: tcp_connect
    syscall: false
    args: [{{index: 0, type: sock}}]
    selectors:
    - matchArgs:
      - {{index: 0, operator: DAddr, values: ["127.0.0.1/32"]}}
      - {{index: 0, operator: DPort, values: ["{port}"]}}
  - call: security_socket_connect
    syscall: false
    args:
    - {{index: 0, type: socket}}
    - {{index: 1, type: sockaddr}}
    selectors:
    - matchArgs:
      - {{index: 0, operator: Protocol, values: [IPPROTO_TCP]}}
      - {{index: 1, operator: Family, values: [AF_INET]}}
      - {{index: 1, operator: SPort, values: ["{port}"]}}
      - {{index: 1, operator: NotSAddr, values: ["127.0.0.2"]}}
""",
    )
    for addr in ("127.0.0.1", "127.0.0.2"):
        _connect(addr, port)
    _connect("127.0.0.1", port)  # the same again: two of each for 127.0.0.1
    srv.close()
    evs = agent.wait_for(lambda e: len(kps(e, "sock-args")) >= 4)
    by_fn: dict[str, list[Any]] = {}
    for k in kps(evs, "sock-args"):
        by_fn.setdefault(k["function_name"], []).append(k["args"])
    assert len(by_fn["tcp_connect"]) == 2, by_fn
    for (a,) in by_fn["tcp_connect"]:
        sk = a["sock_arg"]
        assert (sk["family"], sk["type"], sk["protocol"], sk["state"]) == (
            "AF_INET",
            "SOCK_STREAM",
            "IPPROTO_TCP",
            "TCP_SYN_SENT",
        )
        assert (sk["daddr"], sk["dport"], sk["saddr"]) == ("127.0.0.1", port, "127.0.0.1")
        assert 0 < sk["sport"] < 65536 and int(sk["cookie"]) > 0
    assert len(by_fn["security_socket_connect"]) == 2, by_fn
    for sock, addr in by_fn["security_socket_connect"]:
        assert sock["sock_arg"]["type"] == "SOCK_STREAM" and sock["sock_arg"]["state"] == "TCP_CLOSE"
        assert addr == {"sockaddr_arg": {"family": "AF_INET", "addr": "127.0.0.1", "port": port}}


def test_skb_filtered_on_destination_protocol_and_port(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("0.0.0.0", 0))
    port = rx.getsockname()[1]
    add_kprobes(
        tetra,
        tmp_path,
        "skb-args",
        f"""  - call: __dev_queue_xmit
    syscall: false
    args: [{{index: 0, type: skb}}]
    selectors:
    - matchArgs:
      - {{index: 0, operator: DAddr, values: ["127.0.0.3"]}}
      - {{index: 0, operator: Protocol, values: [IPPROTO_UDP]}}
      - {{index: 0, operator: DPort, values: ["{port}"]}}
""",
    )
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.sendto(b"x" * 100, ("127.0.0.3", port))
    tx.sendto(b"y" * 10, ("127.0.0.4", port))
    tx.sendto(b"z" * 10, ("127.0.0.3", port + 1 if port < 65535 else port - 1))
    evs = agent.wait_for(lambda e: bool(kps(e, "skb-args")))
    (k,) = kps(evs, "skb-args")
    skb = k["args"][0]["skb_arg"]
    assert (skb["family"], skb["protocol"], skb["proto"], skb["daddr"], skb["dport"]) == (
        "AF_INET",
        "IPPROTO_UDP",
        17,
        "127.0.0.3",
        port,
    )
    assert skb["sport"] == tx.getsockname()[1] and skb["len"] >= 100 + 8 + 20
    tx.close()
    rx.close()


def _load_prog(name: bytes) -> int:
    """BPF_PROG_LOAD of ``r0 = 0; exit`` as a socket filter named ``name``; returns the fd."""
    insns = struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    ibuf, lic = ctypes.create_string_buffer(insns), ctypes.create_string_buffer(b"GPL")
    attr = bytearray(128)
    struct.pack_into("<IIQQ", attr, 0, 1, 2, ctypes.addressof(ibuf), ctypes.addressof(lic))
    attr[48 : 48 + len(name)] = name
    abuf = (ctypes.c_char * len(attr)).from_buffer(attr)
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.syscall(321, 5, abuf, len(attr))  # __NR_bpf, BPF_PROG_LOAD
    assert fd >= 0, os.strerror(ctypes.get_errno())
    return int(fd)


def test_cred_bpf_attr_and_capability(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    chown = copy_bin(tmp_path, "/bin/chown", "chown-cap")
    setpriv = copy_bin(tmp_path, "/usr/bin/setpriv", "setpriv-cred")
    target = tmp_path / "owned"
    target.write_text("x")
    add_kprobes(
        tetra,
        tmp_path,
        "bpf-cap-args",
        f"""  - call: bpf_check
    syscall: false
    args: [{{index: 1, type: bpf_attr}}]
    selectors:
    - matchPIDs: [{{operator: In, values: [{os.getpid()}]}}]
  - call: cap_capable
    syscall: false
    args: [{{index: 2, type: capability}}]
    selectors:
    - matchArgs: [{{index: 0, operator: Equal, values: ["0"]}}]
      matchBinaries: [{{operator: In, values: ["{chown}"]}}]
  - call: commit_creds
    syscall: false
    args: [{{index: 0, type: cred}}]
    selectors:
    - matchBinaries: [{{operator: In, values: ["{setpriv}"]}}]
""",
    )
    os.close(_load_prog(b"tg_attr_test"))
    subprocess.run([chown, "65534", str(target)], check=True)
    subprocess.run(
        [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups", "/bin/true"], check=True
    )
    want = {"bpf_check", "cap_capable", "commit_creds"}
    evs = agent.wait_for(
        lambda e: (
            {k["function_name"] for k in kps(e, "bpf-cap-args")} >= want
            and any(
                k["args"][0]["process_credentials_arg"].get("uid")
                for k in kps(e, "bpf-cap-args")
                if k["function_name"] == "commit_creds"
            )
        )
    )
    creds = [
        k["args"][0]["process_credentials_arg"]
        for k in kps(evs, "bpf-cap-args")
        if k["function_name"] == "commit_creds"
    ]
    dropped = [c for c in creds if c["uid"] == 65534]
    assert dropped, creds
    c = dropped[-1]
    assert (c["euid"], c["suid"], c["fsuid"], c["gid"], c["egid"]) == (65534, 65534, 65534, 65534, 65534)
    assert c["user_ns"]["level"] == 0 and c["user_ns"]["ns"]["is_host"] is True
    assert "caps" in c
    attrs = [
        k["args"][0]["bpf_attr_arg"] for k in kps(evs, "bpf-cap-args") if k["function_name"] == "bpf_check"
    ]
    assert {"ProgType": "BPF_PROG_TYPE_SOCKET_FILTER", "InsnCnt": 2, "ProgName": "tg_attr_test"} in attrs, (
        attrs
    )
    caps = {
        k["args"][0]["capability_arg"]["name"]
        for k in kps(evs, "bpf-cap-args")
        if k["function_name"] == "cap_capable"
    }
    assert caps == {"CAP_CHOWN"}


def test_tracksock_reports_a_socket_for_the_process_that_created_it(start_agent, tmp_path: Path) -> None:
    agent, tetra, _ = start(start_agent)
    py = copy_bin(tmp_path, os.path.realpath(sys.executable), "py-track")
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("0.0.0.0", 0))
    port = rx.getsockname()[1]
    add_kprobes(
        tetra,
        tmp_path,
        "socktrack",
        f"""  - call: sk_alloc
    syscall: false
    return: true
    args: [{{index: 1, type: int, label: family}}]
    returnArg: {{index: 0, type: sock}}
    returnArgAction: TrackSock
    selectors:
    - matchArgs: [{{index: 1, operator: Equal, values: ["2"]}}]
      matchBinaries: [{{operator: In, values: ["{py}"]}}]
  - call: udp_sendmsg
    syscall: false
    args: [{{index: 0, type: sock}}]
    selectors:
    - matchArgs: [{{index: 0, operator: DAddr, values: ["127.0.0.5"]}}]
""",
    )
    # the parent creates and connects the socket; a child it forks (another process) sends on it
    code = (
        "import os, socket, sys\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"s.connect(('127.0.0.5', {port}))\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    s.send(b'from the child'); os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print(os.getpid(), pid)\n"
    )
    out = subprocess.run([py, "-S", "-c", code], check=True, capture_output=True, text=True).stdout
    parent, child = map(int, out.split())
    evs = agent.wait_for(
        lambda e: {k["function_name"] for k in kps(e, "socktrack")} >= {"sk_alloc", "udp_sendmsg"}
    )
    mine = [
        k for k in kps(evs, "socktrack") if k["function_name"] == "sk_alloc" and k["process"]["pid"] == parent
    ]
    assert mine and mine[0]["return"]["sock_arg"]["family"] == "AF_INET", mine
    assert mine[0]["args"] == [{"int_arg": 2, "label": "family"}]
    (send,) = [k for k in kps(evs, "socktrack") if k["function_name"] == "udp_sendmsg"]
    assert send["args"][0]["sock_arg"]["daddr"] == "127.0.0.5"
    assert send["process"]["pid"] == parent != child  # the owner, not the sending child
    rx.close()
