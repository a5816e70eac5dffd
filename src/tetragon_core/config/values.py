"""Conversion of flag values from text (or YAML lists) into typed Python values.

Parsers raise ``ValueError`` with a short reason; the loader turns that into a ``ConfigError``
naming the flag and where the value came from.
"""

from __future__ import annotations

import re

from .flags import Flag, FlagKind

Value = bool | int | float | str | tuple[str, ...]
"""A typed flag value: bool, int (ints and sizes), float seconds (durations), str, or a str tuple."""

RawValue = str | tuple[str, ...]
"""A flag value as read from a source: text, or the items of a YAML list."""

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})

_DURATION_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # Go accepts both the micro sign and the Greek mu
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_SIZE = re.compile(r"([+-]?\d+)([KMG]?)", re.IGNORECASE)
_SIZE_MULTIPLIERS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_bool(text: str) -> bool:
    """Parse true/false/1/0 (case-insensitive)."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true, false, 1 or 0")


def parse_int(text: str) -> int:
    """Parse a decimal integer; 0x/0o/0b prefixes are accepted as Go's flag parser does."""
    stripped = text.strip()
    try:
        return int(stripped, 10)
    except ValueError:
        pass
    try:
        return int(stripped, 0)
    except ValueError:
        raise ValueError("expected an integer") from None


def parse_go_duration(text: str) -> float:
    """Parse Go ``time.ParseDuration`` syntax ("30s", "1m30s", "500ms", "0") into seconds."""
    stripped = text.strip()
    sign = 1.0
    if stripped[:1] in ("+", "-"):
        sign = -1.0 if stripped[0] == "-" else 1.0
        stripped = stripped[1:]
    if stripped == "0":
        return 0.0
    if not stripped:
        raise ValueError("expected a duration such as 30s, 1m30s or 500ms")
    total = 0.0
    pos = 0
    while pos < len(stripped):
        match = _DURATION_PART.match(stripped, pos)
        if match is None:
            raise ValueError("expected a duration such as 30s, 1m30s or 500ms")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def parse_seconds(text: str) -> float:
    """Parse a plain number of seconds ("2", "0.5"), or a Go duration ("2s")."""
    stripped = text.strip()
    if _PLAIN_NUMBER.fullmatch(stripped):
        return float(stripped)
    try:
        return parse_go_duration(stripped)
    except ValueError:
        raise ValueError("expected a number of seconds or a duration such as 10s") from None


def parse_size(text: str) -> int:
    """Parse a byte count with an optional K/M/G suffix (powers of 1024): "65535", "64K", "8M"."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError("expected a size such as 65535, 64K, 8M or 1G")
    return int(match.group(1)) * _SIZE_MULTIPLIERS[match.group(2).upper()]


def parse_string_list(raw: RawValue) -> tuple[str, ...]:
    """Split comma-separated text, or take a YAML list's items; blanks are dropped."""
    items = raw.split(",") if isinstance(raw, str) else raw
    return tuple(item.strip() for item in items if item.strip())


def parse_value(flag: Flag, raw: RawValue) -> Value:
    """Convert ``raw`` into the typed value of ``flag``; raises ValueError with the reason."""
    if flag.kind is FlagKind.STRING_LIST:
        return parse_string_list(raw)
    if not isinstance(raw, str):
        raise ValueError("expected a single value, not a list")
    if flag.kind is FlagKind.BOOL:
        return parse_bool(raw)
    if flag.kind is FlagKind.INT:
        return parse_int(raw)
    if flag.kind is FlagKind.DURATION:
        return parse_go_duration(raw)
    if flag.kind is FlagKind.SECONDS:
        return parse_seconds(raw)
    if flag.kind is FlagKind.SIZE:
        return parse_size(raw)
    return raw


def default_value(flag: Flag) -> Value:
    """The typed default of ``flag``, parsed from the reference table's text."""
    return parse_value(flag, flag.default)
