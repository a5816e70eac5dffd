"""Typed events on the hot path, mirroring Tetragon's protobuf messages field for field.

These msgspec Structs are what the pipeline carries from the process cache to the sinks. Their
field names and order are the proto's (snake_case, field-number order), and their defaults are the
proto3 zero values, so ``msgspec.json.encode`` with ``omit_defaults`` writes exactly protojson with
``UseProtoNames``:

* plain scalars default to their zero value and are omitted when zero;
* wrapper types (``google.protobuf.UInt32Value``…) are ``int | None``: present, even at 0, when set;
* 64-bit integers are carried as decimal strings, as protojson writes them;
* ``google.protobuf.Timestamp`` is carried as its RFC 3339 string (see ``timefmt``);
* enums are carried by name.

The events of the tracing sensors (``ProcessKprobe``, ``ProcessTracepoint``, ``ProcessUprobe``,
``ProcessLsm``, ``ProcessUsdt``, ``ProcessLoader``, ``ProcessThrottle``) and their argument types
live in :mod:`tetragon_core.events_tracing` and are re-exported here.

The golden test in ``tests/unit/test_protojson_golden.py`` checks this against google.protobuf's
own ``json_format`` on the compiled proto/.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "BinaryProperties",
    "Capabilities",
    "Container",
    "EnvVar",
    "FileProperties",
    "GetEventsResponse",
    "Image",
    "InodeProperties",
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
    "Namespace",
    "Namespaces",
    "Pod",
    "Process",
    "ProcessCredentials",
    "ProcessExec",
    "ProcessExit",
    "ProcessKprobe",
    "ProcessLoader",
    "ProcessLsm",
    "ProcessThrottle",
    "ProcessTracepoint",
    "ProcessUprobe",
    "ProcessUsdt",
    "RateLimitInfo",
    "StackTraceEntry",
    "SyscallId",
    "UserNamespace",
    "UserRecord",
    "encode_json",
]


class _Msg(msgspec.Struct, omit_defaults=True, kw_only=True, gc=False):
    pass


class Namespace(_Msg):
    inum: int = 0
    is_host: bool = False


class Namespaces(_Msg):
    uts: Namespace | None = None
    ipc: Namespace | None = None
    mnt: Namespace | None = None
    pid: Namespace | None = None
    pid_for_children: Namespace | None = None
    net: Namespace | None = None
    time: Namespace | None = None
    time_for_children: Namespace | None = None
    cgroup: Namespace | None = None
    user: Namespace | None = None


class Capabilities(_Msg):
    permitted: list[str] = []
    effective: list[str] = []
    inheritable: list[str] = []


class UserNamespace(_Msg):
    level: int | None = None
    uid: int | None = None
    gid: int | None = None
    ns: Namespace | None = None


class ProcessCredentials(_Msg):
    uid: int | None = None
    gid: int | None = None
    euid: int | None = None
    egid: int | None = None
    suid: int | None = None
    sgid: int | None = None
    fsuid: int | None = None
    fsgid: int | None = None
    securebits: list[str] = []
    caps: Capabilities | None = None
    user_ns: UserNamespace | None = None


class InodeProperties(_Msg):
    number: str = "0"  # uint64, as a protojson string
    links: int | None = None


class FileProperties(_Msg):
    inode: InodeProperties | None = None
    path: str = ""


class BinaryProperties(_Msg):
    setuid: int | None = None
    setgid: int | None = None
    privileges_changed: list[str] = []
    file: FileProperties | None = None


class UserRecord(_Msg):
    name: str = ""


class Image(_Msg):
    id: str = ""
    name: str = ""


class Container(_Msg):
    id: str = ""
    name: str = ""
    image: Image | None = None
    start_time: str | None = None
    pid: int | None = None
    maybe_exec_probe: bool = False


class Pod(_Msg):
    namespace: str = ""
    name: str = ""
    uid: str = ""
    container: Container | None = None
    pod_labels: dict[str, str] = {}
    workload: str = ""
    workload_kind: str = ""
    pod_annotations: dict[str, str] = {}


class EnvVar(_Msg):
    # The proto fields are capitalised (``string Key = 1; string Value = 2;``), so UseProtoNames
    # writes "Key"/"Value"; keep Pythonic attribute names and rename on the wire.
    key: str = msgspec.field(default="", name="Key")
    value: str = msgspec.field(default="", name="Value")


class Process(_Msg):
    exec_id: str = ""
    pid: int | None = None
    uid: int | None = None
    cwd: str = ""
    binary: str = ""
    arguments: str = ""
    flags: str = ""
    start_time: str | None = None
    auid: int | None = None
    pod: Pod | None = None
    docker: str = ""
    parent_exec_id: str = ""
    refcnt: int = 0
    cap: Capabilities | None = None
    ns: Namespaces | None = None
    tid: int | None = None
    process_credentials: ProcessCredentials | None = None
    binary_properties: BinaryProperties | None = None
    user: UserRecord | None = None
    in_init_tree: bool | None = None
    environment_variables: list[EnvVar] = []


class ProcessExec(_Msg):
    process: Process | None = None
    parent: Process | None = None
    ancestors: list[Process] = []


class ProcessExit(_Msg):
    process: Process | None = None
    parent: Process | None = None
    signal: str = ""
    status: int = 0
    time: str | None = None
    ancestors: list[Process] = []


class RateLimitInfo(_Msg):
    number_of_dropped_process_events: str = "0"  # uint64


class GetEventsResponse(_Msg):
    """One event as it leaves the agent: exactly one event field is set, then the common fields."""

    process_exec: ProcessExec | None = None
    process_exit: ProcessExit | None = None
    process_kprobe: ProcessKprobe | None = None
    process_tracepoint: ProcessTracepoint | None = None
    process_loader: ProcessLoader | None = None
    process_uprobe: ProcessUprobe | None = None
    process_throttle: ProcessThrottle | None = None
    process_lsm: ProcessLsm | None = None
    process_usdt: ProcessUsdt | None = None
    rate_limit_info: RateLimitInfo | None = None
    node_name: str = ""
    time: str | None = None
    cluster_name: str = ""
    node_labels: dict[str, str] = {}

    def event_type(self) -> str:
        """The EventType name of the event this response carries (``PROCESS_EXEC``…).

        The first event field set, in field-number order, decides (a response is meant to carry
        one); ``UNDEF`` if none is.
        """
        if self.process_exec is not None:
            return "PROCESS_EXEC"
        if self.process_exit is not None:
            return "PROCESS_EXIT"
        if self.process_kprobe is not None:
            return "PROCESS_KPROBE"
        if self.process_tracepoint is not None:
            return "PROCESS_TRACEPOINT"
        if self.process_loader is not None:
            return "PROCESS_LOADER"
        if self.process_uprobe is not None:
            return "PROCESS_UPROBE"
        if self.process_throttle is not None:
            return "PROCESS_THROTTLE"
        if self.process_lsm is not None:
            return "PROCESS_LSM"
        if self.process_usdt is not None:
            return "PROCESS_USDT"
        if self.rate_limit_info is not None:
            return "RATE_LIMIT_INFO"
        return "UNDEF"


_encoder = msgspec.json.Encoder()


def encode_json(event: GetEventsResponse) -> bytes:
    """Encode one response as a single protojson line body (no trailing newline)."""
    return _encoder.encode(event)


# The tracing events, for GetEventsResponse's annotations (resolved by msgspec on first use) and as
# part of this module's API. Imported last: tetragon_core.events_tracing imports the process types
# from here at its end, so either module may be imported first.
from tetragon_core.events_tracing import (  # noqa: E402
    KernelModule,
    KprobeArgument,
    KprobeBpfAttr,
    KprobeBpfMap,
    KprobeBpfProg,
    KprobeCapability,
    KprobeCred,
    KprobeError,
    KprobeFile,
    KprobeLinuxBinprm,
    KprobeNetDev,
    KprobePath,
    KprobePerfEvent,
    KprobeSkb,
    KprobeSock,
    KprobeSockaddr,
    KprobeSockaddrUn,
    KprobeTruncatedBytes,
    KprobeUserNamespace,
    ProcessKprobe,
    ProcessLoader,
    ProcessLsm,
    ProcessThrottle,
    ProcessTracepoint,
    ProcessUprobe,
    ProcessUsdt,
    StackTraceEntry,
    SyscallId,
)
