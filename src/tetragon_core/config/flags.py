"""The table of every ``tetragon`` daemon flag: name, value kind, default and usage text.

Defaults and usage strings are copied verbatim from Tetragon's generated flag reference, so
``--help`` and ``--generate-docs`` reproduce them exactly. Defaults are kept as the text the
reference shows; :func:`tetragon_core.config.values.parse_value` turns them into typed values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FlagKind(enum.Enum):
    """How a flag's textual value is parsed, and the Python type it becomes."""

    BOOL = "bool"  # -> bool; accepts true/false/1/0, case-insensitive
    INT = "int"  # -> int
    STR = "string"  # -> str
    DURATION = "duration"  # -> float seconds; Go syntax such as "1m30s", "500ms", "0s"
    SECONDS = "seconds"  # -> float seconds; a plain number of seconds, or Go duration syntax
    SIZE = "size"  # -> int bytes; optional K/M/G suffix (powers of 1024)
    STRING_LIST = "strings"  # -> tuple[str, ...]; comma-separated text or a YAML list


@dataclass(frozen=True, slots=True)
class Flag:
    """One daemon flag.

    ``default`` is the exact text of the reference table ("" where it shows none).
    ``minimum``/``maximum`` bound INT and SIZE values; ``choices`` restricts STR values
    (compared case-insensitively). ``cli_only`` flags are actions of the command line
    (``--help``, ``--generate-docs``) and may not appear in configuration files.
    """

    name: str
    kind: FlagKind
    default: str
    usage: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    cli_only: bool = False

    @property
    def attr(self) -> str:
        """The snake_case attribute name of this flag on :class:`AgentConfig`."""
        return self.name.replace("-", "_")


_B = FlagKind.BOOL
_I = FlagKind.INT
_S = FlagKind.STR
_D = FlagKind.DURATION
_SEC = FlagKind.SECONDS
_Z = FlagKind.SIZE
_L = FlagKind.STRING_LIST

LOG_LEVELS = ("debug", "info", "warn", "warning", "error")
LOG_FORMATS = ("text", "json")
USERNAME_METADATA_MODES = ("disabled", "unix")

