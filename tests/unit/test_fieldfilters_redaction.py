"""Redaction filters (``--redaction-filters``): capture groups replaced with ``*****``."""

from __future__ import annotations

import logging

import pytest

from tetragon_core.api.tetragon import events_pb2
from tetragon_core.exceptions import ConfigError
from tetragon_core.fieldfilters import (
    REDACTION_STR,
    Redactor,
    compile_redaction_filter,
    parse_redaction_lines,
    redact_string,
)
from tetragon_core.fieldfilters._re2 import compile_re2

R = REDACTION_STR
PASSWORD = r'{"redact":["(?:--password|-p)(?:\\s+|=)(\\S*)"]}'


def redactor(text: str) -> Redactor:
    return Redactor(parse_redaction_lines(text))


def test_password_example() -> None:
    r = redactor(PASSWORD)
    assert r.redact_args("/usr/bin/mysql", "-u root --password hunter2") == f"-u root --password {R}"
    assert (
        r.redact_args("/usr/bin/mysql", "mysql -u root --password hunter2") == f"mysql -u root --password {R}"
    )
    assert r.redact_args("/usr/bin/mysql", "--password=foo -p bar") == f"--password={R} -p {R}"
    assert r.redact_args("/usr/bin/mysql", "-u root") == "-u root"
    # An empty capture group is replaced too, as upstream does.
    assert r.redact_args("/usr/bin/mysql", "--password=") == f"--password={R}"


@pytest.mark.parametrize(
    ("pattern", "text", "expected", "modified"),
    [
        # pkg/fieldfilters/redaction_test.go TestRedactString_*.
        ("(ab)cd", "abcd", f"{R}cd", True),
        ("(ab)cd", "cdef", "cdef", False),
        ("(ab)cd", "abef", "abef", False),
        (r"(?:--password|-p)\s+(\S+)", "--password fooBarQuxBaz!", f"--password {R}", True),
        (r"(?:--password|-p)\s+(\S+)", "-p fooBarQuxBaz!", f"-p {R}", True),
        (r"(?:--password|-p)\s+(\S+)", "innocent", "innocent", False),
        ("(foo(bar))qux", "foobarqux", f"{R}qux", True),
        ("(foo(bar))qux", "innocent", "innocent", False),
        # Every match, every group; groups that did not take part are left alone.
        ("(a)-(b)", "a-b x a-b", f"{R}-{R} x {R}-{R}", True),
        (r"--pw=(\S+)|--token=(\S+)", "--token=t --pw=p", f"--token={R} --pw={R}", True),
        ("k=(v)", "ключ k=v ü", f"ключ k={R} ü", True),
        # Empty matches are found as Go finds them: not right after another match.
        ("(a*)", "baaa", f"{R}b{R}", True),
        ("(x*)", "ab", f"{R}a{R}b{R}", True),
    ],
)
def test_redact_string(pattern: str, text: str, expected: str, modified: bool) -> None:
    assert redact_string(compile_re2(pattern), text) == (expected, modified)


def test_redact_string_context_assertions_use_the_whole_text() -> None:
    assert redact_string(compile_re2(r"^(\S+)"), "secret rest")[0] == f"{R} rest"
    assert redact_string(compile_re2(r"\b(tok)\b"), "xtok tok")[0] == f"xtok {R}"


def test_binary_regex_gating() -> None:
    # pkg/fieldfilters/redaction_test.go TestRedact_BinaryFilter.
    args = "--verbose=true --password ybx511!ackt544 --username foobar"
    r = redactor(r'{"binary_regex": ["mysql$"], "redact": ["(?:--password|-p)[\\s=]+(\\S+)"]}')
    assert r.redact_args("", args) == args
    assert r.redact_args("/usr/bin/mysqld", args) == args
    assert r.redact_args("/bin/mysql", args) == f"--verbose=true --password {R} --username foobar"


def test_any_binary_regex_may_match() -> None:
    r = redactor(r'{"binary_regex": ["^/usr/bin/psql$", "mysql"], "redact": ["-p(\\S+)"]}')
    assert r.redact_args("/usr/bin/psql", "-psecret") == f"-p{R}"
    assert r.redact_args("/opt/mysql/bin/client", "-psecret") == f"-p{R}"
    assert r.redact_args("/usr/bin/psql2", "-psecret") == "-psecret"


def test_multiple_regexes_and_filters_apply_in_order() -> None:
    # pkg/fieldfilters/redaction_test.go TestRedact_Multi.
    args = "--verbose=true --password ybx511!ackt544 --username foobar cheesecake TOPSECRET innocent"
    r = redactor(r'{"redact": ["(?:--password|-p)[\\s=]+(\\S+)", "\\W(TOPSECRET)\\W", "(cheese)cake"]}')
    assert r.redact_args("", args) == f"--verbose=true --password {R} --username foobar {R}cake {R} innocent"

    two = redactor('{"binary_regex":["curl$"], "redact":["-u (\\\\S+)"]}\n{"redact":["token=(\\\\w+)"]}')
    assert two.redact_args("/usr/bin/curl", "-u me:pw token=abc") == f"-u {R} token={R}"
    assert two.redact_args("/usr/bin/wget", "-u me:pw token=abc") == f"-u me:pw token={R}"


