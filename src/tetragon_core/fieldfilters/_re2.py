"""Typed access to RE2 (``google-re2``), the engine and syntax of Go's ``regexp`` package.

Tetragon compiles user regexes with Go's ``regexp``, which is RE2: linear time, no
backreferences or lookaround. Using RE2 here accepts and rejects the same patterns and keeps a
hostile pattern from taking exponential time on an event's arguments.
"""

from __future__ import annotations

from typing import Protocol

import re2  # type: ignore[import-untyped]

__all__ = ["Match", "Pattern", "compile_re2"]


class Match(Protocol):
    """The part of ``re2._Match`` used here; offsets are ``str`` indices."""

    def start(self, group: int = 0, /) -> int:
        """Start of ``group`` (-1 when it did not participate)."""
        ...

    def end(self, group: int = 0, /) -> int:
        """End of ``group`` (-1 when it did not participate)."""
        ...


class Pattern(Protocol):
    """The part of ``re2._Regexp`` used here."""

    @property
    def groups(self) -> int:
        """Number of capture groups."""
        ...

    @property
    def pattern(self) -> str:
        """The source pattern."""
        ...

    def search(self, text: str, pos: int = 0, /) -> Match | None:
        """Leftmost-first match at or after ``pos``; text before ``pos`` is context (``^``, ``\\b``)."""
        ...


def _options() -> object:
    opts = re2.Options()
    opts.log_errors = False  # RE2 would otherwise print parse errors to stderr itself
    return opts


_OPTIONS = _options()


def compile_re2(pattern: str) -> Pattern:
    """Compile ``pattern`` with RE2's default (Perl-like, Go-compatible) syntax.

    Raises ``ValueError`` carrying RE2's reason when the pattern is invalid.
    """
    try:
        compiled: Pattern = re2.compile(pattern, _OPTIONS)
    except re2.error as e:
        reason = e.args[0] if e.args else e
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(str(reason)) from None
    return compiled
