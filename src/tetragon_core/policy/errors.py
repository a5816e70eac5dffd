"""Errors raised while parsing and validating a TracingPolicy."""

from __future__ import annotations

from tetragon_core.exceptions import ConfigError


class PolicyError(ConfigError):
    """A TracingPolicy document is malformed.

    The message is ``"<path>: <reason>"``, e.g.
    ``spec.tracepoints[0].selectors[1].matchArgs[0].operator: unknown operator 'Equl'``.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason
