"""The CRD schema checker and validator of tests/crdschema.py catch what they are for."""

from __future__ import annotations

from tests.crdschema import structural_problems, validate


def test_structural_checker_catches_non_structural_schemas() -> None:
    bad = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "a": {"type": "object"},
            "b": {"properties": {"x": {"type": "string"}}},
            "c": {"type": "array"},
            "d": {"type": "string", "x-kubernetes-int-or-string": True},
            "e": {"type": "object", "additionalProperties": False},
            "f": {"type": "string", "enum": ["x", 1]},
            "g": {"type": "string", "$ref": "#/x"},
            "h": {"type": "integer", "default": "one"},
            "i": {"type": "object", "properties": {}, "x-kubernetes-validations": [{"rule": "self.("}]},
        },
    }
    text = "\n".join(structural_problems(bad))
    for what in (
        "metadata: metadata may only be",
        "a: an object needs properties",
        "b: no type",
        "c: an array needs one items schema",
        "d: x-kubernetes-int-or-string must not have a type",
        "e: additionalProperties must be a schema",
        "f: enum value 1",
        "g: keyword '$ref'",
        "h: default",
        "i: rule 'self.(' does not compile",
    ):
        assert what in text, f"{what!r} not reported:\n{text}"


# --- the validator itself ----------------------------------------------------------------------


def test_validator_keywords() -> None:
    schema = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "maxLength": 3, "pattern": "^[a-z]+$"},
            "port": {"x-kubernetes-int-or-string": True},
            "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "list": {
                "type": "array",
                "maxItems": 1,
                "items": {"type": "object", "nullable": True, "properties": {}},
            },
            "mode": {"type": "string", "enum": ["a", "b"]},
            "count": {"type": "integer", "minimum": 0},
            "flag": {"type": "boolean"},
        },
    }
    good = {"name": "abc", "port": "http", "raw": {"any": [1, {"x": None}]}, "labels": {"k": "v"}}
    assert validate(schema, good) == []
    assert validate(schema, {**good, "port": 80, "list": [None], "mode": "b", "count": 0}) == []
    cases = {
        "name: longer than 3": {**good, "name": "abcd"},
        "name: 'A1' does not match": {**good, "name": "A1"},
        "port: expected an integer or a string, got boolean": {**good, "port": True},
        "labels.k: expected string, got integer": {**good, "labels": {"k": 1}},
        "list: at most 1 items": {**good, "list": [{}, {}]},
        "list[0].x: pruned: unknown field": {**good, "list": [{"x": 1}]},
        "mode: 'c' is not one of": {**good, "mode": "c"},
        "count: -1 is less than 0": {**good, "count": -1},
        "count: expected integer, got boolean": {**good, "count": True},
        "flag: expected boolean, got string": {**good, "flag": "true"},
        "flag: pruned: null value": {**good, "flag": None},
        "name: required field is missing": {"port": 1},
        "typo: pruned: unknown field": {**good, "typo": 1},
    }
    for want, doc in cases.items():
        got = [str(p) for p in validate(schema, doc)]
        assert any(g.startswith(want) for g in got), f"{want!r} not in {got}"
