"""The agent's resolved configuration: one typed, read-only attribute per daemon flag."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .flags import FLAGS, get_flag
from .values import Value, default_value

DEFAULT_SOURCE = "default"
"""The source reported for a flag no file or argument set."""

COMMAND_LINE_SOURCE = "command line"
"""The source reported for a flag set on the command line."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    """Every daemon flag's effective value, after all configuration layers were applied.

    Attribute names are the flag names in snake_case (``--rb-queue-size`` -> ``rb_queue_size``).
    Durations are float seconds, sizes are int bytes, list flags are tuples of str. ``help`` and
    ``generate_docs`` are command-line actions and are always False in a loaded configuration.
    """

    bpf_dir: str
    bpf_lib: str
    btf: str
    cgroup_rate: str
    cluster_name: str
    config_dir: str
    cpuprofile: str
    cri_endpoint: str
    data_cache_size: int
    debug: bool
    disable_kprobe_multi: bool
    enable_cgidmap: bool
    enable_cgidmap_debug: bool
    enable_cgtrackerid: bool
    enable_compatibility_syscall64_size_type: bool
    enable_cri: bool
    enable_export_aggregation: bool
    enable_k8s_api: bool
    enable_msg_handling_latency: bool
    enable_pid_set_filter: bool
    enable_pod_info: bool
    enable_policy_filter: bool
    enable_policy_filter_cgroup_map: bool
    enable_policy_filter_debug: bool
    enable_process_cred: bool
    enable_process_ns: bool
    enable_tracing_policy_crd: bool
    event_cache_retries: int
    event_cache_retry_delay: float  # seconds
    event_queue_size: int
    export_aggregation_buffer_size: int
    export_aggregation_window_size: float  # seconds
    export_allowlist: str
    export_denylist: str
    export_file_compress: bool
    export_file_max_backups: int
    export_file_max_size_mb: int
    export_file_perm: str
    export_file_rotation_interval: float  # seconds
    export_filename: str
    export_rate_limit: int
    expose_stack_addresses: bool
    field_filters: str
    force_large_progs: bool
    force_small_progs: bool
    generate_docs: bool
    gops_address: str
    health_server_address: str
    health_server_interval: float  # seconds
    help: bool
    k8s_kubeconfig_path: str
    keep_sensors_on_exit: bool
    kernel: str
    log_format: str
    log_level: str
    memprofile: str
    metrics_label_filter: tuple[str, ...]
    metrics_server: str
    netns_dir: str
    pprof_address: str
    process_cache_gc_interval: float  # seconds
    process_cache_size: int
    procfs: str
    rb_queue_size: int  # records
    rb_size: int  # bytes
    rb_size_total: int  # bytes
    redaction_filters: str
    release_pinned_bpf: bool
    server_address: str
    tracing_policy: str
    tracing_policy_dir: str
    username_metadata: str
    verbose: int
    sources: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )

    @classmethod
    def from_values(cls, values: Mapping[str, Value], sources: Mapping[str, str]) -> AgentConfig:
        """Build a config from flag-name -> typed value; flags missing from ``values`` get defaults."""
        kwargs: dict[str, Any] = {}
        for flag in FLAGS:
            kwargs[flag.attr] = values[flag.name] if flag.name in values else default_value(flag)
        return cls(**kwargs, sources=MappingProxyType(dict(sources)))

    @classmethod
    def defaults(cls) -> AgentConfig:
        """The configuration with every flag at its default."""
        return cls.from_values({}, {})

    def source(self, name: str) -> str:
        """Where flag ``name`` (``log-level``, ``--log-level`` or ``log_level``) got its value.

        Returns ``"default"``, ``"command line"``, or the path of the file that set it last.
        """
        flag = get_flag(name)
        if flag is None:
            raise KeyError(f"unknown flag {name!r}")
        return self.sources.get(flag.name, DEFAULT_SOURCE)

    def value(self, name: str) -> Value:
        """The value of flag ``name`` (any spelling accepted by :meth:`source`)."""
        flag = get_flag(name)
        if flag is None:
            raise KeyError(f"unknown flag {name!r}")
        result: Value = getattr(self, flag.attr)
        return result

    @property
    def effective_log_level(self) -> str:
        """The log level in force: ``--debug`` means ``debug`` whatever ``--log-level`` says."""
        return "debug" if self.debug else self.log_level

    @property
    def export_file_mode(self) -> int:
        """``--export-file-perm`` as a numeric file mode (``"600"`` -> ``0o600``)."""
        return int(self.export_file_perm, 8)
