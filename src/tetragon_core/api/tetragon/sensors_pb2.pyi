from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import wrappers_pb2 as _wrappers_pb2
from tetragon_core.api.tetragon import events_pb2 as _events_pb2
from tetragon_core.api.tetragon import stack_pb2 as _stack_pb2
from tetragon_core.api.tetragon import tetragon_pb2 as _tetragon_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TracingPolicyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TP_STATE_UNKNOWN: _ClassVar[TracingPolicyState]
    TP_STATE_ENABLED: _ClassVar[TracingPolicyState]
    TP_STATE_DISABLED: _ClassVar[TracingPolicyState]
    TP_STATE_LOAD_ERROR: _ClassVar[TracingPolicyState]
    TP_STATE_ERROR: _ClassVar[TracingPolicyState]
    TP_STATE_LOADING: _ClassVar[TracingPolicyState]
    TP_STATE_UNLOADING: _ClassVar[TracingPolicyState]
    TP_STATE_SKIPPED: _ClassVar[TracingPolicyState]
    TP_STATE_PARTIALLY_ENABLED: _ClassVar[TracingPolicyState]

class TracingPolicyMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TP_MODE_UNKNOWN: _ClassVar[TracingPolicyMode]
    TP_MODE_ENFORCE: _ClassVar[TracingPolicyMode]
    TP_MODE_MONITOR: _ClassVar[TracingPolicyMode]
    TP_MODE_MONITOR_ONLY: _ClassVar[TracingPolicyMode]

class HookState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_UNSPECIFIED: _ClassVar[HookState]
    STATUS_LOADED: _ClassVar[HookState]
    STATUS_DIGEST_REJECTED: _ClassVar[HookState]
    STATUS_CALL_NOT_FOUND: _ClassVar[HookState]
    STATUS_PARTIAL_CALL_NOT_FOUND: _ClassVar[HookState]

