"""Redaction filters (``--redaction-filters``): hide secrets in process arguments and env values.

Semantics are Tetragon's (``pkg/fieldfilters/redaction.go``). Each filter is
``{"redact": [RE2…], "binary_regex": [RE2…]}``. When ``binary_regex`` is empty or any of its
regexes matches the process binary (unanchored), every match of every ``redact`` regex in the
arguments has the text of each of its capture groups replaced with ``*****``; a capture group
nested in one already replaced is skipped. Filters apply one after the other.

Environment variables (``KEY=VALUE`` strings) are redacted the same way, except that for each
variable the ``redact`` regexes of a filter are tried in order and the first that replaces
something ends that filter's work on it.

Redaction is applied when a process enters the process cache, so every output sees it.

Differences from upstream, on purpose:

* a ``redact`` regex without a capture group is a configuration error (upstream accepts it,
  and it never redacts anything);
* the replaced spans are those of the match found in the arguments; upstream re-runs the regex
  on the matched text alone, which only differs for patterns whose assertions (``\\B``, ``$``…)
  depend on the text around the match;
* the deprecated ``match`` field is accepted and ignored, as upstream ignores it, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from google.protobuf import json_format

from tetragon_core.api.tetragon import events_pb2
from tetragon_core.exceptions import ConfigError
from tetragon_core.fieldfilters._jsonlines import iter_json_objects
from tetragon_core.fieldfilters._re2 import Pattern, compile_re2

__all__ = [
    "REDACTION_STR",
    "RedactionRule",
    "Redactor",
    "compile_redaction_filter",
    "parse_redaction_lines",
    "redact_string",
]

log = logging.getLogger(__name__)

REDACTION_STR = "*****"


@dataclass(frozen=True, slots=True)
class RedactionRule:
    """One compiled redaction filter."""

    redact: tuple[Pattern, ...]
    binary_regex: tuple[Pattern, ...] = ()

    def applies_to(self, binary: str) -> bool:
        """True when ``binary_regex`` is empty or one of its regexes matches ``binary``."""
        if not self.binary_regex:
            return True
        return any(r.search(binary) is not None for r in self.binary_regex)


def compile_redaction_filter(f: events_pb2.RedactionFilter) -> RedactionRule:
    """Compile a ``tetragon.RedactionFilter``.

    Raises ``ValueError`` with the reason for an invalid regex or a ``redact`` regex without a
    capture group.
    """
    binaries: list[Pattern] = []
    for pattern in f.binary_regex:
        try:
            binaries.append(compile_re2(pattern))
        except ValueError as e:
            raise ValueError(f"binary_regex {pattern!r}: {e}") from None
    redact: list[Pattern] = []
    for pattern in f.redact:
        try:
            compiled = compile_re2(pattern)
        except ValueError as e:
            raise ValueError(f"redact regex {pattern!r}: {e}") from None
        if compiled.groups == 0:
            raise ValueError(f"redact regex {pattern!r} has no capture group, so it would redact nothing")
        redact.append(compiled)
    return RedactionRule(tuple(redact), tuple(binaries))


def parse_redaction_lines(text: str, flag: str = "--redaction-filters") -> list[RedactionRule]:
    """Parse and compile JSON lines of protojson ``tetragon.RedactionFilter``.

    Example line: ``{"redact": ["(?:--password|-p)(?:\\\\s+|=)(\\\\S*)"], "binary_regex": ["mysql$"]}``.
    Errors are :class:`ConfigError` naming ``flag``, the line and the reason.
    """
    rules: list[RedactionRule] = []
    for line, obj in iter_json_objects(text, flag):
        msg = events_pb2.RedactionFilter()
        try:
            json_format.ParseDict(obj, msg)
            rules.append(compile_redaction_filter(msg))
        except (json_format.ParseError, ValueError) as e:
            raise ConfigError(f"{flag}: line {line}: {e}") from None
        if len(msg.match):
            log.warning('%s: line %d: the deprecated "match" field is ignored; use binary_regex', flag, line)
    return rules


def redact_string(regex: Pattern, text: str) -> tuple[str, bool]:
    """Replace each capture group of each match of ``regex`` in ``text`` with ``*****``.

    Returns the new text and whether anything was replaced. Matches are found as Go's
    ``Regexp.ReplaceAllStringFunc`` finds them (an empty match right after a match is skipped).
    """
    out: list[str] = []
    modified = False
    last_end = 0  # end of the previous match: text before it is already in ``out``
    pos = 0
    n = len(text)
    while pos <= n:
        m = regex.search(text, pos)
        if m is None:
            break
        start, end = m.start(), m.end()
        out.append(text[last_end:start])
        if end > last_end or start == 0:
            offset = start
            for g in range(1, regex.groups + 1):
                gs = m.start(g)
                if gs < offset:  # did not participate, or nested in a group already replaced
                    continue
                modified = True
                out.append(text[offset:gs])
                out.append(REDACTION_STR)
                offset = m.end(g)
            out.append(text[offset:end])
        else:
            out.append(text[start:end])
        last_end = end
        pos = pos + 1 if pos + 1 > end else end
    if not modified:
        return text, False
    out.append(text[last_end:])
    return "".join(out), True


class Redactor:
    """The configured redaction filters, applied in order."""

    __slots__ = ("_rules",)

    def __init__(self, filters: Iterable[RedactionRule] = ()) -> None:
        self._rules = tuple(filters)

    def __bool__(self) -> bool:
        """False when there is nothing to redact (then every method returns its input)."""
        return bool(self._rules)

    @property
    def rules(self) -> tuple[RedactionRule, ...]:
        """The compiled filters."""
        return self._rules

    def redact_args(self, binary: str, arguments: str) -> str:
        """``arguments`` (the space-joined ``process.arguments``) with secrets replaced."""
        for rule in self._rules:
            if not rule.applies_to(binary):
                continue
            for regex in rule.redact:
                arguments, _ = redact_string(regex, arguments)
        return arguments

    def redact_envs(self, binary: str, envs: Sequence[str]) -> list[str]:
        """``KEY=VALUE`` environment strings with secrets replaced (a new list)."""
        out = list(envs)
        for rule in self._rules:
            if not rule.applies_to(binary):
                continue
            for i, env in enumerate(out):
                for regex in rule.redact:
                    env, modified = redact_string(regex, env)
                    if modified:
                        out[i] = env
                        break
        return out
