"""The sensor SDK: everything a sensor plugin may use, and nothing else.

A plugin imports from this module only (``from tetragon_core.sdk import Sensor, ...``); every
other module of tetragon-core is private and may change between releases. The built-in sensors
are written against it too, and a test holds them to that. ``SDK_VERSION`` is the API version:
a plugin declares the version it was written for (``Sensor.sdk_version``) and a plugin of another
version is refused when it registers. docs/plugins.md is the guide.

The names, by what they serve:

* the plugin surface: :class:`Sensor`, :class:`SensorContext`, :class:`PolicyHandle`,
  :data:`Decoder`; a plugin's own events: :class:`EventType` (declared in ``Sensor.events``),
  :class:`PluginEvent` (their base Struct), the proto type markers :data:`UInt32`,
  :data:`Int32`, :data:`Int64`, :data:`UInt64`, the reserved numbers :data:`PLUGIN_NUMBERS`, and
  :func:`proto_source` (their message as .proto text, for client authors);
* messages a decoder returns: :class:`ExecMessage`, :class:`ExitMessage`, :class:`CloneMessage`,
  :class:`HookMessage` (an event whose process and parent the core fills from the process
  cache), :class:`ExecKey`, :class:`Creds`, :class:`ProcfsSnapshot`, :class:`ThrottleMessage` (a cgroup
  over ``--cgroup-rate``, which the core turns into ProcessThrottle); op codes ``MSG_OP_*``;
* BPF objects and maps: :class:`BpfObject`, :class:`Map`, ``BPF_ANY``, ``BPF_NOEXIST``;
* kernel knowledge: ``probes`` (features, probed once), ``btf`` (vmlinux BTF), ``tracefs``
  (tracepoint formats), ``stacks`` (symbolisation);
* a plugin's own policy section (claimed in the ``tetragon.policy_sections`` entry points, kept
  raw in ``policy.spec.plugin_sections``): :func:`decode_section` turns it into a dataclass of
  the plugin's, with errors naming the YAML path;
* TracingPolicy hooks (what the generic_* sensors are built from): the policy model types,
  ``argtypes``, :func:`compile_hook`, :class:`ArgSpec`, :class:`ReturnSpec`, :class:`HookSensor`,
  :class:`HookPlan`, :func:`load_hooks`, the generic record header decoders, :class:`UserActions`;
* events (the proto's messages as msgspec Structs) and :class:`Registry` for metrics;
* testing without a kernel: :class:`ReplayRing` serves recorded records (:func:`load_records`,
  :func:`dump_records`) to a decoder;
* errors: :class:`TetragonError` and its subclasses, :class:`PolicyError`.

``python -m tetragon_core.sdk include`` prints the directory of the BPF headers (``tg_sdk.h``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from tetragon_core import probes, stacks, tracefs
from tetragon_core.bpf import btf
from tetragon_core.bpf.maps import BPF_ANY, BPF_NOEXIST, Map
from tetragon_core.bpf.objects import BpfObject
from tetragon_core.bpf.replay import ReplayRing, dump_records, load_records
from tetragon_core.cgrouprate import MAX_ENTRIES as CGROUP_RATE_MAX_ENTRIES
from tetragon_core.events import (
    GetEventsResponse,
    KprobeArgument,
    Process,
    ProcessKprobe,
    ProcessLoader,
    ProcessLsm,
    ProcessTracepoint,
    ProcessUprobe,
    ProcessUsdt,
)
from tetragon_core.exceptions import (
    BpfAttachError,
    BpfError,
    BpfLoadError,
    BpfMapError,
    ConfigError,
    DecodeError,
    MapKeyNotFound,
    SensorError,
    TetragonError,
    UnsupportedFeatureError,
)
from tetragon_core.metrics import Registry
from tetragon_core.plugin_events import (
    PLUGIN_NUMBERS,
    CompactRenderer,
    EventType,
    Int32,
    Int64,
    PluginEvent,
    UInt32,
    UInt64,
    proto_source,
)
from tetragon_core.policy import PolicyError, TracingPolicy, argtypes
from tetragon_core.policy._decode import decode_struct as decode_section
from tetragon_core.policy.argtypes import (
    INTS,
    OBJECTS,
    PATHS,
    STRINGS,
    T_CHAR_BUF,
    T_CHAR_IOVEC,
    T_DATA_LOC,
    T_INT,
    T_LINUX_BINPRM,
    T_NOP,
    T_STRING,
    T_U64,
    USER_BY_ADDRESS,
    USER_INLINE,
    USER_KERNEL,
    USER_USER,
    ResolvedArg,
    int_by_size,
    object_arg,
    refuse_unbuilt_fields,
)
from tetragon_core.policy.kernel import ArgSpec, compile_hook
from tetragon_core.policy.kernel_ret import ReturnSpec
from tetragon_core.policy.model import (
    KProbeArg,
    KProbeSpec,
    ListSpec,
    LsmHookSpec,
    TracepointSpec,
    UProbeSpec,
    UsdtSpec,
)
from tetragon_core.process.hooks import HookMessage
from tetragon_core.process.messages import (
    MSG_OP_CLONE,
    MSG_OP_EXECVE,
    MSG_OP_EXIT,
    MSG_OP_GENERIC_KPROBE,
    MSG_OP_GENERIC_LSM,
    MSG_OP_GENERIC_TRACEPOINT,
    MSG_OP_THROTTLE,
    CloneMessage,
    Creds,
    ExecKey,
    ExecMessage,
    ExitMessage,
    ProcfsSnapshot,
    ThrottleMessage,
)
from tetragon_core.process.procfs import ExecveMapEntry, execve_map_entries, walk_procfs
from tetragon_core.sensors.api import SDK_VERSION, Decoder, PolicyHandle, Sensor, SensorContext
from tetragon_core.sensors.generic import HookPlan, load_hooks
from tetragon_core.sensors.hookdecode import (
    HEADER,
    MSG_RETURN,
    MSG_RETURN_FILTERED,
    Header,
    action_name,
    decode_args,
    decode_args_end,
    header,
    int_arg,
    user_action,
)
from tetragon_core.sensors.hooksensor import HookSensor, PolicyEnv
from tetragon_core.sensors.retmerge import MAX_PENDING, MAX_WAIT_NS, ReturnMerger
from tetragon_core.sensors.stacksource import StackSource
from tetragon_core.sensors.structdecode import SIZES
from tetragon_core.sensors.useractions import UserActions
from tetragon_core.stacks import kernel_trace, parse_stack, user_trace
from tetragon_core.tracefs import Field, read_format

#: plugin op codes (tg_sdk.h TG_OP_PLUGIN_MIN..MAX); the rest belong to the core
OP_PLUGIN_MIN, OP_PLUGIN_MAX = 100, 199


def include_dir() -> Path:
    """The directory of the SDK's BPF headers (``tg_sdk.h`` and what it includes)."""
    return Path(str(files("tetragon_core") / "sdk" / "include"))


