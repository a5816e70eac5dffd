"""Per-event metrics: ``tetragon_events_total``, ``tetragon_policy_events_total`` and
``tetragon_syscalls_total``, counted as every event leaves the agent (before export filters).

Their workload labels are Tetragon's ``namespace``, ``workload``, ``pod`` and ``binary``;
``--metrics-label-filter`` chooses which of them the families carry (the others are not labels
at all, which is what keeps the cardinality down). Unknown names in the filter are ignored, as
its usage text says, with a warning naming them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from tetragon_core.events import GetEventsResponse, Process
from tetragon_core.export.compact_kprobe import syscall_name
from tetragon_core.metrics import Registry

log = logging.getLogger(__name__)

#: the configurable workload labels, in Tetragon's order
WORKLOAD_LABELS = ("namespace", "workload", "pod", "binary")

# (GetEventsResponse field, EventType name), in field-number order
_FIELDS = (
    ("process_exec", "PROCESS_EXEC"),
    ("process_exit", "PROCESS_EXIT"),
    ("process_kprobe", "PROCESS_KPROBE"),
    ("process_tracepoint", "PROCESS_TRACEPOINT"),
    ("process_loader", "PROCESS_LOADER"),
    ("process_uprobe", "PROCESS_UPROBE"),
    ("process_throttle", "PROCESS_THROTTLE"),
    ("process_lsm", "PROCESS_LSM"),
    ("process_usdt", "PROCESS_USDT"),
    ("rate_limit_info", "RATE_LIMIT_INFO"),
)


def label_filter(names: Sequence[str]) -> tuple[str, ...]:
    """The workload labels ``--metrics-label-filter`` keeps, in Tetragon's order."""
    wanted = {n.strip() for n in names if n.strip()}
    unknown = sorted(wanted - set(WORKLOAD_LABELS))
    if unknown:
        log.warning("--metrics-label-filter: ignoring unknown labels %s", ", ".join(unknown))
    return tuple(n for n in WORKLOAD_LABELS if n in wanted)


def _values(labels: tuple[str, ...]) -> Callable[[Process | None], tuple[str, ...]]:
    """A function from an event's process to the values of ``labels``."""

    def values(proc: Process | None) -> tuple[str, ...]:
        if proc is None:
            return ("",) * len(labels)
        pod = proc.pod
        out = []
        for name in labels:
            if name == "binary":
                out.append(proc.binary)
            elif pod is None:
                out.append("")
            elif name == "namespace":
                out.append(pod.namespace)
            elif name == "workload":
                out.append(pod.workload)
            else:
                out.append(pod.name)
        return tuple(out)

    return values


def _hook(field: str, ev: object) -> str:
    """The hook of a policy event: the kprobe or LSM function, ``subsys/event`` of a tracepoint,
    the uprobe's symbol or ``provider/name`` of a USDT."""
    if field == "process_tracepoint":
        return f"{getattr(ev, 'subsys', '')}/{getattr(ev, 'event', '')}"
    if field == "process_uprobe":
        return str(getattr(ev, "symbol", ""))
    if field == "process_usdt":
        return f"{getattr(ev, 'provider', '')}/{getattr(ev, 'name', '')}"
    return str(getattr(ev, "function_name", ""))


class EventMetrics:
    """A sink that counts each event by type, policy hook and syscall, with the chosen labels."""

    def __init__(self, registry: Registry, labels: Sequence[str] = WORKLOAD_LABELS) -> None:
        self.labels = tuple(labels)
        self._values = _values(self.labels)
        self.events = registry.counter(
            "tetragon_events_total", "The total number of Tetragon events", ("type", *self.labels)
        )
        self.policy_events = registry.counter(
            "tetragon_policy_events_total", "Policy events calls observed.", ("policy", "hook", *self.labels)
        )
        self.syscalls = registry.counter(
            "tetragon_syscalls_total", "System calls observed.", ("syscall", *self.labels)
        )

    def submit(self, event: GetEventsResponse) -> bool:
        for field, type_name in _FIELDS:
            ev = getattr(event, field)
            if ev is None:
                continue
            proc = getattr(ev, "process", None)
            workload = self._values(proc)
            self.events.inc(type_name, *workload)
            policy = getattr(ev, "policy_name", None)
            if policy is not None:
                self.policy_events.inc(policy, _hook(field, ev), *workload)
                if field == "process_tracepoint" and ev.subsys == "raw_syscalls" and ev.event == "sys_enter":
                    self.syscalls.inc(syscall_name(ev), *workload)
            return True
        plugin = getattr(type(event), "__plugin_field__", None)  # a plugin's event type
        if plugin is not None and (ev := getattr(event, plugin, None)) is not None:
            self.events.inc(event.event_type(), *self._values(getattr(ev, "process", None)))
        return True

    def submit_many(self, events: list[GetEventsResponse]) -> int:
        submit = self.submit
        for ev in events:
            submit(ev)
        return len(events)

    def close(self, timeout: float | None = None) -> None:
        """Nothing to flush: counters are read at scrape time."""
