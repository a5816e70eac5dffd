"""Metrics of the loaded policies: states, kernel memory, program runs and in-kernel outcomes."""

from __future__ import annotations

from collections.abc import Callable

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
    "policy_filtered",
)


Series = dict[tuple[str, ...], float]


def _while_free(policies: PolicyRegistry, read: Callable[[], Series]) -> Callable[[], Series]:
    """``read`` while no policy is being loaded or deleted; during one, the last values."""
    last: list[Series] = [{}]

    def collect() -> Series:
        with policies.reading() as free:
            if free:
                last[0] = read()
        return last[0]

    return collect


def register_policy_metrics(registry: Registry, policies: PolicyRegistry) -> None:
    """Tetragon's tracingpolicy metrics, plus the kernel-side outcome of every hook run."""

    def loaded() -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = {(s,): 0.0 for s in (DISABLED, ENABLED, ERROR, LOAD_ERROR)}
        for e in policies.list():
            out[(e.state,)] += 1
        return out

    memory = _while_free(
        policies,
        lambda: {
            (e.policy.name, e.policy.namespace): float(policies.kernel_memory(e)) for e in policies.list()
        },
    )

    def read_outcomes() -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = {}
        for e in policies.list():
            st = policies.stats(e)
            if "calls" in st:
                out[(e.policy.name, e.policy.namespace, "runs")] = float(st["calls"])
            for k in OUTCOMES:
                if k in st:
                    out[(e.policy.name, e.policy.namespace, k)] = float(st[k])
        return out

    outcomes = _while_free(policies, read_outcomes)

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
        "tetragon_tracingpolicy_kernel_events_total",
        "What the policy's BPF programs did with each run: runs (all of them, counted whether or not "
        "kernel.bpf_stats_enabled is set), filtered (no selector matched, never left the kernel), "
        "posted, rate_limited, no_post, signals, monitor_skips, action_failed, no_process, output_failed, "
        "overrides, sets.",
        ("policy", "policy_namespace", "outcome"),
        collect=outcomes,
    )
