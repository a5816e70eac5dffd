"""Kubernetes label selectors (``k8s.io/apimachinery/pkg/labels.Parse``) for the ``labels`` filter.

Grammar, as upstream::

    selector    := requirement ( "," requirement )*     (empty selector: matches every label set)
    requirement := [ "!" ] KEY
                 | KEY ( "=" | "==" | "!=" ) VALUE
                 | KEY ( "in" | "notin" ) "(" VALUE ( "," VALUE )* ")"
                 | KEY ( ">" | "<" ) INTEGER

Keys are qualified names (``[prefix/]name``: the prefix a DNS-1123 subdomain, the name at most 63
characters of ``[A-Za-z0-9._-]`` starting and ending alphanumeric); values are empty or at most 63
such characters. Matching follows ``labels.Requirement.Matches``: ``in``/``=`` need the key present
with one of the values; ``notin``/``!=`` match when the key is absent or has none of them; ``>``/``<``
need the key present with an integer value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_SPECIAL = "!=(),<>"
_SYMBOLS = ("!=", "==", "!", "=", "(", ")", ",", "<", ">")
_WHITESPACE = " \t\r\n"

_NAME_RE = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\Z")
_INT64_RE = re.compile(r"[+-]?[0-9]+\Z")

# Token kinds.
_IDENT, _END = "identifier", "end of string"

LabelMatcher = Callable[[Mapping[str, str]], bool]


class SelectorError(ValueError):
    """A label selector that does not parse; the message is the reason."""


@dataclass(frozen=True)
class _Token:
    kind: str  # _IDENT, _END or the symbol itself
    text: str


def _lex(selector: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(selector)
    while i < n:
        ch = selector[i]
        if ch in _WHITESPACE:
            i += 1
            continue
        if ch in _SPECIAL:
            for sym in _SYMBOLS:
                if selector.startswith(sym, i):
                    tokens.append(_Token(sym, sym))
                    i += len(sym)
                    break
            continue
        j = i
        while j < n and selector[j] not in _WHITESPACE and selector[j] not in _SPECIAL:
            j += 1
        tokens.append(_Token(_IDENT, selector[i:j]))
        i = j
    tokens.append(_Token(_END, ""))
    return tokens


def _validate_key(key: str) -> None:
    parts = key.split("/")
    if len(parts) > 2:
        raise SelectorError(f"invalid label key {key!r}: a qualified name has at most one '/'")
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix):
            raise SelectorError(f"invalid label key {key!r}: prefix must be a DNS-1123 subdomain")
    if not name or len(name) > 63 or not _NAME_RE.match(name):
        raise SelectorError(
            f"invalid label key {key!r}: name must be 1-63 alphanumeric characters, '-', '_' or '.', "
            "starting and ending with an alphanumeric character"
        )


def _validate_value(value: str) -> None:
    if value and (len(value) > 63 or not _NAME_RE.match(value)):
        raise SelectorError(
            f"invalid label value {value!r}: must be empty or 1-63 alphanumeric characters, '-', '_' "
            "or '.', starting and ending with an alphanumeric character"
        )


class _Parser:
    def __init__(self, selector: str) -> None:
        self.tokens = _lex(selector)
        self.pos = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        tok = self.tokens[self.pos]
        if tok.kind != _END:
            self.pos += 1
        return tok

    def parse(self) -> list[LabelMatcher]:
        reqs: list[LabelMatcher] = []
        tok = self.peek()
        if tok.kind == _END:
            return reqs
        if tok.kind not in (_IDENT, "!"):
            raise SelectorError(f"found '{tok.text}', expected: !, identifier, or 'end of string'")
        while True:
            reqs.append(self.requirement())
            tok = self.take()
            if tok.kind == _END:
                return reqs
            if tok.kind != ",":
                raise SelectorError(f"found '{tok.text}', expected: ',' or 'end of string'")
            nxt = self.peek()
            if nxt.kind not in (_IDENT, "!"):
                raise SelectorError(f"found '{nxt.text}', expected: identifier after ','")

    def requirement(self) -> LabelMatcher:
        negated = False
        tok = self.take()
        if tok.kind == "!":
            negated = True
            tok = self.take()
        if tok.kind != _IDENT:
            raise SelectorError(f"found '{tok.text}', expected: identifier")
        key = tok.text
        _validate_key(key)
        if self.peek().kind in (_END, ","):
            return _absent(key) if negated else _present(key)
        if negated:
            nxt = self.peek()
            raise SelectorError(f"found '{nxt.text}', expected: ',' or 'end of string'")
        op = self.take()
        if op.kind == _IDENT and op.text in ("in", "notin"):
            values = self.value_set()
            for v in values:
                _validate_value(v)
            return _in(key, values) if op.text == "in" else _notin(key, values)
        if op.kind in ("=", "==", "!="):
            value = self.exact_value()
            _validate_value(value)
            return _notin(key, frozenset((value,))) if op.kind == "!=" else _in(key, frozenset((value,)))
        if op.kind in (">", "<"):
            value = self.exact_value()
            if not _INT64_RE.match(value) or not -(2**63) <= int(value) < 2**63:
                raise SelectorError(f"for '{op.kind}' operator, the value must be an integer, got {value!r}")
            return _compare(key, int(value), op.kind == ">")
        raise SelectorError(f"found '{op.text}', expected: =, ==, !=, in, notin, > or <")

    def value_set(self) -> frozenset[str]:
        tok = self.take()
        if tok.kind != "(":
            raise SelectorError(f"found '{tok.text}', expected: '('")
        values: set[str] = set()
        expect_value = True
        while True:
            tok = self.take()
            if tok.kind == _IDENT and expect_value:
                values.add(tok.text)
                expect_value = False
            elif tok.kind == ",":
                if expect_value:
                    values.add("")  # "(a,,b)" and "(,a)" hold the empty value, as upstream
                expect_value = True
            elif tok.kind == ")":
                if expect_value:
                    values.add("")  # "()" and "(a,)" likewise
                return frozenset(values)
            else:
                raise SelectorError(f"found '{tok.text}', expected: ',', ')' or identifier")

    def exact_value(self) -> str:
        tok = self.peek()
        if tok.kind in (_END, ","):
            return ""  # "a=" selects the empty value
        tok = self.take()
        if tok.kind != _IDENT:
            raise SelectorError(f"found '{tok.text}', expected: identifier")
        return tok.text


def _present(key: str) -> LabelMatcher:
    return lambda labels: key in labels


def _absent(key: str) -> LabelMatcher:
    return lambda labels: key not in labels


def _in(key: str, values: frozenset[str]) -> LabelMatcher:
    def match(labels: Mapping[str, str]) -> bool:
        value = labels.get(key)
        return value is not None and value in values

    return match


def _notin(key: str, values: frozenset[str]) -> LabelMatcher:
    def match(labels: Mapping[str, str]) -> bool:
        value = labels.get(key)
        return value is None or value not in values

    return match


def _compare(key: str, bound: int, greater: bool) -> LabelMatcher:
    def match(labels: Mapping[str, str]) -> bool:
        value = labels.get(key)
        if value is None or not _INT64_RE.match(value):
            return False
        number = int(value)
        return number > bound if greater else number < bound

    return match


def parse_selector(selector: str) -> LabelMatcher:
    """Parse one label selector into a ``labels -> bool``; raises :class:`SelectorError`."""
    reqs = _Parser(selector).parse()
    if not reqs:
        return lambda labels: True
    if len(reqs) == 1:
        return reqs[0]
    return lambda labels: all(req(labels) for req in reqs)
