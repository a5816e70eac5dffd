"""RE2 matching for the ``*_regex`` filter fields, with Go ``regexp.MatchString`` semantics.

Upstream compiles each pattern with Go's ``regexp`` (RE2 syntax) and calls ``MatchString``, an
unanchored search. We compile with RE2 itself (``google-re2``), so the accepted syntax and the
linear-time guarantee are the same.

Speed: the public ``re2`` wrapper costs about 3 µs per search (it builds a match object); the
underlying ``_re2.RE2.Match`` costs about 0.5 µs, so that is used when present. Several patterns of
one field are joined into one alternation. On top of that each matcher memoizes its answer per
subject string in a bounded dict, because the subjects (binary paths, namespaces, pod names) repeat
on a node: a hit costs one dict lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import re2  # type: ignore[import-untyped]

from tetragon_core.exceptions import ConfigError

_MEMO_MAX = 4096


def _options() -> re2.Options:
    opts = re2.Options()
    opts.log_errors = False  # RE2 would print every parse error to stderr
    return opts


def _reason(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else exc
    if isinstance(arg, bytes):
        return arg.decode("utf-8", "replace")
    return str(arg)


def check_pattern(field: str, pattern: str) -> None:
    """Raise :class:`ConfigError` naming ``field`` if ``pattern`` is not valid RE2 syntax."""
    try:
        re2.compile(pattern, _options())
    except re2.error as exc:
        raise ConfigError(f"{field}: invalid RE2 pattern {pattern!r}: {_reason(exc)}") from None


def _raw_searcher(pattern: str) -> Callable[[str], bool]:
    """An unanchored RE2 search of ``pattern`` (already validated) as a ``str -> bool``."""
    opts = _options()
    opts.never_capture = True
    raw_cls = getattr(getattr(re2, "_re2", None), "RE2", None)
    if raw_cls is not None and hasattr(raw_cls, "Anchor"):
        raw = raw_cls(pattern.encode("utf-8"), opts)
        if raw.ok():
            match = raw.Match
            unanchored = raw_cls.Anchor.UNANCHORED

            def search(text: str) -> bool:
                try:
                    data = text.encode("utf-8", "surrogateescape")  # bytes decoded with it
                except UnicodeEncodeError:
                    data = text.encode("utf-8", "surrogatepass")  # other lone surrogates
                return bool(match(unanchored, data, 0, len(data))[0][0] >= 0)

            return search
    compiled = re2.compile(pattern, opts)
    public_search = compiled.search
    return lambda text: public_search(text) is not None


def compile_patterns(field: str, patterns: Sequence[str]) -> Callable[[str], bool]:
    """Compile ``patterns`` of filter ``field`` into one ``text -> bool`` (true if any matches).

    Raises :class:`ConfigError` ``"<field>: invalid RE2 pattern '<p>': <reason>"`` for the first
    pattern RE2 rejects.
    """
    for pattern in patterns:
        check_pattern(field, pattern)
    if len(patterns) == 1:
        search = _raw_searcher(patterns[0])
    else:
        joined = "|".join(f"(?:{p})" for p in patterns)
        try:
            search = _raw_searcher(joined)
        except re2.error:  # e.g. a named group repeated across patterns: match them one by one
            searchers = [_raw_searcher(p) for p in patterns]

            def search(text: str) -> bool:
                return any(s(text) for s in searchers)

    memo: dict[str, bool] = {}

    def matches(text: str) -> bool:
        hit = memo.get(text)
        if hit is not None:
            return hit
        result = search(text)
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[text] = result
        return result

    return matches
