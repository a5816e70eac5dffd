"""The process cache: an LRU of process images keyed by exec id, with refcount-driven GC.

Each entry holds the ``events.Process`` Struct built once when the image was seen (exec, clone or
the procfs scan); events reference that Struct directly, so it must be treated as read-only.

Refcounts follow upstream: an image holds one reference on itself (``process++``, dropped at exit
or when a later exec replaces it) and one per child image that named it as parent (``parent++``).
When the count reaches 0 the entry is queued for GC; :meth:`ProcessCache.gc_tick`, called every
``--process-cache-gc-interval``, marks it ``deleteReady`` and removes it on the following tick,
unless its count went up again in between (then it is ``inUse`` again).

Not thread-safe: the manager drives it from one thread (or one event loop).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, NamedTuple

from tetragon_core.events import Process
from tetragon_core.metrics import Registry

__all__ = [
    "ANCESTOR_DEC",
    "ANCESTOR_INC",
    "COLOR_NAMES",
    "DELETED",
    "DELETE_PENDING",
    "DELETE_READY",
    "IN_USE",
    "PARENT_DEC",
    "PARENT_INC",
    "PROCESS_DEC",
    "PROCESS_INC",
    "CacheDumpEntry",
    "ProcessCache",
    "ProcessEntry",
]

# GC colors.
IN_USE: Final = 0
DELETE_PENDING: Final = 1
DELETE_READY: Final = 2
DELETED: Final = 3
COLOR_NAMES: Final[tuple[str, ...]] = ("inUse", "deletePending", "deleteReady", "deleted")

# refcnt_ops keys, as `tetra debug processcache` shows them.
PROCESS_INC: Final = "process++"
PROCESS_DEC: Final = "process--"
PARENT_INC: Final = "parent++"
PARENT_DEC: Final = "parent--"
ANCESTOR_INC: Final = "ancestor++"
ANCESTOR_DEC: Final = "ancestor--"


class ProcessEntry:
    """One cached process image.

    ``holds_parent_ref`` is True while this image holds a ``parent++`` on its parent entry; it is
    dropped exactly once (exit, replacement by a later exec, or LRU eviction), which is what keeps
    the parent's count from being decremented twice or without a matching increment.
    """

    __slots__ = (
        "color",
        "exec_id",
        "holds_parent_ref",
        "parent_exec_id",
        "pinned",
        "process",
        "refcnt",
        "refcnt_ops",
    )

    def __init__(self, process: Process, *, pinned: bool = False) -> None:
        """A new entry for ``process`` with refcnt 1 (``process++``)."""
        self.process = process
        self.exec_id = process.exec_id
        self.parent_exec_id = process.parent_exec_id
        self.refcnt = 1
        self.refcnt_ops: dict[str, int] = {PROCESS_INC: 1}
        self.color = IN_USE
        self.holds_parent_ref = False
        self.pinned = pinned

    def __repr__(self) -> str:
        return (
            f"ProcessEntry({self.exec_id!r}, pid={self.process.pid}, refcnt={self.refcnt}, "
            f"color={COLOR_NAMES[self.color]})"
        )


class CacheDumpEntry(NamedTuple):
    """One row of :meth:`ProcessCache.dump` (what ``tetra debug processcache`` lists)."""

    process: Process
    refcnt: int
    refcnt_ops: dict[str, int]
    color: str


class ProcessCache:
    """LRU of :class:`ProcessEntry` keyed by exec id, bounded by ``size`` (``--process-cache-size``)."""

    def __init__(self, size: int = 65536, registry: Registry | None = None) -> None:
        """Create an empty cache holding at most ``size`` entries; metrics go to ``registry``."""
        if size < 1:
            raise ValueError(f"process cache size must be positive, got {size}")
        self._size = size
        self._entries: OrderedDict[str, ProcessEntry] = OrderedDict()
        self._delete_queue: list[ProcessEntry] = []
        reg = registry if registry is not None else Registry()
        reg.gauge(
            "tetragon_process_cache_size",
            "The size of the process cache",
            collect=lambda: {(): float(len(self._entries))},
        )
        reg.gauge(
            "tetragon_process_cache_capacity",
            "The capacity of the process cache. Expected to be constant.",
            collect=lambda: {(): float(self._size)},
        )
        self._evictions = reg.counter(
            "tetragon_process_cache_evictions_total", "Number of process cache LRU evictions."
        )
        self._capacity_evictions = reg.counter(
            "tetragon_process_cache_capacity_evictions_total",
            "Number of process cache LRU evictions of entries still referenced (cache too small).",
        )
        self._misses = reg.counter(
            "tetragon_process_cache_misses_total", "Number of process cache misses.", ("operation",)
        )
        self._early_deletions = reg.counter(
            "tetragon_process_cache_early_deletions_total",
            "Number of times the GC attempted to delete a process already marked as deleted. "
            "May indicate the GC is deleting processes too early.",
        )

    @property
    def size(self) -> int:
        """The capacity (``--process-cache-size``)."""
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, exec_id: object) -> bool:
        return exec_id in self._entries

    def add(self, entry: ProcessEntry) -> None:
        """Insert (or replace) an entry as most recently used, evicting the LRU one if full."""
        entries = self._entries
        eid = entry.exec_id
        if eid in entries:
            entries.move_to_end(eid)
        entries[eid] = entry
        if len(entries) > self._size:
            self._evict_one()

    def get(self, exec_id: str) -> ProcessEntry | None:
        """The entry for ``exec_id`` (marked most recently used), or None (counted as a miss)."""
        entries = self._entries
        entry = entries.get(exec_id)
        if entry is None:
            self._misses.inc("get")
            return None
        entries.move_to_end(exec_id)
        return entry

    def peek(self, exec_id: str) -> ProcessEntry | None:
        """The entry for ``exec_id`` without touching LRU order or metrics."""
        return self._entries.get(exec_id)

    def ref_inc(self, entry: ProcessEntry, op: str) -> None:
        """Take a reference on ``entry``; ``op`` ("parent++"...) is tallied in its refcnt_ops."""
        ops = entry.refcnt_ops
        ops[op] = ops.get(op, 0) + 1
        entry.refcnt += 1

    def ref_dec(self, entry: ProcessEntry, op: str) -> None:
        """Drop a reference on ``entry``; at 0 it is queued for GC."""
        ops = entry.refcnt_ops
        ops[op] = ops.get(op, 0) + 1
        if entry.refcnt > 0:
            entry.refcnt -= 1
        if entry.refcnt == 0:
            self._delete_pending(entry)

    def release_parent(self, entry: ProcessEntry) -> None:
        """Drop the ``parent++`` that ``entry`` holds on its parent, if it still holds one."""
        if not entry.holds_parent_ref:
            return
        entry.holds_parent_ref = False
        parent = self._entries.get(entry.parent_exec_id)
        if parent is not None and parent is not entry:
            self.ref_dec(parent, PARENT_DEC)

    def _delete_pending(self, entry: ProcessEntry) -> None:
        color = entry.color
        if color == DELETED:
            self._early_deletions.inc()
            return
        if color != IN_USE:
            # Already queued: restart its grace period.
            entry.color = DELETE_PENDING
            return
        entry.color = DELETE_PENDING
        self._delete_queue.append(entry)

    def gc_tick(self) -> int:
        """Advance the GC by one interval; returns how many entries were removed.

        ``deletePending`` entries become ``deleteReady``; ``deleteReady`` ones are removed. Entries
        whose refcnt went back up are returned to ``inUse`` and leave the queue.
        """
        removed = 0
        keep: list[ProcessEntry] = []
        for entry in self._delete_queue:
            if entry.refcnt != 0:
                entry.color = IN_USE
                continue
            if entry.color == DELETE_READY:
                entry.color = DELETED
                if self._remove(entry):
                    removed += 1
            else:
                entry.color = DELETE_READY
                keep.append(entry)
        self._delete_queue = keep
        return removed

    def _remove(self, entry: ProcessEntry) -> bool:
        if self._entries.get(entry.exec_id) is entry:
            del self._entries[entry.exec_id]
            return True
        self._misses.inc("remove")
        return False

    def _evict_one(self) -> None:
        entries = self._entries
        # Pinned entries (the <kernel> root) are skipped by moving them to the MRU end; the loop is
        # bounded in case every entry is pinned.
        for _ in range(len(entries)):
            eid, victim = entries.popitem(last=False)
            if not victim.pinned:
                break
            entries[eid] = victim
        else:
            return
        self._evictions.inc()
        if victim.refcnt > 0:
            self._capacity_evictions.inc()
        # The evicted image can no longer be found at its exit, so its parent++ is dropped now.
        if victim.holds_parent_ref:
            victim.holds_parent_ref = False
            parent = entries.get(victim.parent_exec_id)
            if parent is not None:
                self.ref_dec(parent, PARENT_DEC)

    def pending_gc(self) -> int:
        """How many entries are queued for GC (deletePending or deleteReady)."""
        return len(self._delete_queue)

    def dump(self, *, skip_zero_refcnt: bool = False) -> list[CacheDumpEntry]:
        """Every entry as (Process, refcnt, refcnt_ops copy, color name), LRU first."""
        return [
            CacheDumpEntry(e.process, e.refcnt, dict(e.refcnt_ops), COLOR_NAMES[e.color])
            for e in self._entries.values()
            if not (skip_zero_refcnt and e.refcnt == 0)
        ]

    def clear(self) -> None:
        """Drop every entry and the GC queue."""
        self._entries.clear()
        self._delete_queue.clear()