class ConfigFlag(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONFIG_FLAG_LOG_LEVEL: _ClassVar[ConfigFlag]
    CONFIG_FLAG_DUMP_PROCESS_CACHE: _ClassVar[ConfigFlag]

class LogLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_LEVEL_PANIC: _ClassVar[LogLevel]
    LOG_LEVEL_FATAL: _ClassVar[LogLevel]
    LOG_LEVEL_ERROR: _ClassVar[LogLevel]
    LOG_LEVEL_WARN: _ClassVar[LogLevel]
    LOG_LEVEL_INFO: _ClassVar[LogLevel]
    LOG_LEVEL_DEBUG: _ClassVar[LogLevel]
    LOG_LEVEL_TRACE: _ClassVar[LogLevel]
TP_STATE_UNKNOWN: TracingPolicyState
TP_STATE_ENABLED: TracingPolicyState
TP_STATE_DISABLED: TracingPolicyState
TP_STATE_LOAD_ERROR: TracingPolicyState
TP_STATE_ERROR: TracingPolicyState
TP_STATE_LOADING: TracingPolicyState
TP_STATE_UNLOADING: TracingPolicyState
TP_STATE_SKIPPED: TracingPolicyState
TP_STATE_PARTIALLY_ENABLED: TracingPolicyState
TP_MODE_UNKNOWN: TracingPolicyMode
TP_MODE_ENFORCE: TracingPolicyMode
TP_MODE_MONITOR: TracingPolicyMode
TP_MODE_MONITOR_ONLY: TracingPolicyMode
STATUS_UNSPECIFIED: HookState
STATUS_LOADED: HookState
STATUS_DIGEST_REJECTED: HookState
STATUS_CALL_NOT_FOUND: HookState
STATUS_PARTIAL_CALL_NOT_FOUND: HookState
CONFIG_FLAG_LOG_LEVEL: ConfigFlag
CONFIG_FLAG_DUMP_PROCESS_CACHE: ConfigFlag
LOG_LEVEL_PANIC: LogLevel
LOG_LEVEL_FATAL: LogLevel
LOG_LEVEL_ERROR: LogLevel
LOG_LEVEL_WARN: LogLevel
LOG_LEVEL_INFO: LogLevel
LOG_LEVEL_DEBUG: LogLevel
LOG_LEVEL_TRACE: LogLevel

class SensorStatus(_message.Message):
    __slots__ = ("name", "enabled", "collection")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    enabled: bool
    collection: str
    def __init__(self, name: _Optional[str] = ..., enabled: _Optional[bool] = ..., collection: _Optional[str] = ...) -> None: ...

class ListSensorsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSensorsResponse(_message.Message):
    __slots__ = ("sensors",)
    SENSORS_FIELD_NUMBER: _ClassVar[int]
    sensors: _containers.RepeatedCompositeFieldContainer[SensorStatus]
    def __init__(self, sensors: _Optional[_Iterable[_Union[SensorStatus, _Mapping]]] = ...) -> None: ...

class ListTracingPoliciesRequest(_message.Message):
    __slots__ = ("domain",)
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    domain: str
    def __init__(self, domain: _Optional[str] = ...) -> None: ...

class TracingPolicyActionCounters(_message.Message):
    __slots__ = ("post", "signal", "monitor_signal", "override", "monitor_override", "notify_enforcer", "monitor_notify_enforcer", "set", "monitor_set", "nopost")
    POST_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    MONITOR_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    MONITOR_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    NOTIFY_ENFORCER_FIELD_NUMBER: _ClassVar[int]
    MONITOR_NOTIFY_ENFORCER_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    MONITOR_SET_FIELD_NUMBER: _ClassVar[int]
    NOPOST_FIELD_NUMBER: _ClassVar[int]
    post: int
    signal: int
    monitor_signal: int
    override: int
    monitor_override: int
    notify_enforcer: int
    monitor_notify_enforcer: int
    set: int
    monitor_set: int
    nopost: int
    def __init__(self, post: _Optional[int] = ..., signal: _Optional[int] = ..., monitor_signal: _Optional[int] = ..., override: _Optional[int] = ..., monitor_override: _Optional[int] = ..., notify_enforcer: _Optional[int] = ..., monitor_notify_enforcer: _Optional[int] = ..., set: _Optional[int] = ..., monitor_set: _Optional[int] = ..., nopost: _Optional[int] = ...) -> None: ...

class TracingPolicySelectorActionCounters(_message.Message):
    __slots__ = ("hook", "hook_index", "selector_index", "action_counters", "selector_label")
    HOOK_FIELD_NUMBER: _ClassVar[int]
    HOOK_INDEX_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_INDEX_FIELD_NUMBER: _ClassVar[int]
    ACTION_COUNTERS_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_LABEL_FIELD_NUMBER: _ClassVar[int]
    hook: str
    hook_index: _wrappers_pb2.UInt32Value
    selector_index: _wrappers_pb2.UInt32Value
    action_counters: TracingPolicyActionCounters
    selector_label: str
    def __init__(self, hook: _Optional[str] = ..., hook_index: _Optional[_Union[_wrappers_pb2.UInt32Value, _Mapping]] = ..., selector_index: _Optional[_Union[_wrappers_pb2.UInt32Value, _Mapping]] = ..., action_counters: _Optional[_Union[TracingPolicyActionCounters, _Mapping]] = ..., selector_label: _Optional[str] = ...) -> None: ...

class TracingPolicyStats(_message.Message):
    __slots__ = ("action_counters", "selector_action_counters")
    ACTION_COUNTERS_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_ACTION_COUNTERS_FIELD_NUMBER: _ClassVar[int]
    action_counters: TracingPolicyActionCounters
    selector_action_counters: _containers.RepeatedCompositeFieldContainer[TracingPolicySelectorActionCounters]
    def __init__(self, action_counters: _Optional[_Union[TracingPolicyActionCounters, _Mapping]] = ..., selector_action_counters: _Optional[_Iterable[_Union[TracingPolicySelectorActionCounters, _Mapping]]] = ...) -> None: ...

class HookStatus(_message.Message):
    __slots__ = ("section", "state", "hook_description", "hook_idx")
    SECTION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HOOK_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    HOOK_IDX_FIELD_NUMBER: _ClassVar[int]
    section: str
    state: HookState
    hook_description: str
    hook_idx: int
    def __init__(self, section: _Optional[str] = ..., state: _Optional[_Union[HookState, str]] = ..., hook_description: _Optional[str] = ..., hook_idx: _Optional[int] = ...) -> None: ...

class TracingPolicyStatus(_message.Message):
    __slots__ = ("id", "name", "namespace", "info", "sensors", "enabled", "filter_id", "error", "state", "kernel_memory_bytes", "mode", "stats", "domain", "hook_statuses")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    SENSORS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    FILTER_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    KERNEL_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    HOOK_STATUSES_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    namespace: str
    info: str
    sensors: _containers.RepeatedScalarFieldContainer[str]
    enabled: bool
    filter_id: int
    error: str
    state: TracingPolicyState
    kernel_memory_bytes: int
    mode: TracingPolicyMode
    stats: TracingPolicyStats
    domain: str
    hook_statuses: _containers.RepeatedCompositeFieldContainer[HookStatus]
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., namespace: _Optional[str] = ..., info: _Optional[str] = ..., sensors: _Optional[_Iterable[str]] = ..., enabled: _Optional[bool] = ..., filter_id: _Optional[int] = ..., error: _Optional[str] = ..., state: _Optional[_Union[TracingPolicyState, str]] = ..., kernel_memory_bytes: _Optional[int] = ..., mode: _Optional[_Union[TracingPolicyMode, str]] = ..., stats: _Optional[_Union[TracingPolicyStats, _Mapping]] = ..., domain: _Optional[str] = ..., hook_statuses: _Optional[_Iterable[_Union[HookStatus, _Mapping]]] = ...) -> None: ...

