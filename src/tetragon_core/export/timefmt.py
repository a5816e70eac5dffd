"""Timestamps as protojson writes them, and BPF ktime → wall clock.

protojson renders ``google.protobuf.Timestamp`` as RFC 3339 in UTC with a ``Z`` suffix and 0, 3, 6
or 9 fractional digits: the fewest of those that represent the nanoseconds exactly. Every exported
event carries at least two timestamps, so :func:`rfc3339_nanos` is on the hot path: the
``YYYY-MM-DDTHH:MM:SS`` prefix only changes once a second, and is cached.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone

__all__ = [
    "KtimeClock",
    "parse_rfc3339",
    "rfc3339_nanos",
    "rfc3339_nanos_fixed",
]

_NS_PER_S = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# protojson's valid Timestamp range: 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999999Z.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799

# One (second, prefix) pair, replaced as a whole: a tuple store is atomic, so concurrent callers
# at worst recompute a prefix, never read a torn one.
_prefix_cache: tuple[int, str] = (0, "1970-01-01T00:00:00")


def _prefix(seconds: int) -> str:
    global _prefix_cache
    cached = _prefix_cache
    if cached[0] == seconds:
        return cached[1]
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        raise ValueError(f"timestamp seconds {seconds} out of the RFC 3339 range (years 1-9999)")
    d = _EPOCH + timedelta(seconds=seconds)
    prefix = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
    _prefix_cache = (seconds, prefix)
    return prefix


def rfc3339_nanos(unix_ns: int) -> str:
    """Format nanoseconds since the Unix epoch exactly as protojson formats a Timestamp.

    UTC, ``Z`` suffix, and 0, 3, 6 or 9 fractional digits (the fewest that are exact; none when
    the nanoseconds are 0). Times before the epoch work (the nanos are kept non-negative, as a
    normalised Timestamp does). Raises ``ValueError`` outside years 1-9999, as protojson does.
    """
    seconds, nanos = divmod(unix_ns, _NS_PER_S)
    prefix = _prefix(seconds)
    if nanos == 0:
        return prefix + "Z"
    if nanos % 1_000_000 == 0:
        return f"{prefix}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{prefix}.{nanos // 1_000:06d}Z"
    return f"{prefix}.{nanos:09d}Z"


def rfc3339_nanos_fixed(unix_ns: int) -> str:
    """Format with always 9 fractional digits (Go layout ``2006-01-02T15:04:05.000000000Z07:00``).

    This is what ``tetra getevents -o compact --timestamps`` prints.
    """
    seconds, nanos = divmod(unix_ns, _NS_PER_S)
    return f"{_prefix(seconds)}.{nanos:09d}Z"


_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def parse_rfc3339(text: str) -> int:
    """Parse an RFC 3339 timestamp (as protojson accepts it) into nanoseconds since the epoch.

    Accepts 0 to 9 fractional digits and either ``Z`` or a ``±HH:MM`` offset. Raises
    ``ValueError`` on anything else.
    """
    m = _RFC3339_RE.fullmatch(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    tz = UTC
    if m.group(8) is None:
        sign = 1 if m.group(9) == "+" else -1
        tz = timezone(sign * timedelta(hours=int(m.group(10)), minutes=int(m.group(11))))
    d = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    seconds = (d - _EPOCH) // timedelta(seconds=1)
    return seconds * _NS_PER_S + int(frac.ljust(9, "0"))


class KtimeClock:
    """Converts BPF ktime (``bpf_ktime_get_boot_ns``: ns since boot) to wall-clock time.

    The offset ``CLOCK_REALTIME - CLOCK_BOOTTIME`` is sampled once at construction; call
    :meth:`resync` to pick up wall-clock steps (NTP, settimeofday). Upstream samples both clocks on
    every event; sampling once is what makes the conversion one addition.
    """

    __slots__ = ("_offset_ns",)

    def __init__(self, offset_ns: int | None = None) -> None:
        """Sample the clocks now, or use a fixed ``offset_ns`` (for tests and replays)."""
        self._offset_ns = 0
        if offset_ns is None:
            self.resync()
        else:
            self._offset_ns = offset_ns

    def resync(self) -> None:
        """Re-sample ``CLOCK_REALTIME - CLOCK_BOOTTIME``."""
        best_window: int | None = None
        offset = 0
        # Bracket the realtime read between two boottime reads and keep the tightest of a few
        # tries: a preemption between the reads would otherwise skew the offset by its length.
        for _ in range(5):
            b1 = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            real = time.clock_gettime_ns(time.CLOCK_REALTIME)
            b2 = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            window = b2 - b1
            if best_window is None or window < best_window:
                best_window = window
                offset = real - (b1 + window // 2)
        self._offset_ns = offset

    @property
    def offset_ns(self) -> int:
        """The current ``CLOCK_REALTIME - CLOCK_BOOTTIME`` offset in nanoseconds."""
        return self._offset_ns

    def to_unix_ns(self, ktime: int) -> int:
        """Wall-clock nanoseconds since the Unix epoch for a boot-time ``ktime``."""
        return ktime + self._offset_ns

    def rfc3339(self, ktime: int) -> str:
        """The protojson Timestamp string for a boot-time ``ktime``."""
        return rfc3339_nanos(ktime + self._offset_ns)
