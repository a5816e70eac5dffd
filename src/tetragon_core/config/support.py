"""What each daemon flag does in this agent: its effect, or why a non-default value is refused.

Every flag is in exactly one of :data:`EFFECTS` (it works; the text says how) and
:data:`UNSUPPORTED` (it may only keep its default; any other value is a configuration error
carrying the reason). No flag is accepted and then ignored. ``--generate-docs`` and
docs/flags.md are generated from these tables. To build a flag, move it from UNSUPPORTED to
EFFECTS; a test walks every flag against the running agent.
"""

from __future__ import annotations

from .flags import FLAGS

_CGIDMAP = "pod resolution by cgroup id maps is not built: pods are found by container id"
_POLICY_FILTER_MAP = (
    "the policy filter's kernel table is keyed by (policy, cgroup id) already; upstream's "
    "cgroup-to-policies map variant is not built"
)
_PROFILING = "Go runtime profiling has no equivalent in this agent"
_PROG_SIZE = "BPF program variants are chosen by kernel probing only"

#: why a window other than the default is refused (the GetEvents field's refusal says the same)
AGGREGATION_WINDOW = (
    "no event type of the API is aggregated (the seed aggregates only process_accept and "
    "process_connect, which no longer exist), so an aggregation window would act on nothing"
)

UNSUPPORTED: dict[str, str] = {
    "btf": "loading BTF from a custom file is not built yet",
    "cpuprofile": _PROFILING,
    "export-aggregation-window-size": AGGREGATION_WINDOW,
    "data-cache-size": "data events (arguments too large for their event, sent apart) are not built yet: "
    "buffers and strings are read into the event, up to 4096 bytes each",
    "enable-cgidmap": _CGIDMAP,
    "enable-cgidmap-debug": _CGIDMAP,
    "enable-cgtrackerid": "the cgroup tracker id only serves --enable-cgidmap, which is not built",
    "enable-compatibility-syscall64-size-type": "the syscall64 compatibility output is not built",
    "enable-policy-filter-cgroup-map": _POLICY_FILTER_MAP,
    "force-large-progs": _PROG_SIZE,
    "force-small-progs": _PROG_SIZE,
    "kernel": "overriding the detected kernel version is not built yet",
    "memprofile": _PROFILING,
    "netns-dir": "network namespace resolution is not built yet",
    "pprof-address": _PROFILING,
}