class ListTracingPoliciesResponse(_message.Message):
    __slots__ = ("policies",)
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    policies: _containers.RepeatedCompositeFieldContainer[TracingPolicyStatus]
    def __init__(self, policies: _Optional[_Iterable[_Union[TracingPolicyStatus, _Mapping]]] = ...) -> None: ...

class AddTracingPolicyRequest(_message.Message):
    __slots__ = ("yaml", "domain")
    YAML_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    yaml: str
    domain: str
    def __init__(self, yaml: _Optional[str] = ..., domain: _Optional[str] = ...) -> None: ...

class AddTracingPolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteTracingPolicyRequest(_message.Message):
    __slots__ = ("name", "namespace", "domain")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    domain: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ..., domain: _Optional[str] = ...) -> None: ...

class DeleteTracingPolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EnableTracingPolicyRequest(_message.Message):
    __slots__ = ("name", "namespace", "domain")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    domain: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ..., domain: _Optional[str] = ...) -> None: ...

class EnableTracingPolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DisableTracingPolicyRequest(_message.Message):
    __slots__ = ("name", "namespace", "domain")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    domain: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ..., domain: _Optional[str] = ...) -> None: ...

class DisableTracingPolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ConfigureTracingPolicyRequest(_message.Message):
    __slots__ = ("name", "namespace", "enable", "mode", "domain")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ENABLE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    enable: bool
    mode: TracingPolicyMode
    domain: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ..., enable: _Optional[bool] = ..., mode: _Optional[_Union[TracingPolicyMode, str]] = ..., domain: _Optional[str] = ...) -> None: ...

class ConfigureTracingPolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RemoveSensorRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveSensorResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EnableSensorRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class EnableSensorResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DisableSensorRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DisableSensorResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDomainsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDomainsResponse(_message.Message):
    __slots__ = ("domains",)
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    domains: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, domains: _Optional[_Iterable[str]] = ...) -> None: ...

class GetVersionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: str
    def __init__(self, version: _Optional[str] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetInfoResponse(_message.Message):
    __slots__ = ("version", "name", "probes", "conf", "build")
    class Probe(_message.Message):
        __slots__ = ("Name", "Enabled")
        NAME_FIELD_NUMBER: _ClassVar[int]
        ENABLED_FIELD_NUMBER: _ClassVar[int]
        Name: str
        Enabled: _wrappers_pb2.BoolValue
        def __init__(self, Name: _Optional[str] = ..., Enabled: _Optional[_Union[_wrappers_pb2.BoolValue, _Mapping]] = ...) -> None: ...
    class ConfVal(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _any_pb2.Any
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...
    class BuildInfo(_message.Message):
        __slots__ = ("go_version", "commit", "time", "modified")
        GO_VERSION_FIELD_NUMBER: _ClassVar[int]
        COMMIT_FIELD_NUMBER: _ClassVar[int]
        TIME_FIELD_NUMBER: _ClassVar[int]
        MODIFIED_FIELD_NUMBER: _ClassVar[int]
        go_version: str
        commit: str
        time: str
        modified: str
        def __init__(self, go_version: _Optional[str] = ..., commit: _Optional[str] = ..., time: _Optional[str] = ..., modified: _Optional[str] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROBES_FIELD_NUMBER: _ClassVar[int]
    CONF_FIELD_NUMBER: _ClassVar[int]
    BUILD_FIELD_NUMBER: _ClassVar[int]
    version: str
    name: str
    probes: _containers.RepeatedCompositeFieldContainer[GetInfoResponse.Probe]
    conf: _containers.RepeatedCompositeFieldContainer[GetInfoResponse.ConfVal]
    build: GetInfoResponse.BuildInfo
    def __init__(self, version: _Optional[str] = ..., name: _Optional[str] = ..., probes: _Optional[_Iterable[_Union[GetInfoResponse.Probe, _Mapping]]] = ..., conf: _Optional[_Iterable[_Union[GetInfoResponse.ConfVal, _Mapping]]] = ..., build: _Optional[_Union[GetInfoResponse.BuildInfo, _Mapping]] = ...) -> None: ...

class DumpProcessCacheReqArgs(_message.Message):
    __slots__ = ("skip_zero_refcnt", "exclude_execve_map_processes")
    SKIP_ZERO_REFCNT_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_EXECVE_MAP_PROCESSES_FIELD_NUMBER: _ClassVar[int]
    skip_zero_refcnt: bool
    exclude_execve_map_processes: bool
    def __init__(self, skip_zero_refcnt: _Optional[bool] = ..., exclude_execve_map_processes: _Optional[bool] = ...) -> None: ...

class ProcessInternal(_message.Message):
    __slots__ = ("process", "color", "refcnt", "refcnt_ops")
    class RefcntOpsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    REFCNT_FIELD_NUMBER: _ClassVar[int]
    REFCNT_OPS_FIELD_NUMBER: _ClassVar[int]
    process: _tetragon_pb2.Process
    color: str
    refcnt: _wrappers_pb2.UInt32Value
    refcnt_ops: _containers.ScalarMap[str, int]
    def __init__(self, process: _Optional[_Union[_tetragon_pb2.Process, _Mapping]] = ..., color: _Optional[str] = ..., refcnt: _Optional[_Union[_wrappers_pb2.UInt32Value, _Mapping]] = ..., refcnt_ops: _Optional[_Mapping[str, int]] = ...) -> None: ...

class DumpProcessCacheResArgs(_message.Message):
    __slots__ = ("processes",)
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    processes: _containers.RepeatedCompositeFieldContainer[ProcessInternal]
    def __init__(self, processes: _Optional[_Iterable[_Union[ProcessInternal, _Mapping]]] = ...) -> None: ...

class GetDebugRequest(_message.Message):
    __slots__ = ("flag", "dump")
    FLAG_FIELD_NUMBER: _ClassVar[int]
    DUMP_FIELD_NUMBER: _ClassVar[int]
    flag: ConfigFlag
    dump: DumpProcessCacheReqArgs
    def __init__(self, flag: _Optional[_Union[ConfigFlag, str]] = ..., dump: _Optional[_Union[DumpProcessCacheReqArgs, _Mapping]] = ...) -> None: ...

class GetDebugResponse(_message.Message):
    __slots__ = ("flag", "level", "processes")
    FLAG_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    flag: ConfigFlag
    level: LogLevel
    processes: DumpProcessCacheResArgs
    def __init__(self, flag: _Optional[_Union[ConfigFlag, str]] = ..., level: _Optional[_Union[LogLevel, str]] = ..., processes: _Optional[_Union[DumpProcessCacheResArgs, _Mapping]] = ...) -> None: ...

class SetDebugRequest(_message.Message):
    __slots__ = ("flag", "level")
    FLAG_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    flag: ConfigFlag
    level: LogLevel
    def __init__(self, flag: _Optional[_Union[ConfigFlag, str]] = ..., level: _Optional[_Union[LogLevel, str]] = ...) -> None: ...

class SetDebugResponse(_message.Message):
    __slots__ = ("flag", "level")
    FLAG_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    flag: ConfigFlag
    level: LogLevel
    def __init__(self, flag: _Optional[_Union[ConfigFlag, str]] = ..., level: _Optional[_Union[LogLevel, str]] = ...) -> None: ...

class GetStackTraceTreeRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetStackTraceTreeResponse(_message.Message):
    __slots__ = ("root",)
    ROOT_FIELD_NUMBER: _ClassVar[int]
    root: _stack_pb2.StackTraceNode
    def __init__(self, root: _Optional[_Union[_stack_pb2.StackTraceNode, _Mapping]] = ...) -> None: ...
