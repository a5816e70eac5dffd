"""ProcessCache: LRU bound, eviction accounting, refcounts and the two-tick GC."""

from __future__ import annotations

from tetragon_core.events import Process
from tetragon_core.metrics import Registry
from tetragon_core.process.cache import (
    DELETE_PENDING,
    DELETE_READY,
    DELETED,
    IN_USE,
    PARENT_DEC,
    PARENT_INC,
    PROCESS_DEC,
    ProcessCache,
    ProcessEntry,
)


def entry(name: str, parent: str = "", pid: int = 1, *, pinned: bool = False) -> ProcessEntry:
    return ProcessEntry(Process(exec_id=name, parent_exec_id=parent, pid=pid), pinned=pinned)


def make(size: int) -> tuple[ProcessCache, Registry]:
    reg = Registry()
    return ProcessCache(size, reg), reg


def test_size_bound_and_eviction_count() -> None:
    cache, reg = make(10)
    for i in range(25):
        cache.add(entry(f"p{i}", pid=i))
    assert len(cache) == 10
    assert reg["tetragon_process_cache_evictions_total"].get() == 15
    # Evicted entries still held their own reference: the cache was too small for them.
    assert reg["tetragon_process_cache_capacity_evictions_total"].get() == 15
    assert reg["tetragon_process_cache_size"].get() == 10
    assert reg["tetragon_process_cache_capacity"].get() == 10
    assert [d.process.exec_id for d in cache.dump()] == [f"p{i}" for i in range(15, 25)]


def test_get_refreshes_lru_order() -> None:
    cache, _ = make(3)
    for name in ("a", "b", "c"):
        cache.add(entry(name))
    assert cache.get("a") is not None
    cache.add(entry("d"))
    assert "a" in cache
    assert "b" not in cache
    # peek does not refresh.
    assert cache.peek("c") is not None
    cache.add(entry("e"))
    assert "c" not in cache


def test_misses_are_counted() -> None:
    cache, reg = make(3)
    assert cache.get("nope") is None
    assert cache.peek("nope") is None
    assert reg["tetragon_process_cache_misses_total"].get("get") == 1


def test_pinned_entry_survives_eviction() -> None:
    cache, _ = make(2)
    cache.add(entry("kernel", pinned=True))
    for i in range(5):
        cache.add(entry(f"p{i}"))
    assert "kernel" in cache
    assert len(cache) == 2


def test_eviction_drops_parent_reference_once() -> None:
    cache, _ = make(2)
    parent = entry("parent")
    cache.add(parent)
    child = entry("child", parent="parent")
    cache.ref_inc(parent, PARENT_INC)
    child.holds_parent_ref = True
    cache.add(child)
    assert parent.refcnt == 2
    # The exit path drops the child's parent reference...
    cache.release_parent(child)
    assert parent.refcnt == 1
    assert not child.holds_parent_ref
    # ...so evicting the child later must not drop it again.
    cache.get("parent")
    cache.add(entry("other"))
    assert "child" not in cache
    assert parent.refcnt == 1

    # A child still holding its reference releases it when evicted.
    child2 = entry("child2", parent="parent")
    cache.get("parent")
    cache.ref_inc(parent, PARENT_INC)
    child2.holds_parent_ref = True
    cache.add(child2)
    cache.get("parent")
    cache.add(entry("other2"))
    assert "child2" not in cache
    assert parent.refcnt == 1
    assert parent.refcnt_ops == {"process++": 1, PARENT_INC: 2, PARENT_DEC: 2}


def test_gc_removes_after_two_ticks() -> None:
    cache, _ = make(10)
    e = entry("p")
    cache.add(e)
    cache.ref_dec(e, PROCESS_DEC)
    assert e.refcnt == 0
    assert e.color == DELETE_PENDING
    assert cache.gc_tick() == 0
    assert e.color == DELETE_READY
    assert "p" in cache
    assert cache.gc_tick() == 1
    assert e.color == DELETED
    assert "p" not in cache
    assert cache.pending_gc() == 0


def test_gc_resurrection_returns_entry_to_in_use() -> None:
    cache, _ = make(10)
    e = entry("p")
    cache.add(e)
    cache.ref_dec(e, PROCESS_DEC)
    cache.gc_tick()
    assert e.color == DELETE_READY
    cache.ref_inc(e, PARENT_INC)
    assert cache.gc_tick() == 0
    assert e.color == IN_USE
    assert "p" in cache
    assert cache.pending_gc() == 0
    # Dropping to zero again queues it again, for two more ticks.
    cache.ref_dec(e, PARENT_DEC)
    assert e.color == DELETE_PENDING
    cache.gc_tick()
    assert "p" in cache
    cache.gc_tick()
    assert "p" not in cache


def test_gc_repeat_zero_restarts_grace_period() -> None:
    cache, _ = make(10)
    e = entry("p")
    cache.add(e)
    cache.ref_dec(e, PROCESS_DEC)
    cache.gc_tick()
    assert e.color == DELETE_READY
    # A late decrement at zero keeps it for another full pass, not queued twice.
    cache.ref_dec(e, PARENT_DEC)
    assert e.refcnt == 0
    assert e.color == DELETE_PENDING
    assert cache.pending_gc() == 1
    cache.gc_tick()
    assert "p" in cache
    cache.gc_tick()
    assert "p" not in cache


def test_gc_of_evicted_entry_counts_remove_miss() -> None:
    cache, reg = make(1)
    e = entry("p")
    cache.add(e)
    cache.ref_dec(e, PROCESS_DEC)
    cache.add(entry("q"))  # evicts p
    cache.gc_tick()
    cache.gc_tick()
    assert reg["tetragon_process_cache_misses_total"].get("remove") == 1
    # An entry at refcnt 0 is garbage, not a capacity problem.
    assert reg["tetragon_process_cache_capacity_evictions_total"].get() == 0


def test_early_deletion_metric() -> None:
    cache, reg = make(10)
    e = entry("p")
    cache.add(e)
    e.color = DELETED
    cache.ref_dec(e, PROCESS_DEC)
    assert reg["tetragon_process_cache_early_deletions_total"].get() == 1


def test_dump_rows() -> None:
    cache, _ = make(10)
    a = entry("a")
    cache.add(a)
    cache.ref_inc(a, PARENT_INC)
    b = entry("b")
    cache.add(b)
    cache.ref_dec(b, PROCESS_DEC)
    rows = cache.dump()
    assert [(r.process.exec_id, r.refcnt, r.refcnt_ops, r.color) for r in rows] == [
        ("a", 2, {"process++": 1, "parent++": 1}, "inUse"),
        ("b", 0, {"process++": 1, "process--": 1}, "deletePending"),
    ]
    rows[0].refcnt_ops["x"] = 1
    assert "x" not in a.refcnt_ops
    assert [r.process.exec_id for r in cache.dump(skip_zero_refcnt=True)] == ["a"]


def test_refcnt_never_negative() -> None:
    cache, _ = make(10)
    e = entry("p")
    cache.add(e)
    cache.ref_dec(e, PROCESS_DEC)
    cache.ref_dec(e, PROCESS_DEC)
    assert e.refcnt == 0
    assert e.refcnt_ops[PROCESS_DEC] == 2