# Keep this tuple sorted by name: --generate-docs and --help list flags in this order.
FLAGS: tuple[Flag, ...] = (
    Flag("bpf-dir", _S, "tetragon", "Set tetragon bpf directory (default 'tetragon')"),
    Flag("bpf-lib", _S, "/var/lib/tetragon/", "Location of Tetragon libs (btf and bpf files)"),
    Flag("btf", _S, "", "Location of btf"),
    Flag(
        "cgroup-rate",
        _S,
        "",
        "Base sensor events cgroup rate <events,interval> disabled by default "
        "('1000,1s' means rate 1000 events per second)",
    ),
    Flag("cluster-name", _S, "", "Name of the cluster where Tetragon is installed"),
    Flag("config-dir", _S, "", "Configuration directory that contains a file for each option"),
    Flag("cpuprofile", _S, "", "Store CPU profile into provided file"),
    Flag("cri-endpoint", _S, "", "CRI endpoint"),
    Flag("data-cache-size", _I, "1024", "Size of the data events cache", minimum=0),
    Flag("debug", _B, "false", "Enable debug messages. Equivalent to '--log-level=debug'"),
    Flag("disable-kprobe-multi", _B, "false", "Allow to disable kprobe multi interface"),
    Flag("enable-cgidmap", _B, "false", "enable pod resolution via cgroup ids"),
    Flag("enable-cgidmap-debug", _B, "false", "enable cgidmap debugging info"),
    Flag(
        "enable-cgtrackerid",
        _B,
        "true",
        "enable cgroup tracker id (only used if 'enable-cgidmap' is set)",
    ),
    Flag(
        "enable-compatibility-syscall64-size-type",
        _B,
        "false",
        "syscall64 type will produce output of type size (compatibility flag, will be removed in v1.4)",
    ),
    Flag("enable-cri", _B, "false", "enable CRI client for tetragon"),
    Flag("enable-export-aggregation", _B, "false", "Enable JSON export aggregation"),
    Flag(
        "enable-k8s-api",
        _B,
        "false",
        "Access Kubernetes API to associate Tetragon events with Kubernetes pods",
    ),
    Flag("enable-msg-handling-latency", _B, "false", "Enable metrics for message handling latency"),
    Flag(
        "enable-pid-set-filter",
        _B,
        "false",
        "Enable pidSet export filters. Not recommended for production use",
    ),
    Flag("enable-pod-info", _B, "false", "Enable PodInfo custom resource"),
    Flag("enable-policy-filter", _B, "false", "Enable policy filter code"),
    Flag(
        "enable-policy-filter-cgroup-map",
        _B,
        "false",
        "Enable cgroup mappings for policy filter maps",
    ),
    Flag("enable-policy-filter-debug", _B, "false", "Enable policy filter debug messages"),
    Flag("enable-process-cred", _B, "false", "Enable process_cred events"),
    Flag(
        "enable-process-ns",
        _B,
        "false",
        "Enable namespace information in process_exec and process_kprobe events",
    ),
    Flag(
        "enable-tracing-policy-crd",
        _B,
        "true",
        "Enable TracingPolicy and TracingPolicyNamespaced custom resources",
    ),
    Flag("event-cache-retries", _I, "15", "Number of retries for event cache", minimum=0),
    Flag("event-cache-retry-delay", _SEC, "2", "Delay in seconds between event cache retries"),
    Flag("event-queue-size", _I, "10000", "Set the size of the internal event queue.", minimum=0),
    Flag(
        "export-aggregation-buffer-size",
        _I,
        "10000",
        "Aggregator channel buffer size",
        minimum=0,
    ),
    Flag("export-aggregation-window-size", _D, "15s", "JSON export aggregation time window"),
    Flag("export-allowlist", _S, "", "JSON export allowlist"),
    Flag("export-denylist", _S, "", "JSON export denylist"),
    Flag("export-file-compress", _B, "false", "Compress rotated JSON export files"),
    Flag(
        "export-file-max-backups",
        _I,
        "5",
        "Number of rotated JSON export files to retain",
        minimum=0,
    ),
    Flag(
        "export-file-max-size-mb",
        _I,
        "10",
        "Size in MB for rotating JSON export files",
        minimum=0,
    ),
    Flag("export-file-perm", _S, "600", "Access permissions on JSON export files"),
    Flag(
        "export-file-rotation-interval",
        _D,
        "0s",
        "Interval at which to rotate JSON export files in addition to rotating them by size",
    ),
    Flag("export-filename", _S, "", "Filename for JSON export. Disabled by default"),
    Flag(
        "export-rate-limit",
        _I,
        "-1",
        "Rate limit (per minute) for event export. Set to -1 to disable",
        minimum=-1,
    ),
    Flag(
        "expose-stack-addresses",
        _B,
        "false",
        "Expose real linear addresses in events stack traces",
    ),
    Flag("field-filters", _S, "", "Field filters for event exports"),
    Flag(
        "force-large-progs",
        _B,
        "false",
        "Force loading large programs, even in kernels with < 5.3 versions",
    ),
    Flag(
        "force-small-progs",
        _B,
        "false",
        "Force loading small programs, even in kernels with >= 5.3 versions",
    ),
    Flag(
        "generate-docs",
        _B,
        "false",
        "Generate documentation in YAML format to stdout",
        cli_only=True,
    ),
    Flag(
        "gops-address",
        _S,
        "",
        "gops server address (e.g. 'localhost:8118'). Disabled by default",
    ),
    Flag(
        "health-server-address",
        _S,
        ":6789",
        "Health server address (e.g. ':6789')(use '' to disabled it)",
    ),
    Flag("health-server-interval", _SEC, "10", "Health server interval in seconds"),
    Flag("help", _B, "false", "help for tetragon", cli_only=True),
    Flag("k8s-kubeconfig-path", _S, "", "Absolute path of the kubernetes kubeconfig file"),
    Flag("keep-sensors-on-exit", _B, "false", "Do not unload sensors on exit"),
    Flag("kernel", _S, "", "Kernel version"),
    Flag("log-format", _S, "text", "Set log format", choices=LOG_FORMATS),
    Flag("log-level", _S, "info", "Set log level", choices=LOG_LEVELS),
    Flag("memprofile", _S, "", "Store MEM profile into provided file"),
    Flag(
        "metrics-label-filter",
        _L,
        "namespace,workload,pod,binary",
        "Comma-separated list of enabled metrics labels. Unknown labels will be ignored.",
    ),
    Flag(
        "metrics-server",
        _S,
        "",
        "Metrics server address (e.g. ':2112'). Disabled by default",
    ),
    Flag("netns-dir", _S, "/var/run/docker/netns/", "Network namespace dir"),
    Flag(
        "pprof-address",
        _S,
        "",
        "Serves runtime profile data via HTTP (e.g. 'localhost:6060'). Disabled by default",
    ),
    Flag(
        "process-cache-gc-interval",
        _D,
        "30s",
        "Time between checking the process cache for old entries",
    ),
    Flag("process-cache-size", _I, "65536", "Size of the process cache", minimum=1),
    Flag("procfs", _S, "/proc/", "Location of procfs to consume existing PIDs"),
    Flag(
        "rb-queue-size",
        _Z,
        "65535",
        "Set size of channel between ring buffer and sensor go routines (default 65k, allows K/M/G suffix)",
        minimum=1,
    ),
    Flag(
        "rb-size",
        _Z,
        "0",
        "Set perf ring buffer size for single cpu (default 65k, allows K/M/G suffix)",
        minimum=0,
    ),
    Flag(
        "rb-size-total",
        _Z,
        "0",
        "Set perf ring buffer size in total for all cpus (default 65k per cpu, allows K/M/G suffix)",
        minimum=0,
    ),
    Flag("redaction-filters", _S, "", "Redaction filters for events"),
    Flag(
        "release-pinned-bpf",
        _B,
        "true",
        "Release all pinned BPF programs and maps in Tetragon BPF directory. "
        "Enabled by default. Set to false to disable",
    ),
    Flag(
        "server-address",
        _S,
        "localhost:54321",
        "gRPC server address (e.g. 'localhost:54321' or 'unix:///var/run/tetragon/tetragon.sock'). "
        "An empty address disables the gRPC server",
    ),
    Flag("tracing-policy", _S, "", "Tracing policy file to load at startup"),
    Flag(
        "tracing-policy-dir",
        _S,
        "/etc/tetragon/tetragon.tp.d",
        "Directory from where to load Tracing Policies",
    ),
    Flag(
        "username-metadata",
        _S,
        "disabled",
        "Resolve UIDs to user names for processes running in host namespace",
        choices=USERNAME_METADATA_MODES,
    ),
    Flag(
        "verbose",
        _I,
        "0",
        "set verbosity level for eBPF verifier dumps. Pass 0 for silent, 1 for truncated logs, "
        "2 for a full dump",
        minimum=0,
        maximum=2,
    ),
)

FLAGS_BY_NAME: dict[str, Flag] = {flag.name: flag for flag in FLAGS}


def get_flag(name: str) -> Flag | None:
    """Look a flag up by ``name``, ``--name`` or its snake_case attribute name."""
    key = name.removeprefix("--").replace("_", "-")
    return FLAGS_BY_NAME.get(key)
