"""The cgroup rate tracker against an in-memory cgroup_rate_map: START once per cgroup, STOP when
every CPU is calm, the minute's sweep, and --cgroup-rate's parsing."""

from __future__ import annotations

import pytest

from tetragon_core.cgrouprate import (
    ALIVE_NS,
    CLEANUP_INACTIVE_NS,
    KEY,
    VALUE,
    CgroupRate,
    ThrottleMessage,
    parse_cgroup_rate,
)
from tetragon_core.exceptions import ConfigError, MapKeyNotFound
from tetragon_core.metrics import Registry

S = 1_000_000_000


class FakeRateMap:
    """cgroup_rate_map with two CPUs."""

    def __init__(self) -> None:
        self.values: dict[bytes, list[bytes]] = {}

    def set(self, cgid: int, *cpus: tuple[int, int, int, int, int]) -> None:
        self.values[KEY.pack(cgid)] = [VALUE.pack(*c) for c in cpus]

    def lookup_percpu(self, key: bytes) -> list[bytes]:
        if key not in self.values:
            raise MapKeyNotFound("no such key", 2)
        return self.values[key]

    def update_percpu(self, key: bytes, values: list[bytes]) -> None:
        self.values[key] = values

    def delete(self, key: bytes) -> None:
        del self.values[key]

    def keys(self) -> list[bytes]:
        return list(self.values)


def tracker(m: FakeRateMap, now: list[int]) -> tuple[CgroupRate, Registry]:
    reg = Registry()
    return CgroupRate(m, 100, "node1", lambda k: f"t{k}", reg, now_ns=lambda: now[0]), reg


def test_start_once_then_stop_when_every_cpu_is_calm() -> None:
    m = FakeRateMap()
    now = [100 * S]
    cr, reg = tracker(m, now)
    # CPU 0 throttled at 100 s with a high rate; CPU 1 quiet since long ago
    m.set(7, (150, 90, 100 * S, 190, 100 * S), (3, 0, 10 * S, 3, 0))
    ev = cr.check(ThrottleMessage(ktime=100 * S, cgrpid=7, name="burst.scope"))
    assert ev is not None and ev.process_throttle is not None
    assert (ev.process_throttle.type, ev.process_throttle.cgroup) == ("THROTTLE_START", "burst.scope")
    assert (ev.node_name, ev.time) == ("node1", f"t{100 * S}")
    # a second CPU's record of the same cgroup starts nothing more
    assert cr.check(ThrottleMessage(ktime=100 * S + 1, cgrpid=7, name="burst.scope")) is None
    now[0] = 102 * S
    assert cr.tick() == []  # CPU 0 active and throttled 2 s ago
    # rate fell below the limit, but throttled only 4 s ago
    m.set(7, (10, 150, 103 * S, 40, 100 * S), (3, 0, 10 * S, 3, 0))
    now[0] = 104 * S
    assert cr.tick() == []
    now[0] = 100 * S + ALIVE_NS + 1
    (stop,) = cr.tick()
    assert stop.process_throttle is not None
    assert (stop.process_throttle.type, stop.process_throttle.cgroup) == ("THROTTLE_STOP", "burst.scope")
    assert stop.time == f"t{now[0]}"
    # the marks are cleared in the kernel's map, the counts kept
    assert [VALUE.unpack(v)[4] for v in m.values[KEY.pack(7)]] == [0, 0]
    assert [VALUE.unpack(v)[0] for v in m.values[KEY.pack(7)]] == [10, 3]
    assert cr.throttled == {}
    total = reg["tetragon_cgroup_rate_total"]
    assert (total.get("throttle_start"), total.get("throttle_stop"), total.get("check")) == (1, 1, 2)
    # throttled again later: a new START
    assert cr.check(ThrottleMessage(ktime=200 * S, cgrpid=7, name="burst.scope")) is not None


def test_a_removed_cgroup_is_forgotten_without_a_stop() -> None:
    m = FakeRateMap()
    now = [50 * S]
    cr, reg = tracker(m, now)
    m.set(9, (200, 0, 50 * S, 200, 50 * S), (0, 0, 0, 0, 0))
    assert cr.check(ThrottleMessage(ktime=50 * S, cgrpid=9, name="gone")) is not None
    m.delete(KEY.pack(9))  # cgroup_rmdir deleted it in the kernel
    assert cr.tick() == [] and cr.throttled == {}
    assert reg["tetragon_cgroup_rate_total"].get("lookup_fail") == 1


def test_the_sweep_deletes_entries_idle_on_every_cpu() -> None:
    m = FakeRateMap()
    now = [1000 * S]
    cr, reg = tracker(m, now)
    m.set(1, (1, 0, 1000 * S - CLEANUP_INACTIVE_NS, 1, 0), (1, 0, 1000 * S - CLEANUP_INACTIVE_NS - S, 1, 0))
    m.set(2, (1, 0, 1000 * S - CLEANUP_INACTIVE_NS, 1, 0), (1, 0, 999 * S, 1, 0))  # one CPU recent
    cr.cleanup(now[0])
    assert list(m.values) == [KEY.pack(2)]
    assert reg["tetragon_cgroup_rate_total"].get("delete") == 1


def test_parse() -> None:
    assert parse_cgroup_rate("") is None
    assert parse_cgroup_rate("1000,1s") == (1000, S)
    assert parse_cgroup_rate(" 10 , 500ms") == (10, S // 2)
    for bad, why in (
        ("1000", "is not <events>,<interval>"),
        ("x,1s", "events 'x' is not a whole number"),
        ("10,soon", "interval 'soon'"),
        ("0,1s", "must both be above zero"),
        ("10,0", "must both be above zero"),
    ):
        with pytest.raises(ConfigError, match="--cgroup-rate") as e:
            parse_cgroup_rate(bad)
        assert why in str(e.value), (bad, e.value)
