"""Names of the kernel's network and BPF constants, as Tetragon prints and parses them.

Families, socket types and IP protocols come from the host's ``socket`` module (the kernel's
uapi values); TCP states and BPF program types are the kernel's enums, which Python lacks.
"""

from __future__ import annotations

import socket

TCP_STATES = (
    "",
    "TCP_ESTABLISHED",
    "TCP_SYN_SENT",
    "TCP_SYN_RECV",
    "TCP_FIN_WAIT1",
    "TCP_FIN_WAIT2",
    "TCP_TIME_WAIT",
    "TCP_CLOSE",
    "TCP_CLOSE_WAIT",
    "TCP_LAST_ACK",
    "TCP_LISTEN",
    "TCP_CLOSING",
    "TCP_NEW_SYN_RECV",
)
BPF_PROG_TYPES = tuple(
    "BPF_PROG_TYPE_" + n
    for n in (
        "UNSPEC SOCKET_FILTER KPROBE SCHED_CLS SCHED_ACT TRACEPOINT XDP PERF_EVENT CGROUP_SKB "
        "CGROUP_SOCK LWT_IN LWT_OUT LWT_XMIT SOCK_OPS SK_SKB CGROUP_DEVICE SK_MSG RAW_TRACEPOINT "
        "CGROUP_SOCK_ADDR LWT_SEG6LOCAL LIRC_MODE2 SK_REUSEPORT FLOW_DISSECTOR CGROUP_SYSCTL "
        "RAW_TRACEPOINT_WRITABLE CGROUP_SOCKOPT TRACING STRUCT_OPS EXT LSM SK_LOOKUP SYSCALL NETFILTER"
    ).split()
)
#: module taint bits (TaintedBitsType)
TAINTS = {
    1: "TAINT_PROPRIETARY_MODULE",
    2: "TAINT_FORCED_MODULE",
    4: "TAINT_FORCED_UNLOAD_MODULE",
    1024: "TAINT_STAGED_MODULE",
    4096: "TAINT_OUT_OF_TREE_MODULE",
    8192: "TAINT_UNSIGNED_MODULE",
    32768: "TAINT_KERNEL_LIVE_PATCH_MODULE",
    262144: "TAINT_TEST_MODULE",
}


def _names(prefix: str, skip: tuple[str, ...] = ()) -> dict[int, str]:
    out: dict[int, str] = {}
    for name in sorted(dir(socket)):
        if name.startswith(prefix) and name not in skip:
            value = getattr(socket, name)
            if isinstance(value, int):
                out.setdefault(int(value), name)
    return out


FAMILIES = {int(f): f.name for f in socket.AddressFamily}
FAMILIES.setdefault(0, "AF_UNSPEC")
SOCK_TYPES = {int(t): t.name for t in socket.SocketKind}
PROTOCOLS = _names("IPPROTO_", skip=("IPPROTO_HOPOPTS", "IPPROTO_MAX"))
PROTOCOLS[0] = "IPPROTO_IP"
PROTOCOLS.setdefault(262, "IPPROTO_MPTCP")

_BY_NAME = {
    "Family": {v: k for k, v in FAMILIES.items()},
    "Protocol": {v: k for k, v in PROTOCOLS.items()},
    "State": {v: k for k, v in enumerate(TCP_STATES) if v},
}


def name(table: dict[int, str], value: int) -> str:
    """``value``'s name in ``table``, or the number itself when it has none."""
    return table.get(value, str(value))


def by_name(operator: str, text: str) -> int | None:
    """The number a Family, Protocol or State value names (``AF_INET``, ``IPPROTO_TCP``)."""
    return _BY_NAME[operator].get(text)
