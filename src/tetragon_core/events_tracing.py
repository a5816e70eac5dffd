"""Typed events of the tracing sensors (kprobes, tracepoints, uprobes, LSM, USDT, loader, throttle).

The same conventions as :mod:`tetragon_core.events` (which re-exports every name here): field names
and order are the proto's, defaults are the proto3 zero values in protojson form, so
``msgspec.json.encode`` with ``omit_defaults`` writes protojson with ``UseProtoNames``:

* 64-bit integers (``size_arg``, ``long_arg``, ``cookie``, stack addresses…) are decimal strings;
* ``bytes`` fields (``bytes_arg``, ``buildid``…) are ``bytes``; msgspec writes them as standard
  base64 with padding, as protojson does;
* enums (``KprobeAction``, ``ThrottleType``, ``BpfCmd``, ``CapabilitiesType``…) are carried by name;
* every member of ``KprobeArgument``'s ``arg`` oneof is ``T | None``: at most one is set, and a set
  scalar is written even at its zero value (``{"int_arg": 0}``);
* proto fields that are not valid or not Pythonic attribute names keep their wire name through
  ``msgspec.field(name=...)``: ``ProcessKprobe.return_`` is ``"return"``, and the CamelCase fields
  of ``KprobeBpfAttr``, ``KprobePerfEvent``, ``KprobeBpfMap``, ``KprobeBpfProg`` and ``KprobeError``
  are snake_case attributes.

The golden test in ``tests/unit/test_protojson_golden.py`` checks these against google.protobuf's
``json_format``, and ``tests/unit/test_api_convert.py`` their protobuf round trip.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "KernelModule",
    "KprobeArgument",
    "KprobeBpfAttr",
    "KprobeBpfMap",
    "KprobeBpfProg",
    "KprobeCapability",
    "KprobeCred",
    "KprobeError",
    "KprobeFile",
    "KprobeLinuxBinprm",
    "KprobeNetDev",
    "KprobePath",
    "KprobePerfEvent",
    "KprobeSkb",
    "KprobeSock",
    "KprobeSockaddr",
    "KprobeSockaddrUn",
    "KprobeTruncatedBytes",
    "KprobeUserNamespace",
    "ProcessKprobe",
    "ProcessLoader",
    "ProcessLsm",
    "ProcessThrottle",
    "ProcessTracepoint",
    "ProcessUprobe",
    "ProcessUsdt",
    "StackTraceEntry",
    "SyscallId",
]


class _Msg(msgspec.Struct, omit_defaults=True, kw_only=True, gc=False):
    # The same options as tetragon_core.events._Msg (defined again so that either module may be
    # imported first; see the import at the end of this module).
    pass


# --- argument payloads --------------------------------------------------------------------------


class KprobeSock(_Msg):
    family: str = ""
    type: str = ""
    protocol: str = ""
    mark: int = 0
    priority: int = 0
    saddr: str = ""
    daddr: str = ""
    sport: int = 0
    dport: int = 0
    cookie: str = "0"  # uint64
    state: str = ""


class KprobeSkb(_Msg):
    hash: int = 0
    len: int = 0
    priority: int = 0
    mark: int = 0
    saddr: str = ""
    daddr: str = ""
    sport: int = 0
    dport: int = 0
    proto: int = 0
    sec_path_len: int = 0
    sec_path_olen: int = 0
    protocol: str = ""
    family: str = ""


class KprobeSockaddr(_Msg):
    family: str = ""
    addr: str = ""
    port: int = 0


class KprobeSockaddrUn(_Msg):
    family: str = ""
    path: str = ""


class KprobeNetDev(_Msg):
    name: str = ""


class KprobePath(_Msg):
    mount: str = ""
    path: str = ""
    flags: str = ""
    permission: str = ""


class KprobeFile(_Msg):
    mount: str = ""
    path: str = ""
    flags: str = ""
    permission: str = ""


class KprobeTruncatedBytes(_Msg):
    bytes_arg: bytes = b""
    orig_size: str = "0"  # uint64


class KprobeCred(_Msg):
    permitted: list[str] = []  # CapabilitiesType names
    effective: list[str] = []
    inheritable: list[str] = []


class KprobeLinuxBinprm(_Msg):
    path: str = ""
    flags: str = ""
    permission: str = ""


class KprobeCapability(_Msg):
    value: int | None = None  # Int32Value
    name: str = ""


class KprobeUserNamespace(_Msg):
    level: int | None = None  # Int32Value
    owner: int | None = None  # UInt32Value
    group: int | None = None  # UInt32Value
    ns: Namespace | None = None


class KprobeBpfAttr(_Msg):
    prog_type: str = msgspec.field(default="", name="ProgType")
    insn_cnt: int = msgspec.field(default=0, name="InsnCnt")
    prog_name: str = msgspec.field(default="", name="ProgName")


class KprobeBpfProg(_Msg):
    prog_type: str = msgspec.field(default="", name="ProgType")
    insn_cnt: int = msgspec.field(default=0, name="InsnCnt")
    prog_name: str = msgspec.field(default="", name="ProgName")


class KprobePerfEvent(_Msg):
    kprobe_func: str = msgspec.field(default="", name="KprobeFunc")
    type: str = msgspec.field(default="", name="Type")
    config: str = msgspec.field(default="0", name="Config")  # uint64
    probe_offset: str = msgspec.field(default="0", name="ProbeOffset")  # uint64


class KprobeBpfMap(_Msg):
    map_type: str = msgspec.field(default="", name="MapType")
    key_size: int = msgspec.field(default=0, name="KeySize")
    value_size: int = msgspec.field(default=0, name="ValueSize")
    max_entries: int = msgspec.field(default=0, name="MaxEntries")
    map_name: str = msgspec.field(default="", name="MapName")


class KprobeError(_Msg):
    message: str = msgspec.field(default="", name="Message")


class SyscallId(_Msg):
    id: int = 0
    abi: str = ""


class KernelModule(_Msg):
    name: str = ""
    signature_ok: bool | None = None  # BoolValue
    tainted: list[str] = []  # TaintedBitsType names


class KprobeArgument(_Msg):
    """One argument: exactly one member of the ``arg`` oneof is set (not None), plus its label."""

    string_arg: str | None = None
    int_arg: int | None = None
    skb_arg: KprobeSkb | None = None
    size_arg: str | None = None  # uint64
    bytes_arg: bytes | None = None
    path_arg: KprobePath | None = None
    file_arg: KprobeFile | None = None
    truncated_bytes_arg: KprobeTruncatedBytes | None = None
    sock_arg: KprobeSock | None = None
    cred_arg: KprobeCred | None = None
    long_arg: str | None = None  # int64
    bpf_attr_arg: KprobeBpfAttr | None = None
    perf_event_arg: KprobePerfEvent | None = None
    bpf_map_arg: KprobeBpfMap | None = None
    uint_arg: int | None = None
    user_namespace_arg: KprobeUserNamespace | None = None
    capability_arg: KprobeCapability | None = None
    process_credentials_arg: ProcessCredentials | None = None
    user_ns_arg: UserNamespace | None = None
    module_arg: KernelModule | None = None
    kernel_cap_t_arg: str | None = None
    cap_inheritable_arg: str | None = None
    cap_permitted_arg: str | None = None
    cap_effective_arg: str | None = None
    linux_binprm_arg: KprobeLinuxBinprm | None = None
    net_dev_arg: KprobeNetDev | None = None
    bpf_cmd_arg: str | None = None  # BpfCmd name
    syscall_id: SyscallId | None = None
    sockaddr_arg: KprobeSockaddr | None = None
    bpf_prog_arg: KprobeBpfProg | None = None
    error_arg: KprobeError | None = None
    sockaddrun_arg: KprobeSockaddrUn | None = None
    label: str = ""


class StackTraceEntry(_Msg):
    address: str = "0"  # uint64
    offset: str = "0"  # uint64
    symbol: str = ""
    module: str = ""


# --- events -------------------------------------------------------------------------------------


class ProcessKprobe(_Msg):
    process: Process | None = None
    parent: Process | None = None
    function_name: str = ""
    args: list[KprobeArgument] = []
    return_: KprobeArgument | None = msgspec.field(default=None, name="return")
    action: str = "KPROBE_ACTION_UNKNOWN"
    kernel_stack_trace: list[StackTraceEntry] = []
    policy_name: str = ""
    return_action: str = "KPROBE_ACTION_UNKNOWN"
    message: str = ""
    tags: list[str] = []
    user_stack_trace: list[StackTraceEntry] = []
    ancestors: list[Process] = []
    data: list[KprobeArgument] = []


class ProcessTracepoint(_Msg):
    process: Process | None = None
    parent: Process | None = None
    subsys: str = ""
    event: str = ""
    args: list[KprobeArgument] = []
    policy_name: str = ""
    action: str = "KPROBE_ACTION_UNKNOWN"
    message: str = ""
    tags: list[str] = []
    ancestors: list[Process] = []


class ProcessUprobe(_Msg):
    process: Process | None = None
    parent: Process | None = None
    path: str = ""
    symbol: str = ""
    policy_name: str = ""
    message: str = ""
    args: list[KprobeArgument] = []
    tags: list[str] = []
    ancestors: list[Process] = []
    offset: str = "0"  # uint64
    ref_ctr_offset: str = "0"  # uint64
    action: str = "KPROBE_ACTION_UNKNOWN"
    data: list[KprobeArgument] = []


class ProcessUsdt(_Msg):
    process: Process | None = None
    parent: Process | None = None
    path: str = ""
    provider: str = ""
    name: str = ""
    policy_name: str = ""
    message: str = ""
    args: list[KprobeArgument] = []
    tags: list[str] = []
    ancestors: list[Process] = []
    action: str = "KPROBE_ACTION_UNKNOWN"
    flags: str = ""


class ProcessLsm(_Msg):
    process: Process | None = None
    parent: Process | None = None
    function_name: str = ""
    policy_name: str = ""
    message: str = ""
    args: list[KprobeArgument] = []
    action: str = "KPROBE_ACTION_UNKNOWN"
    tags: list[str] = []
    ancestors: list[Process] = []
    ima_hash: str = ""


class ProcessLoader(_Msg):
    process: Process | None = None
    path: str = ""
    buildid: bytes = b""
    parent: Process | None = None
    ancestors: list[Process] = []


class ProcessThrottle(_Msg):
    type: str = "THROTTLE_UNKNOWN"  # ThrottleType name
    cgroup: str = ""


# The process types, for the annotations above (resolved by msgspec on first use). Imported last:
# tetragon_core.events imports this module at its end, so either may be imported first.
from tetragon_core.events import (  # noqa: E402
    Namespace,
    Process,
    ProcessCredentials,
    UserNamespace,
)
