"""Entry records waiting for their return half: kprobe/kretprobe and uprobe/uretprobe pairs.

A hook with ``return: true`` sends two records per call, the entry (its arguments) and, if the
entry was sent, the return (the value), both carrying the entry's ktime as ``retprobe_id``. As
Tetragon does, the entry waits here and one event leaves with both. A return with no entry, an
entry pushed out by newer ones, or one that waited longer than ``MAX_WAIT_NS`` (a call that never
returns) is counted in ``tetragon_generic_kprobe_merge_errors_total``; the waiting entry is still
sent, without its return, so that no event is lost.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from tetragon_core.metrics import Metric, Registry
from tetragon_core.process.hooks import HookMessage
from tetragon_core.sensors.hookdecode import Header

MAX_PENDING = 8192
MAX_WAIT_NS = 60_000_000_000

Key = tuple[int, int, int]


def merge_families(reg: Registry) -> tuple[Metric, Metric, Metric]:
    """Tetragon's merge counters (errors, ok, pushed), shared by every sensor that merges; the
    core registers them at start, before any such sensor loads."""
    return (
        reg.counter(
            "tetragon_generic_kprobe_merge_errors_total",
            "The total number of failed attempts to merge a kprobe and kretprobe event.",
            ("curr_fn", "curr_type", "prev_fn", "prev_type"),
        ),
        reg.counter(
            "tetragon_generic_kprobe_merge_ok_total",
            "The total number of successful attempts to merge a kprobe and kretprobe event.",
        ),
        reg.counter(
            "tetragon_generic_kprobe_merge_pushed_total", "The total number of pushed events for later merge."
        ),
    )


class ReturnMerger:
    """The waiting entries of one sensor; ``function`` names a waiting entry's hook (metrics)."""

    def __init__(self, registry: Registry | None, function: Callable[[HookMessage], str]) -> None:
        self._pending: OrderedDict[Key, tuple[int, HookMessage]] = OrderedDict()
        self._function = function
        self._errors, self._ok, self._pushed = merge_families(registry or Registry())

    def __len__(self) -> int:
        return len(self._pending)

    def push(self, h: Header, msg: HookMessage) -> None:
        """Keep an entry until its return arrives."""
        self._pending[(h.tid, h.func_id, h.retprobe_id)] = (h.ktime, msg)
        self._pushed.inc()

    def pop(self, h: Header, function: str) -> HookMessage | None:
        """The entry of return ``h``, or None (counted) when it is not waiting."""
        got = self._pending.pop((h.tid, h.func_id, h.retprobe_id), None)
        if got is None:
            self._errors.inc(function, "exit", "", "")
            return None
        return got[1]

    def merged(self) -> None:
        """Count one entry merged with its return."""
        self._ok.inc()

    def expire(self, now: int) -> list[HookMessage]:
        """Entries pushed out by newer ones or waiting too long: sent without their return."""
        out: list[HookMessage] = []
        while self._pending:
            key, (ktime, msg) = next(iter(self._pending.items()))
            if len(self._pending) < MAX_PENDING and now - ktime < MAX_WAIT_NS:
                break
            del self._pending[key]
            self._errors.inc("", "exit", self._function(msg), "enter")
            out.append(msg)
        return out
