"""``--export-rate-limit``: token bucket, counted drops, one rate_limit_info report a minute."""

from __future__ import annotations

import pytest

from tetragon_core import events as ev
from tetragon_core.fieldfilters import DROPPED_METRIC, ExportRateLimiter
from tetragon_core.metrics import Registry

WALL_NS = 1_713_061_094_376_304_204


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


def make(per_minute: int) -> tuple[ExportRateLimiter, FakeClock, Registry]:
    clock = FakeClock()
    reg = Registry()
    rl = ExportRateLimiter(
        per_minute,
        reg,
        node_name="node-1",
        clock=clock,
        wall_clock_ns=lambda: WALL_NS,
        time_format=lambda ns: f"T{ns}",
    )
    return rl, clock, reg


def allowed(rl: ExportRateLimiter, n: int) -> int:
    return sum(rl.allow() for _ in range(n))


def test_burst_then_drop() -> None:
    rl, _, reg = make(5)
    assert allowed(rl, 5) == 5
    assert not rl.allow()
    assert not rl.allow()
    assert reg[DROPPED_METRIC].get() == 2
    assert rl.pending_drops == 2


def test_refill_is_n_per_minute_up_to_the_burst() -> None:
    rl, clock, _ = make(60)  # one token a second
    assert allowed(rl, 100) == 60
    clock.advance(1)
    assert allowed(rl, 5) == 1
    clock.advance(10.5)
    assert allowed(rl, 20) == 10
    clock.advance(0.5)
    assert allowed(rl, 20) == 1
    clock.advance(3600)  # a long pause refills to the burst, no more
    assert allowed(rl, 100) == 60


def test_slow_rate_refills_fractionally() -> None:
    rl, clock, _ = make(2)  # one token every 30 s
    assert allowed(rl, 3) == 2
    clock.advance(29)
    assert not rl.allow()
    clock.advance(1)
    assert rl.allow()
    assert not rl.allow()


def test_one_report_per_minute_with_the_count() -> None:
    rl, clock, reg = make(1)
    assert rl.allow()
    assert allowed(rl, 7) == 0
    assert rl.report() is None  # not a minute yet
    clock.advance(59.9)
    assert rl.report() is None
    clock.advance(0.1)
    report = rl.report()
    assert report == ev.GetEventsResponse(
        rate_limit_info=ev.RateLimitInfo(number_of_dropped_process_events="7"),
        node_name="node-1",
        time=f"T{WALL_NS}",
    )
    assert ev.encode_json(report).startswith(b'{"rate_limit_info":{"number_of_dropped_process_events":"7"}')
    assert rl.pending_drops == 0
    assert reg[DROPPED_METRIC].get() == 7  # the metric is cumulative

    # More drops right away: reported only a minute after the previous report.
    assert allowed(rl, 3) == 1  # one token refilled over the last minute
    clock.advance(30)
    assert rl.report() is None
    clock.advance(30)
    r2 = rl.report()
    assert r2 is not None and r2.rate_limit_info is not None
    assert r2.rate_limit_info.number_of_dropped_process_events == "2"
    assert reg[DROPPED_METRIC].get() == 9


def test_no_report_without_drops_and_the_minute_still_restarts() -> None:
    rl, clock, _ = make(10)
    clock.advance(60)
    assert rl.report() is None  # nothing dropped: nothing written
    assert allowed(rl, 11) == 10
    clock.advance(59)
    assert rl.report() is None  # the minute started at the previous check
    clock.advance(1)
    r = rl.report()
    assert r is not None and r.rate_limit_info == ev.RateLimitInfo(number_of_dropped_process_events="1")


def test_report_takes_an_explicit_now() -> None:
    rl, clock, _ = make(0)
    rl.allow()
    assert rl.report(clock.t + 59) is None
    r = rl.report(clock.t + 60)
    assert r is not None and r.rate_limit_info is not None
    assert r.rate_limit_info.number_of_dropped_process_events == "1"
    assert rl.report(clock.t + 119) is None


def test_zero_exports_nothing_but_reports() -> None:
    rl, clock, reg = make(0)
    assert rl.enabled
    assert allowed(rl, 4) == 0
    clock.advance(3600)
    assert allowed(rl, 1) == 0  # no refill either
    assert reg[DROPPED_METRIC].get() == 5
    r = rl.report()
    assert r is not None and r.rate_limit_info is not None
    assert r.rate_limit_info.number_of_dropped_process_events == "5"


@pytest.mark.parametrize("per_minute", [-1, -5])
def test_negative_is_off(per_minute: int) -> None:
    rl, clock, reg = make(per_minute)
    assert not rl.enabled
    assert allowed(rl, 10_000) == 10_000
    clock.advance(600)
    assert rl.report() is None
    assert reg[DROPPED_METRIC].get() == 0
    assert DROPPED_METRIC in reg.exposition()  # registered (at 0) all the same, as upstream


def test_default_time_format_is_protojson() -> None:
    reg = Registry()
    clock = FakeClock()
    rl = ExportRateLimiter(0, reg, node_name="n", clock=clock, wall_clock_ns=lambda: WALL_NS)
    rl.allow()
    clock.advance(60)
    r = rl.report()
    assert r is not None and r.time == "2024-04-14T02:18:14.376304204Z"


def test_bad_interval() -> None:
    with pytest.raises(ValueError, match="interval"):
        ExportRateLimiter(1, Registry(), interval=0)
