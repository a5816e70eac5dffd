"""Checks on typed flag values: allowed ranges and choices, and whether the flag is built.

Every failure is a ``ConfigError`` whose message starts with ``--flag-name:`` and ends with the
source that set the value, so an operator can find the offending file or argument.
"""

from __future__ import annotations

import re

from ..exceptions import ConfigError
from .flags import Flag, FlagKind
from .support import unsupported_reason
from .values import RawValue, Value, default_value, parse_value

_OCTAL_PERM = re.compile(r"[0-7]+")
_MAX_PERM = 0o7777


def flag_error(flag: Flag, reason: str, source: str) -> ConfigError:
    """A ConfigError naming ``flag``, the ``reason`` and the ``source`` that set it."""
    return ConfigError(f"--{flag.name}: {reason} (set by {source})")


def convert(flag: Flag, raw: RawValue, source: str) -> Value:
    """Parse ``raw`` for ``flag`` and check the result; returns the normalised typed value."""
    try:
        value = parse_value(flag, raw)
    except ValueError as exc:
        raise flag_error(flag, f"invalid value {_show(raw)}: {exc}", source) from None
    return check_value(flag, value, source)


def check_value(flag: Flag, value: Value, source: str) -> Value:
    """Check ``value`` against the flag's rules; choices are returned lower-cased."""
    if flag.choices and isinstance(value, str):
        lowered = value.lower()
        if lowered not in flag.choices:
            allowed = ", ".join(flag.choices)
            raise flag_error(flag, f"invalid value {value!r}: must be one of {allowed}", source)
        return lowered
    if flag.kind in (FlagKind.INT, FlagKind.SIZE) and isinstance(value, int):
        _check_bounds(flag, value, source)
    if flag.kind in (FlagKind.DURATION, FlagKind.SECONDS) and isinstance(value, float) and value < 0:
        raise flag_error(flag, f"invalid value {value:g}s: must not be negative", source)
    if flag.name == "export-file-perm" and isinstance(value, str):
        _check_perm(flag, value, source)
    return value


def check_supported(flag: Flag, value: Value, source: str) -> None:
    """Reject a value differing from the default for a flag this agent does not implement."""
    reason = unsupported_reason(flag.name)
    if reason is not None and value != default_value(flag):
        raise flag_error(flag, reason, source)


def _check_bounds(flag: Flag, value: int, source: str) -> None:
    if flag.minimum is not None and value < flag.minimum:
        if flag.minimum == 0:
            bound = "must not be negative"
        elif flag.minimum == 1:
            bound = "must be greater than 0"
        else:
            bound = f"must be at least {flag.minimum}"
        raise flag_error(flag, f"invalid value {value}: {bound}", source)
    if flag.maximum is not None and value > flag.maximum:
        low = flag.minimum if flag.minimum is not None else "-inf"
        raise flag_error(flag, f"invalid value {value}: must be between {low} and {flag.maximum}", source)


def _check_perm(flag: Flag, value: str, source: str) -> None:
    if not _OCTAL_PERM.fullmatch(value) or int(value, 8) > _MAX_PERM:
        raise flag_error(
            flag, f"invalid value {value!r}: must be an octal file mode such as 600 or 0644", source
        )


def _show(raw: RawValue) -> str:
    return repr(raw) if isinstance(raw, str) else repr(list(raw))
