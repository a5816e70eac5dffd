"""Name tables of the TracingPolicy CRD (operators, actions, arg types, namespaces, capabilities)."""

from __future__ import annotations

from typing import Final

from tetragon_core.process.caps import CAPABILITY_NAMES

API_VERSION: Final = "cilium.io/v1alpha1"
KIND_CLUSTER: Final = "TracingPolicy"
KIND_NAMESPACED: Final = "TracingPolicyNamespaced"

MAX_SELECTORS: Final = 5
MAX_ARGS: Final = 5
MAX_MATCH_VALUES: Final = 4
MAX_ACTIONS: Final = 3
MAX_MATCH_BINARIES: Final = 1
MAX_MATCH_NAMESPACES: Final = 10
MAX_NAMESPACE_VALUES: Final = 4
MAX_NAMESPACE_CHANGES: Final = 1
MAX_MESSAGE_LEN: Final = 256
MAX_TAGS: Final = 16
MIN_TAG_LEN: Final = 2
MAX_TAG_LEN: Final = 128
MAX_SIZE_ARG_INDEX: Final = 15

#: Argument operators of matchArgs/matchData/matchReturnArgs → kernel op id.
ARG_OPERATORS: Final[dict[str, int]] = {
    "GreaterThan": 1,
    "GT": 1,
    "LessThan": 2,
    "LT": 2,
    "Equal": 3,
    "NotEqual": 4,
    "Prefix": 8,
    "Postfix": 9,
    "InMap": 10,
    "NotInMap": 11,
    "Mask": 12,
    "SAddr": 13,
    "DAddr": 14,
    "SPort": 15,
    "DPort": 16,
    "Protocol": 17,
    "NotSPort": 18,
    "NotDPort": 19,
    "SPortPriv": 20,
    "NotSportPriv": 21,
    "DPortPriv": 22,
    "NotDPortPriv": 23,
    "NotSAddr": 24,
    "NotDAddr": 25,
    "NotPrefix": 26,
    "NotPostfix": 27,
    "Family": 28,
    "State": 29,
    "CapabilitiesGained": 30,
    "InRange": 31,
    "NotInRange": 32,
    "SubString": 33,
    "SubStringIgnCase": 34,
    "CelExpr": 35,
    "FileType": 36,
    "NotFileType": 37,
}
_ALIASES: Final[dict[str, str]] = {"eq": "Equal", "neq": "NotEqual"}
_LOWER: Final[dict[str, str]] = {name.lower(): name for name in ARG_OPERATORS}

#: Operators that take an unbounded list of values (stored in a BPF map).
MAP_OPERATORS: Final = frozenset({"InMap", "NotInMap"})
#: String operators backed by BPF maps when the argument is string-like (no MAX_MATCH_VALUES limit).
STRING_MAP_OPERATORS: Final = frozenset(
    {"Equal", "NotEqual", "Prefix", "NotPrefix", "Postfix", "NotPostfix", "SubString", "SubStringIgnCase"}
)
#: Network operators whose values live in BPF maps (no MAX_MATCH_VALUES limit).
NET_MAP_OPERATORS: Final = frozenset(
    {
        "SAddr",
        "NotSAddr",
        "DAddr",
        "NotDAddr",
        "SPort",
        "NotSPort",
        "DPort",
        "NotDPort",
        "Protocol",
        "Family",
        "State",
    }
)
#: Argument types carrying strings/paths (string operators on them use maps).
STRING_ARG_TYPES: Final = frozenset(
    {
        "string",
        "char_buf",
        "char_iovec",
        "const_buf",
        "fd",
        "file",
        "filename",
        "path",
        "dentry",
        "linux_binprm",
        "data_loc",
        "net_device",
        "module",
        "load_info",
        "auto",
    }
)

SET_OPERATORS: Final = ("In", "NotIn")
BINARY_OPERATORS: Final = ("In", "NotIn", "Prefix", "NotPrefix", "Postfix", "NotPostfix")

ACTIONS: Final[dict[str, int]] = {
    "Post": 0,
    "Sigkill": 2,
    "Override": 4,
    "GetUrl": 6,
    "DnsLookup": 7,
    "NoPost": 8,
    "Signal": 9,
    "TrackSock": 10,
    "UntrackSock": 11,
    "NotifyEnforcer": 12,
    "CleanupEnforcerNotification": 13,
    "Set": 14,
}
REMOVED_ACTIONS: Final = frozenset({"FollowFD", "UnfollowFD", "CopyFD"})
RETURN_ARG_ACTIONS: Final = ("TrackSock", "UntrackSock")
RATE_LIMIT_SCOPES: Final = ("thread", "process", "global")

ARG_TYPES: Final[dict[str, int]] = {
    "auto": 0,
    "int": 1,
    "sint8": 31,
    "int8": 31,
    "uint8": 32,
    "sint16": 29,
    "int16": 29,
    "uint16": 30,
    "uint32": 13,
    "sint32": 12,
    "int32": 12,
    "ulong": 11,
    "uint64": 11,
    "unsigned long": 11,
    "size_t": 4,
    "long": 10,
    "sint64": 10,
    "int64": 10,
    "char_buf": 2,
    "char_iovec": 3,
    "skb": 5,
    "sock": 7,
    "sockaddr": 40,
    "socket": 41,
    "sockaddr_un": 44,
    "string": 6,
    "fd": 17,
    "file": 16,
    "filename": 14,
    "path": 15,
    "nop": -1,
    "bpf_attr": 19,
    "perf_event": 20,
    "bpf_map": 21,
    "user_namespace": 22,
    "capability": 23,
    "kiocb": 24,
    "iov_iter": 25,
    "cred": 8,
    "const_buf": 18,
    "load_info": 26,
    "module": 27,
    "syscall64": 28,
    "kernel_cap_t": 33,
    "cap_inheritable": 34,
    "cap_permitted": 35,
    "cap_effective": 36,
    "linux_binprm": 37,
    "data_loc": 38,
    "net_device": 39,
    "bpf_cmd": 1,
    "dentry": 42,
    "bpf_prog": 43,
}
KPROBE_REJECTED_TYPES: Final = frozenset({"auto", "syscall64"})

NAMESPACES: Final = (
    "Uts",
    "Ipc",
    "Mnt",
    "Pid",
    "PidForChildren",
    "Net",
    "Time",
    "TimeForChildren",
    "Cgroup",
    "User",
)
CAPABILITY_TYPES: Final = ("Effective", "Inheritable", "Permitted")
LIST_TYPES: Final = ("syscalls", "generated_syscalls", "generated_ftrace")
POLICY_MODES: Final = ("enforce", "monitor")
OVERRIDE_METHODS: Final = ("fmod-ret", "override-return")

# Linux capability names as policies write them, by number. The same table as the event enum,
# whose value 1 is spelled "DAC_OVERRIDE" (an upstream quirk that policies do not share).
CAPABILITIES: Final[dict[str, int]] = {
    (name if name.startswith("CAP_") else "CAP_" + name): i for i, name in enumerate(CAPABILITY_NAMES)
}


def canonical_operator(name: str) -> str | None:
    """Return the canonical CRD name of an argument operator (accepting lower-case aliases), or None."""
    if name in ARG_OPERATORS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    if name == name.lower():
        return _LOWER.get(name)
    return None
