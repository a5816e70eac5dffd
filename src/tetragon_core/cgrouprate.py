"""``--cgroup-rate N,INTERVAL``: the base sensor's per-cgroup event rate, as Tetragon throttles it.

The exec sensor's programs count exec and clone events per cgroup in the kernel (``cgroup_rate``
in ``bpf/lib/rate.h``, upstream's two-window estimate, per CPU). When a cgroup's estimate reaches
N events per INTERVAL on a CPU, the kernel marks it throttled there, drops its exec and clone
events from then on (counted in ``tetragon_cgroup_rate_events_dropped_total``) and sends one
throttle record. This module turns those records into ``ProcessThrottle{THROTTLE_START}``, and
once a second checks every throttled cgroup: when each CPU has been quiet for 5 s, or is under
the rate and was throttled more than 5 s ago, it clears the mark and emits ``THROTTLE_STOP``.
Exit events are never throttled (upstream stopped throttling them: a dropped exit leaves its
process in the cache for good). ``cgroup_rmdir`` deletes a removed cgroup's entry in the kernel;
entries idle for a minute are swept from here.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

import anyio.to_thread

from tetragon_core.config.values import parse_go_duration
from tetragon_core.events import GetEventsResponse
from tetragon_core.events_tracing import ProcessThrottle
from tetragon_core.exceptions import BpfMapError, ConfigError, SensorError
from tetragon_core.metrics import Registry
from tetragon_core.process.messages import ThrottleMessage

__all__ = [
    "MAX_ENTRIES",
    "CgroupRate",
    "RateMap",
    "ThrottleMessage",
    "parse_cgroup_rate",
]

log = logging.getLogger(__name__)

#: cgroup_rate_map's size while the rate is on (1 while off, as upstream)
MAX_ENTRIES: Final = 32768
ALIVE_NS: Final = 5_000_000_000
CLEANUP_INTERVAL_S: Final = 60.0
CLEANUP_INACTIVE_NS: Final = 60_000_000_000

# struct cgroup_rate_value: curr, prev, time, rate, throttled
VALUE: Final = struct.Struct("<QQQQQ")
KEY: Final = struct.Struct("<Q")


class RateMap(Protocol):
    """What the tracker needs of ``cgroup_rate_map`` (a per-CPU hash)."""

    def lookup_percpu(self, key: bytes) -> list[bytes]: ...
    def update_percpu(self, key: bytes, values: list[bytes]) -> None: ...
    def delete(self, key: bytes) -> None: ...
    def keys(self) -> Iterable[bytes]: ...


def parse_cgroup_rate(text: str) -> tuple[int, int] | None:
    """``events,interval`` (``1000,1s``) → (events, interval in ns); "" → None (off).

    Upstream logs a warning and runs unthrottled on a malformed value; a security agent must not
    run without the limit its operator set, so this refuses it, naming the flag."""
    if not text.strip():
        return None
    parts = text.split(",")
    if len(parts) != 2:
        raise ConfigError(f"--cgroup-rate: {text!r} is not <events>,<interval> (e.g. 1000,1s)")
    try:
        events = int(parts[0].strip())
    except ValueError:
        raise ConfigError(f"--cgroup-rate: events {parts[0]!r} is not a whole number") from None
    try:
        interval = round(parse_go_duration(parts[1]) * 1e9)
    except ValueError as e:
        raise ConfigError(f"--cgroup-rate: interval {parts[1]!r}: {e}") from None
    if events <= 0 or interval <= 0:
        raise ConfigError(f"--cgroup-rate: {text!r}: events and interval must both be above zero")
    return events, interval


class CgroupRate:
    """Throttle records in, ProcessThrottle events out; ``tick`` decides the stops."""

    def __init__(
        self,
        rate_map: RateMap,
        events: int,
        node_name: str,
        clock: Callable[[int], str],
        registry: Registry,
        now_ns: Callable[[], int] = lambda: time.clock_gettime_ns(time.CLOCK_MONOTONIC),
    ) -> None:
        self._map = rate_map
        self._events = events
        self._node = node_name
        self._clock = clock
        self._now = now_ns
        #: throttled cgroups: id → name
        self.throttled: dict[int, str] = {}
        self._total = registry.counter(
            "tetragon_cgroup_rate_total",
            "The total number of Tetragon cgroup rate counters. For internal use only.",
            ("type",),
        )

    @classmethod
    def for_maps(
        cls,
        shared: Any,
        rate: tuple[int, int],
        node_name: str,
        clock: Callable[[int], str],
        registry: Registry,
    ) -> CgroupRate:
        """The tracker of the exec sensor's ``cgroup_rate_map`` (in the core's shared maps)."""
        rate_map = shared.get("cgroup_rate_map")
        if rate_map is None:
            raise SensorError("--cgroup-rate: the exec sensor did not load its cgroup_rate_map")
        events, interval = rate
        log.info("cgroup rate on: %d events per %g s per cgroup and CPU", events, interval / 1e9)
        return cls(rate_map, events, node_name, clock, registry)

    def _event(self, kind: str, name: str, ktime: int) -> GetEventsResponse:
        return GetEventsResponse(
            process_throttle=ProcessThrottle(type=kind, cgroup=name),
            node_name=self._node,
            time=self._clock(ktime),
        )

    def check(self, msg: ThrottleMessage) -> GetEventsResponse | None:
        """A throttle record: THROTTLE_START the first time this cgroup is seen throttled (each
        CPU that throttles it sends one record)."""
        self._total.inc("check")
        if msg.cgrpid in self.throttled:
            return None  # already started; the next tick looks at it
        self.throttled[msg.cgrpid] = msg.name
        self._total.inc("throttle_start")
        return self._event("THROTTLE_START", msg.name, msg.ktime)

    def tick(self) -> list[GetEventsResponse]:
        """Once a second: THROTTLE_STOP for each cgroup calm on every CPU. (The minute's
        :meth:`cleanup` walks the whole map; the caller runs it off the event loop.)"""
        now = self._now()
        out: list[GetEventsResponse] = []
        for cgid, name in list(self.throttled.items()):
            self._total.inc("process")
            stop = self._stop(cgid, now)
            if stop is None:  # the cgroup is gone (rmdir): nothing more to say of it
                del self.throttled[cgid]
            elif stop:
                del self.throttled[cgid]
                self._total.inc("throttle_stop")
                out.append(self._event("THROTTLE_STOP", name, now))
        return out

    def _stop(self, cgid: int, now: int) -> bool | None:
        key = KEY.pack(cgid)
        try:
            values = [VALUE.unpack(v[: VALUE.size]) for v in self._map.lookup_percpu(key)]
        except (BpfMapError, KeyError):
            self._total.inc("lookup_fail")
            return None
        for _curr, _prev, window, rate, throttled in values:
            if now > window + ALIVE_NS:
                continue  # this CPU has been quiet long enough
            if rate < self._events and now > throttled + ALIVE_NS:
                continue  # under the rate, and throttled long enough ago
            return False
        # Upstream races the kernel here the same way: a CPU that counts between the read and
        # this write keeps its count and loses only the mark.
        cleared = [VALUE.pack(c, p, w, r, 0) for c, p, w, r, _ in values]
        try:
            self._map.update_percpu(key, cleared)
        except BpfMapError:
            # still throttled in the kernel: no STOP yet, the next tick tries again
            self._total.inc("update_fail")
            return False
        return True

    def now(self) -> int:
        """The kernel's monotonic clock (ns), which the map's window times use."""
        return self._now()

    def cleanup(self, now: int) -> None:
        """Delete entries idle on every CPU for a minute (cgroups that went quiet, or whose rmdir
        the kernel missed)."""
        for key in list(self._map.keys()):
            try:
                values = [VALUE.unpack(v[: VALUE.size]) for v in self._map.lookup_percpu(key)]
            except (BpfMapError, KeyError):
                continue
            if all(w + CLEANUP_INACTIVE_NS <= now for _c, _p, w, _r, _t in values):
                try:
                    self._map.delete(key)
                    self._total.inc("delete")
                except (BpfMapError, KeyError):
                    self._total.inc("delete_fail")

    async def run(self, submit: Callable[[list[GetEventsResponse]], None]) -> None:
        """The tracker's task: :meth:`tick` every second (its STOPs go to ``submit``), and the
        minute's :meth:`cleanup` in a worker thread, until cancelled."""
        last_cleanup = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            events = self.tick()
            if events:
                submit(events)
            if time.monotonic() - last_cleanup >= CLEANUP_INTERVAL_S:
                last_cleanup = time.monotonic()
                await anyio.to_thread.run_sync(self.cleanup, self.now())
