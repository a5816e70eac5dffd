"""``timefmt``: protojson Timestamp strings, their parser, and the BPF ktime clock."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from tetragon_core.export.timefmt import (
    KtimeClock,
    parse_rfc3339,
    rfc3339_nanos,
    rfc3339_nanos_fixed,
)

NS = 1_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def reference(unix_ns: int) -> str:
    """An independent formatter: datetime for the date, string rules for the fraction."""
    seconds, nanos = divmod(unix_ns, NS)
    d = EPOCH + timedelta(seconds=seconds)
    digits = f"{nanos:09d}".rstrip("0")
    if not digits:
        frac = ""
    else:
        width = 3 if len(digits) <= 3 else 6 if len(digits) <= 6 else 9
        frac = "." + digits.ljust(width, "0")
    return f"{d.year:04d}-{d:%m-%dT%H:%M:%S}{frac}Z"


def protobuf(unix_ns: int) -> str:
    ts = Timestamp()
    ts.FromNanoseconds(unix_ns)
    return str(ts.ToJsonString())


@pytest.mark.parametrize(
    ("unix_ns", "expected"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1 * NS, "1970-01-01T00:00:01Z"),
        (1_500_000_000, "1970-01-01T00:00:01.500Z"),
        (100_000_000, "1970-01-01T00:00:00.100Z"),
        (1_000_000, "1970-01-01T00:00:00.001Z"),
        (1_000, "1970-01-01T00:00:00.000001Z"),
        (1_000_001_000, "1970-01-01T00:00:01.000001Z"),
        (120_000, "1970-01-01T00:00:00.000120Z"),
        (1, "1970-01-01T00:00:00.000000001Z"),
        (999_999_999, "1970-01-01T00:00:00.999999999Z"),
        (10, "1970-01-01T00:00:00.000000010Z"),
        # Appendix A's exec: start_time and time.
        (1694302062_751301124, "2023-09-09T23:27:42.751301124Z"),
        (1694302062_751300984, "2023-09-09T23:27:42.751300984Z"),
        (1713061066 * NS, "2024-04-14T02:17:46Z"),
    ],
)
def test_fraction_digits(unix_ns: int, expected: str) -> None:
    assert rfc3339_nanos(unix_ns) == expected
    assert protobuf(unix_ns) == expected


@pytest.mark.parametrize(
    ("unix_ns", "expected"),
    [
        (1704067199 * NS + 999_999_999, "2023-12-31T23:59:59.999999999Z"),
        (1704067200 * NS, "2024-01-01T00:00:00Z"),
        (1704067200 * NS + 1, "2024-01-01T00:00:00.000000001Z"),
        (951782399 * NS + 999_000_000, "2000-02-28T23:59:59.999Z"),
        (951782400 * NS, "2000-02-29T00:00:00Z"),
        (-1, "1969-12-31T23:59:59.999999999Z"),
        (-NS, "1969-12-31T23:59:59Z"),
        (-62135596800 * NS, "0001-01-01T00:00:00Z"),
        (253402300799 * NS + 999_999_999, "9999-12-31T23:59:59.999999999Z"),
    ],
)
def test_second_boundaries(unix_ns: int, expected: str) -> None:
    assert rfc3339_nanos(unix_ns) == expected


def test_cached_prefix_follows_the_second() -> None:
    # Alternate between neighbouring seconds so the one-entry cache is hit and missed.
    base = 1_700_000_000 * NS
    for i in range(2000):
        ns = base + (i % 3) * NS - (i % 2) + i
        assert rfc3339_nanos(ns) == reference(ns)


def test_random_values_against_datetime_and_protobuf() -> None:
    rng = random.Random(1234)
    for _ in range(5000):
        seconds = rng.randrange(-62135596800, 253402300800)
        nanos = rng.choice(
            [0, rng.randrange(1000) * 1_000_000, rng.randrange(1_000_000) * 1000, rng.randrange(NS)]
        )
        ns = seconds * NS + nanos
        got = rfc3339_nanos(ns)
        assert got == reference(ns)
        assert got == protobuf(ns)


def test_out_of_range_raises() -> None:
    with pytest.raises(ValueError):
        rfc3339_nanos(253402300800 * NS)
    with pytest.raises(ValueError):
        rfc3339_nanos(-62135596801 * NS)


def test_fixed_nine_digits() -> None:
    assert rfc3339_nanos_fixed(0) == "1970-01-01T00:00:00.000000000Z"
    assert rfc3339_nanos_fixed(1_500_000_000) == "1970-01-01T00:00:01.500000000Z"
    assert rfc3339_nanos_fixed(1694302062_751301124) == "2023-09-09T23:27:42.751301124Z"


def test_parse_round_trip() -> None:
    rng = random.Random(99)
    for _ in range(2000):
        ns = rng.randrange(-62135596800 * NS, 253402300800 * NS)
        assert parse_rfc3339(rfc3339_nanos(ns)) == ns
        assert parse_rfc3339(rfc3339_nanos_fixed(ns)) == ns


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-04-14T02:17:46Z", 1713061066 * NS),
        ("2024-04-14T02:17:46.5Z", 1713061066 * NS + 500_000_000),
        ("2024-04-14T04:17:46.000000001+02:00", 1713061066 * NS + 1),
        ("2024-04-14T00:17:46-02:00", 1713061066 * NS),
    ],
)
def test_parse_variants(text: str, expected: int) -> None:
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize("text", ["", "2024-04-14", "2024-04-14T02:17:46", "2024-04-14T02:17:46.1234567890Z"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_ktime_clock_offset_matches_the_clocks() -> None:
    clock = KtimeClock()
    expected = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    assert abs(clock.offset_ns - expected) < 50_000_000
    boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    assert abs(clock.to_unix_ns(boot) - time.time_ns()) < 50_000_000
    clock.resync()
    assert abs(clock.offset_ns - expected) < 50_000_000


def test_ktime_clock_fixed_offset() -> None:
    # Appendix A: the exec_id carries ktime 41275524263221; pick the offset that maps it to
    # the event's start_time.
    clock = KtimeClock(offset_ns=1694302062_751301124 - 41275524263221)
    assert clock.to_unix_ns(41275524263221) == 1694302062_751301124
    assert clock.rfc3339(41275524263221) == "2023-09-09T23:27:42.751301124Z"
    assert clock.to_unix_ns(0) == clock.offset_ns