def test_envs() -> None:
    # pkg/fieldfilters/redaction_test.go TestRedact_Envs / TestRedact_ArgsWithEnvs (envs one by one).
    envs = ["VAR1=XXX", "SSH_PASSWORD=verysecretpassword", "VAR2=YYY"]
    r = redactor(r'{"redact": ["(?:--password|-p)[\\s=]+(\\S+)", "(?:SSH_PASSWORD)[\\s=]+(\\S+)"]}')
    assert r.redact_envs("", envs) == ["VAR1=XXX", f"SSH_PASSWORD={R}", "VAR2=YYY"]
    assert envs[1] == "SSH_PASSWORD=verysecretpassword"
    assert r.redact_args("", "--password x") == f"--password {R}"


def test_envs_first_modifying_regex_of_a_filter_wins() -> None:
    r = redactor(r'{"redact": ["^(A)=", "=(.*)$"]}')
    assert r.redact_envs("", ["A=1", "B=2"]) == [f"{R}=1", f"B={R}"]
    # Each filter gets its turn.
    r2 = redactor('{"redact": ["^(A)="]}\n{"redact": ["=(.*)$"]}')
    assert r2.redact_envs("", ["A=1"]) == [f"{R}={R}"]


def test_envs_binary_gating() -> None:
    r = redactor(r'{"binary_regex":["^/bin/sh$"], "redact": ["^TOKEN=(.*)"]}')
    assert r.redact_envs("/bin/bash", ["TOKEN=x"]) == ["TOKEN=x"]
    assert r.redact_envs("/bin/sh", ["TOKEN=x"]) == [f"TOKEN={R}"]


def test_empty_redactor() -> None:
    r = Redactor()
    assert not r
    assert r.redact_args("/bin/x", "--password x") == "--password x"
    assert r.redact_envs("/bin/x", ["A=1"]) == ["A=1"]
    assert parse_redaction_lines("") == []
    assert parse_redaction_lines(" \n ") == []
    assert redactor(PASSWORD)


def test_parse_camel_case_and_multiline() -> None:
    rules = parse_redaction_lines('{\n  "binaryRegex": ["x"],\n  "redact": ["(y)"]\n}\n{"redact": ["(z)"]}')
    assert len(rules) == 2
    assert rules[0].binary_regex[0].pattern == "x"
    assert [p.pattern for p in rules[1].redact] == ["(z)"]


def test_compile_from_proto() -> None:
    rule = compile_redaction_filter(events_pb2.RedactionFilter(redact=["(s)"], binary_regex=["b"]))
    assert rule.applies_to("abc") and not rule.applies_to("xyz")
    with pytest.raises(ValueError, match="no capture group"):
        compile_redaction_filter(events_pb2.RedactionFilter(redact=["s"]))


def test_deprecated_match_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        rules = parse_redaction_lines('{"match":[{"binary_regex":["nope"]}], "redact":["(s)"]}')
    assert "line 1" in caplog.text and "match" in caplog.text
    assert Redactor(rules).redact_args("/bin/other", "s") == R


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            '{"redact":["password"]}',
            r"^--redaction-filters: line 1: redact regex 'password' has no capture group",
        ),
        (
            '{"redact":["(?:x)y"]}',
            r"^--redaction-filters: line 1: redact regex '\(\?:x\)y' has no capture group",
        ),
        ('{"redact":["(a"]}', r"^--redaction-filters: line 1: redact regex '\(a': missing \)"),
        ('{"redact":["(a)\\\\1"]}', r"^--redaction-filters: line 1: redact regex .*escape"),
        ('{"redact":["(?=x)(a)"]}', r"^--redaction-filters: line 1: redact regex .*"),
        (
            '{"redact":["(a)"]}\n\n{"binary_regex":["[z"], "redact":["(a)"]}',
            r"^--redaction-filters: line 3: binary_regex '\[z'",
        ),
        ('{"redact":"(a)"}', r"^--redaction-filters: line 1: .*redact"),
        ('{"redact":["(a)"], "bogus":true}', r"^--redaction-filters: line 1: .*bogus"),
        ('{"redact":["(a)"]', r"^--redaction-filters: line 1: invalid JSON"),
        ('{"redact":["(a)"]}\n"x"', r"^--redaction-filters: line 2: expected a JSON object, got a string"),
    ],
)
def test_errors_name_flag_line_and_reason(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_redaction_lines(text)


def test_error_uses_given_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--my-flag: line 1: "):
        parse_redaction_lines('{"redact":["x"]}', flag="--my-flag")
