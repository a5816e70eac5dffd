"""Kubernetes label selector parsing and matching for the ``labels`` filter."""

from __future__ import annotations

import pytest

from tetragon_core.api.tetragon import events_pb2
from tetragon_core.exceptions import ConfigError
from tetragon_core.filters import compile_filter
from tetragon_core.filters.labels import SelectorError, parse_selector

LABELS = {"app": "web", "tier": "front", "example.com/team": "blue", "n": "10", "empty": ""}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", True),
        ("app = web", True),
        ("app=db", False),
        ("app==web", True),
        ("app!=db", True),
        ("missing!=x", True),
        ("app in (db,web)", True),
        ("app in (db)", False),
        ("missing in (x)", False),
        ("app notin (db)", True),
        ("missing notin (x)", True),
        ("app notin (web)", False),
        ("example.com/team=blue", True),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("!tier", False),
        ("app=web, tier=front", True),
        ("app=web,tier=back", False),
        ("n>9", True),
        ("n>10", False),
        ("n<11", True),
        ("app>1", False),  # not an integer value: no match
        ("missing<5", False),
        ("empty=", True),
        ("empty in ()", True),
        ("empty in (a,)", True),
        ("", True),
        ("in=x", False),  # "in" is a valid key
    ],
)
def test_selector_matching(selector: str, expected: bool) -> None:
    assert parse_selector(selector)(LABELS) is expected


@pytest.mark.parametrize(
    ("selector", "reason"),
    [
        ("app=", None),  # valid: selects the empty value
        ("app=web,", "found '', expected: identifier after ','"),
        ("=web", "found '=', expected: !, identifier, or 'end of string'"),
        ("app web", "found 'web', expected: =, ==, !=, in, notin, > or <"),
        ("app in web", "found 'web', expected: '('"),
        ("app in (a b)", "found 'b', expected: ',', ')' or identifier"),
        ("app in (a", "found '', expected: ',', ')' or identifier"),
        ("!app=x", "found '=', expected: ',' or 'end of string'"),
        ("app=(x)", "found '(', expected: identifier"),
        ("n>x", "for '>' operator, the value must be an integer, got 'x'"),
        (
            "-app=x",
            "invalid label key '-app': name must be 1-63 alphanumeric characters, '-', '_' or '.', "
            "starting and ending with an alphanumeric character",
        ),
        ("a/b/c=x", "invalid label key 'a/b/c': a qualified name has at most one '/'"),
        ("Bad_Prefix/app=x", "invalid label key 'Bad_Prefix/app': prefix must be a DNS-1123 subdomain"),
        (
            "app=-x",
            "invalid label value '-x': must be empty or 1-63 alphanumeric characters, '-', '_' or '.', "
            "starting and ending with an alphanumeric character",
        ),
        ("k=" + "v" * 64, "invalid label value"),
    ],
)
def test_selector_errors(selector: str, reason: str | None) -> None:
    if reason is None:
        parse_selector(selector)
        return
    with pytest.raises(SelectorError) as exc:
        parse_selector(selector)
    assert str(exc.value).startswith(reason)


def test_labels_filter_error_names_field() -> None:
    with pytest.raises(ConfigError) as exc:
        compile_filter(events_pb2.Filter(labels=["app=web", "app in web"]))
    assert str(exc.value) == "labels: invalid pod label selector 'app in web': found 'web', expected: '('"