EFFECTS: dict[str, str] = {
    "bpf-dir": "pins live under /sys/fs/bpf/<value> (with --keep-sensors-on-exit; released at start "
    "with --release-pinned-bpf)",
    "bpf-lib": "when set, every sensor's BPF object is read from this directory, which must exist and "
    "hold them; unset, each sensor's object comes from its own package",
    "cgroup-rate": "exec and clone events counted per cgroup and CPU in the kernel (two windows); a "
    "cgroup over the rate has them dropped there (tetragon_cgroup_rate_events_dropped_total) and "
    "ProcessThrottle THROTTLE_START / THROTTLE_STOP events tell when; a malformed value is refused",
    "cluster-name": "cluster_name on every event",
    "config-dir": "a drop-in directory (a file per flag), last and strongest of the configuration layers",
    "debug": "logs at debug level",
    "disable-kprobe-multi": "kprobe.multi is never used (each function gets its own kprobe); a list: call "
    "too long for single kprobes is refused naming this flag",
    "enable-cri": "containers and pod sandboxes polled from the runtime's CRI (every second): "
    "process.pod (name, namespace, uid, labels, container, image) and the policy filter's pods "
    "without the Kubernetes API; an exec waits in the event cache until its pod is known",
    "cri-endpoint": "the CRI socket (unix:///path; with --enable-cri, which it needs); unset, the "
    "first of containerd's, CRI-O's and cri-dockerd's default sockets that exists",
    "enable-k8s-api": "this node's pods (NODE_NAME or the hostname) listed and watched from the "
    "Kubernetes API: process.pod as upstream fills it (workload, labels, container image, "
    "maybe_exec_probe), the policy filter's pods; an exec waits in the event cache for its pod",
    "enable-policy-filter": "TracingPolicyNamespaced, podSelector, containerSelector and hostSelector "
    "act only on the pods, containers and host processes they select, checked first in every hook "
    "by cgroup id (pods from --enable-k8s-api, --enable-cri or RuntimeHook); without it such "
    "policies are refused",
    "enable-policy-filter-debug": "logs every entry the policy filter adds to or removes from its "
    "kernel table",
    "k8s-kubeconfig-path": "the kubeconfig --enable-k8s-api uses (which it needs); unset, the pod's "
    "service account",
    "enable-pod-info": "with --enable-k8s-api, the agent starts once the PodInfo CRD is Established, "
    "as upstream's agent waits for it; the PodInfo resources (one per pod: IPs, labels, workload, "
    "an owner reference to the pod) are written by `tetragon-operator serve --enable-pod-info`",
    "enable-tracing-policy-crd": "with --enable-k8s-api, TracingPolicy and TracingPolicyNamespaced "
    "resources (install/kubernetes/crds) are watched, loaded, reloaded on a new generation and "
    "deleted with the resource; each one's state on this node is written into its status; false "
    "reads none",
    "gops-address": "the gops diagnostics protocol (Tetragon's chart sets localhost:8118): `gops stack`, "
    "gc, memstats, version and stats answered with the Python equivalents; Go profiles are refused "
    "in the reply",
    "enable-msg-handling-latency": "the tetragon_handling_latency histogram (microseconds per record, "
    "by op code)",
    "enable-pid-set-filter": "pid_set is allowed in --export-allowlist and --export-denylist",
    "enable-process-cred": "process_credentials and binary_properties in exec events",
    "enable-process-ns": "ns (namespace inodes) in process_exec and process_kprobe events",
    "enable-export-aggregation": "the JSON export goes through an aggregation buffer of "
    "--export-aggregation-buffer-size events: past it events are dropped and counted "
    "(tetragon_aggregation_events_dropped_total) instead of pausing the ring reader; no event type "
    "of the API is aggregated (the seed's only ones, process_accept/connect, no longer exist), so "
    "each passes through, in order",
    "export-aggregation-buffer-size": "the JSON export's aggregation buffer, in events (with "
    "--enable-export-aggregation); 0 is refused",
    "event-cache-retries": "retries of an event whose process or parent is not cached yet, before it "
    "is sent as it is",
    "event-cache-retry-delay": "seconds between those retries",
    "event-queue-size": "bound of each sink's queue (JSON export, console, each GetEvents client); "
    "drops are counted",
    "export-allowlist": "events the JSON export keeps (Tetragon's filter JSON, one per line)",
    "export-denylist": "events the JSON export drops",
    "export-file-compress": "rotated export files are gzip-compressed",
    "export-file-max-backups": "rotated export files kept",
    "export-file-max-size-mb": "size at which the export file rotates",
    "export-file-perm": "mode of the export files",
    "export-file-rotation-interval": "the export file also rotates at this interval",
    "export-filename": "the JSON export file",
    "export-rate-limit": "events per minute the JSON export writes; the rest are counted in rate_limit_info",
    "expose-stack-addresses": "real addresses in stack traces",
    "field-filters": "fields the JSON export keeps or removes, per event type",
    "generate-docs": "prints this reference as YAML",
    "health-server-address": "the grpc.health.v1 server (services '' and 'liveness'); '' disables it",
    "health-server-interval": "seconds between re-evaluations of the health status",
    "help": "prints every flag with its usage and default",
    "keep-sensors-on-exit": "BPF programs stay attached (pinned under --bpf-dir) after the agent exits",
    "log-format": "text or json log lines",
    "log-level": "the log level",
    "metrics-label-filter": "which of namespace, workload, pod, binary label tetragon_events_total, "
    "tetragon_policy_events_total and tetragon_syscalls_total",
    "metrics-server": "the Prometheus /metrics endpoint",
    "process-cache-gc-interval": "interval of the process cache's garbage collection",
    "process-cache-size": "entries of the process cache (LRU)",
    "procfs": "where the start-up walk and process lookups read /proc",
    "rb-queue-size": "bound (in records) of the queue between the ring reader and the handlers; while it "
    "is full the rest waits in the ring, and what the kernel then cannot write is counted",
    "rb-size": "ring buffer size per CPU",
    "rb-size-total": "ring buffer size in total",
    "redaction-filters": "redaction of process arguments, applied as processes enter the cache",
    "release-pinned-bpf": "pins left under --bpf-dir by an earlier run are removed at start",
    "server-address": "the gRPC API address; '' disables it",
    "tracing-policy": "a TracingPolicy file loaded at start",
    "tracing-policy-dir": "a directory of TracingPolicy files loaded at start",
    "username-metadata": "unix: user names of host processes in process.user",
    "verbose": "verifier logs of every loaded program: 1 their end (verdict and statistics), 2 all of them",
}


def unsupported_reason(name: str) -> str | None:
    """The reason flag ``name`` cannot be changed from its default, or None if it is supported."""
    return UNSUPPORTED.get(name)


def flag_support(name: str) -> tuple[str, str]:
    """``("works", effect)`` or ``("refused", reason)`` for flag ``name``."""
    if name in EFFECTS:
        return "works", EFFECTS[name]
    return "refused", UNSUPPORTED[name]


def _check_tables() -> None:
    names = {f.name for f in FLAGS}
    both = set(EFFECTS) & set(UNSUPPORTED)
    missing = names - set(EFFECTS) - set(UNSUPPORTED)
    unknown = (set(EFFECTS) | set(UNSUPPORTED)) - names
    if both or missing or unknown:
        raise AssertionError(f"flag support tables: in both {both}, in neither {missing}, unknown {unknown}")


_check_tables()