__all__ = [
    "BPF_ANY",
    "BPF_NOEXIST",
    "CGROUP_RATE_MAX_ENTRIES",
    "HEADER",
    "INTS",
    "MAX_PENDING",
    "MAX_WAIT_NS",
    "MSG_OP_CLONE",
    "MSG_OP_EXECVE",
    "MSG_OP_EXIT",
    "MSG_OP_GENERIC_KPROBE",
    "MSG_OP_GENERIC_LSM",
    "MSG_OP_GENERIC_TRACEPOINT",
    "MSG_OP_THROTTLE",
    "MSG_RETURN",
    "MSG_RETURN_FILTERED",
    "OBJECTS",
    "OP_PLUGIN_MAX",
    "OP_PLUGIN_MIN",
    "PATHS",
    "PLUGIN_NUMBERS",
    "SDK_VERSION",
    "SIZES",
    "STRINGS",
    "T_CHAR_BUF",
    "T_CHAR_IOVEC",
    "T_DATA_LOC",
    "T_INT",
    "T_LINUX_BINPRM",
    "T_NOP",
    "T_STRING",
    "T_U64",
    "USER_BY_ADDRESS",
    "USER_INLINE",
    "USER_KERNEL",
    "USER_USER",
    "ArgSpec",
    "BpfAttachError",
    "BpfError",
    "BpfLoadError",
    "BpfMapError",
    "BpfObject",
    "CloneMessage",
    "CompactRenderer",
    "ConfigError",
    "Creds",
    "DecodeError",
    "Decoder",
    "EventType",
    "ExecKey",
    "ExecMessage",
    "ExecveMapEntry",
    "ExitMessage",
    "Field",
    "GetEventsResponse",
    "Header",
    "HookMessage",
    "HookPlan",
    "HookSensor",
    "Int32",
    "Int64",
    "KProbeArg",
    "KProbeSpec",
    "KprobeArgument",
    "ListSpec",
    "LsmHookSpec",
    "Map",
    "MapKeyNotFound",
    "PluginEvent",
    "PolicyEnv",
    "PolicyError",
    "PolicyHandle",
    "Process",
    "ProcessKprobe",
    "ProcessLoader",
    "ProcessLsm",
    "ProcessTracepoint",
    "ProcessUprobe",
    "ProcessUsdt",
    "ProcfsSnapshot",
    "Registry",
    "ReplayRing",
    "ResolvedArg",
    "ReturnMerger",
    "ReturnSpec",
    "Sensor",
    "SensorContext",
    "SensorError",
    "StackSource",
    "TetragonError",
    "ThrottleMessage",
    "TracepointSpec",
    "TracingPolicy",
    "UInt32",
    "UInt64",
    "UProbeSpec",
    "UnsupportedFeatureError",
    "UsdtSpec",
    "UserActions",
    "action_name",
    "argtypes",
    "btf",
    "compile_hook",
    "decode_args",
    "decode_args_end",
    "decode_section",
    "dump_records",
    "execve_map_entries",
    "header",
    "include_dir",
    "int_arg",
    "int_by_size",
    "kernel_trace",
    "load_hooks",
    "load_records",
    "object_arg",
    "parse_stack",
    "probes",
    "proto_source",
    "read_format",
    "refuse_unbuilt_fields",
    "stacks",
    "tracefs",
    "user_action",
    "user_trace",
    "walk_procfs",
]
