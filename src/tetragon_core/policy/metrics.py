"""Metrics of the loaded policies: states, kernel memory, program runs and in-kernel outcomes."""

from __future__ import annotations

from tetragon_core.metrics import Registry
from tetragon_core.policy.registry import DISABLED, ENABLED, ERROR, LOAD_ERROR, PolicyRegistry

#: tg_hook_stats counters after ``calls``, in struct order, exported by
#: ``tetragon_tracingpolicy_kernel_events_total`` (our metric)
OUTCOMES = (
    "filtered",
    "posted",
    "rate_limited",
    "no_post",
    "signals",
    "monitor_skips",
    "action_failed",
    "no_process",
    "output_failed",
    "overrides",
    "sets",
)


def register_policy_metrics(registry: Registry, policies: PolicyRegistry) -> None:
    """Tetragon's tracingpolicy metrics, plus the kernel-side outcome of every hook run."""

    def loaded() -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = {(s,): 0.0 for s in (DISABLED, ENABLED, ERROR, LOAD_ERROR)}
        for e in policies.list():
            out[(e.state,)] += 1
        return out

    def memory() -> dict[tuple[str, ...], float]:
        return {
            (e.policy.name, e.policy.namespace): float(policies.kernel_memory(e)) for e in policies.list()
        }

    def runs() -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = {}
        for e in policies.list():
            st = policies.stats(e)
            if st:
                out[(e.policy.name, e.policy.namespace, ",".join(e.sensors))] = float(st.get("calls", 0))
        return out

    def outcomes() -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = {}
        for e in policies.list():
            st = policies.stats(e)
            for k in OUTCOMES:
                if k in st:
                    out[(e.policy.name, e.policy.namespace, k)] = float(st[k])
        return out

    registry.gauge(
        "tetragon_tracingpolicy_loaded",
        "The number of loaded tracing policy by state.",
        ("state",),
        collect=loaded,
    )
    registry.gauge(
        "tetragon_tracingpolicy_kernel_memory_bytes",
        "The amount of kernel memory in bytes used by policy's sensors non-shared BPF maps (memlock).",
        ("policy", "policy_namespace"),
        collect=memory,
    )
    registry.counter(
        "tetragon_overhead_program_runs_total",
        "The total number of times BPF program was executed.",
        ("policy", "policy_namespace", "sensor"),
        collect=runs,
    )
    registry.counter(
        "tetragon_tracingpolicy_kernel_events_total",
        "What the policy's BPF programs did with each run: filtered (no selector matched, never left "
        "the kernel), posted, rate_limited, no_post, signals, monitor_skips, action_failed, no_process, "
        "output_failed.",
        ("policy", "policy_namespace", "outcome"),
        collect=outcomes,
    )
