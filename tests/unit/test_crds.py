"""The CRDs in install/kubernetes/crds/: generated from the policy model, structural, and accepting.

A small validator for the OpenAPI v3 subset Kubernetes uses checks every upstream example policy
(../shared/reference/policies/**) and every policy in our own docs against the matching CRD. It
reports what Kubernetes would prune (an unknown field under a non-preserving object, a null where
the schema is not nullable) as a failure: Kubernetes would drop it silently. ``x-kubernetes-
validations`` rules are evaluated with cel-python.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import celpy
import pytest
import yaml
from celpy.adapter import json_to_cel

from tetragon_core.policy import PolicyError, constants as c, parse_policy

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "install" / "kubernetes" / "crds"
POLICY_DIR = REPO_ROOT.parent / "shared" / "reference" / "policies"
KUBERNETES_DOC = REPO_ROOT / "docs" / "kubernetes.md"
POLICY_KINDS = (c.KIND_CLUSTER, c.KIND_NAMESPACED)
#: kubectl's client-side apply stores the object in an annotation of at most this many bytes
LAST_APPLIED_LIMIT = 262144

#: file -> (kind, plural, singular, short name, scope, status subresource): upstream's names
EXPECTED = {
    "cilium.io_tracingpolicies.yaml": (
        "TracingPolicy",
        "tracingpolicies",
        "tracingpolicy",
        "tgtp",
        "Cluster",
        True,
    ),
    "cilium.io_tracingpoliciesnamespaced.yaml": (
        "TracingPolicyNamespaced",
        "tracingpoliciesnamespaced",
        "tracingpolicynamespaced",
        "tgtpn",
        "Namespaced",
        True,
    ),
    "cilium.io_podinfo.yaml": ("PodInfo", "podinfo", "podinfo", "tgpi", "Namespaced", False),
}


# --- the generator ---------------------------------------------------------------------------


def _load_generator() -> ModuleType:
    name = "_tetragon_tools_gen_crds"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tools" / "gen_crds.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@cache
def _crds() -> dict[str, dict[str, Any]]:
    out = {}
    for name in EXPECTED:
        docs = [d for d in yaml.safe_load_all((CRD_DIR / name).read_text()) if d is not None]
        assert len(docs) == 1, f"{name}: expected one document, got {len(docs)}"
        out[name] = docs[0]
    return out


def _crd_for(kind: str) -> dict[str, Any]:
    (crd,) = [crd for crd in _crds().values() if crd["spec"]["names"]["kind"] == kind]
    return crd


def _schema(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_manifests_are_generated_from_the_model() -> None:
    """The checked-in manifests are what tools/gen_crds.py makes of the policy model today."""
    gen = _load_generator()
    built = gen.build_crds()
    assert set(built) == set(EXPECTED) == {p.name for p in CRD_DIR.glob("*.yaml")}
    for name, crd in built.items():
        path = CRD_DIR / name
        assert path.read_text() == gen.render(crd), f"{path} is stale: run .venv/bin/python tools/gen_crds.py"
    assert gen.main(["--check"]) == 0


def test_generator_refuses_a_constraint_on_a_missing_field(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _load_generator()
    from tetragon_core.policy import model

    monkeypatch.setitem(gen._CONSTRAINTS, (model.KProbeSpec, "calls"), {"maxLength": 1})
    with pytest.raises(SystemExit, match="KProbeSpec has no field 'calls'"):
        gen.build_crds()


# --- a structural-schema checker -------------------------------------------------------------

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}
_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "properties",
        "required",
        "items",
        "enum",
        "additionalProperties",
        "nullable",
        "default",
        "format",
        "maxItems",
        "minItems",
        "maxLength",
        "minLength",
        "maxProperties",
        "minProperties",
        "pattern",
        "minimum",
        "maximum",
        "x-kubernetes-int-or-string",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-validations",
        "x-kubernetes-list-type",
        "x-kubernetes-map-type",
    }
)
_FORMATS = {
    "string": {"date-time", "date", "byte", "uri", "ipv4", "ipv6", "cidr"},
    "integer": {"int32", "int64"},
}


def structural_problems(schema: Any, path: str = "", *, root: bool = True) -> list[str]:
    """Why ``schema`` is not a structural schema in our subset (empty list: it is)."""
    where = path or "<root>"
    if not isinstance(schema, dict):
        return [f"{where}: a schema must be a mapping"]
    out = [f"{where}: keyword {k!r} is not in the supported subset" for k in schema if k not in _KEYWORDS]
    typ = schema.get("type")
    int_or_string = schema.get("x-kubernetes-int-or-string") is True
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    for flag in ("nullable", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields"):
        if flag in schema and not isinstance(schema[flag], bool):
            out.append(f"{where}: {flag} must be a boolean")
    if int_or_string and typ is not None:
        out.append(f"{where}: x-kubernetes-int-or-string must not have a type")
    if typ is None and not (int_or_string or preserve):
        out.append(f"{where}: no type")
    if typ is not None and typ not in _TYPES:
        out.append(f"{where}: unknown type {typ!r}")
    if "description" in schema and not isinstance(schema["description"], str):
        out.append(f"{where}: description must be a string")
    if "format" in schema and schema["format"] not in _FORMATS.get(typ or "", set()):
        out.append(f"{where}: format {schema['format']!r} does not fit type {typ!r}")
    props = schema.get("properties")
    addl = schema.get("additionalProperties")
    if typ == "object":
        if props is None and addl is None and not preserve:
            out.append(
                f"{where}: an object needs properties, additionalProperties or preserve-unknown-fields"
            )
        if props is not None and addl is not None:
            out.append(f"{where}: properties and additionalProperties are mutually exclusive")
    elif props is not None or addl is not None or "required" in schema:
        out.append(f"{where}: properties/additionalProperties/required on a non-object")
    if addl is not None and not isinstance(addl, dict):
        out.append(f"{where}: additionalProperties must be a schema (false/true are not structural)")
    for req in schema.get("required", []):
        if req not in (props or {}):
            out.append(f"{where}: required {req!r} is not a property")
    if typ == "array" and not isinstance(schema.get("items"), dict):
        out.append(f"{where}: an array needs one items schema")
    if typ != "array" and "items" in schema:
        out.append(f"{where}: items on a non-array")
    if "enum" in schema:
        bare = {k: v for k, v in schema.items() if k not in ("enum", "default", "x-kubernetes-validations")}
        for value in schema["enum"]:
            out += [f"{where}: enum value {value!r}: {p}" for p in validate(bare, value, path)]
    if "default" in schema:
        out += [f"{where}: default: {p}" for p in validate(schema, schema["default"], path)]
    for rule in schema.get("x-kubernetes-validations", []):
        if not isinstance(rule, dict) or not isinstance(rule.get("rule"), str):
            out.append(f"{where}: x-kubernetes-validations entries need a rule")
            continue
        try:
            _cel_program(rule["rule"])
        except Exception as exc:
            out.append(f"{where}: rule {rule['rule']!r} does not compile: {exc}")
    for key, sub in (props or {}).items():
        sub_path = f"{path}.{key}" if path else key
        if root and key == "metadata":
            if sub != {"type": "object"}:
                out.append(f"{sub_path}: metadata may only be {{type: object}} at the root")
            continue
        out += structural_problems(sub, sub_path, root=False)
    if isinstance(addl, dict):
        out += structural_problems(addl, f"{path}.*", root=False)
    if isinstance(schema.get("items"), dict):
        out += structural_problems(schema["items"], f"{path}[]", root=False)
    return out


# --- a validator of the OpenAPI v3 subset Kubernetes uses ------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reason a document does not fit a schema; ``pruned``: Kubernetes would drop the value."""

    path: str
    message: str
    pruned: bool = False

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {'pruned: ' if self.pruned else ''}{self.message}"


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@cache
def _cel_program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _kind(value: object) -> str:
    if value is None:
        return "null"
    for name, tp in _TYPES.items():
        if isinstance(value, bool) != (name == "boolean"):
            continue
        if isinstance(value, tp):
            return name
    return type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def validate(schema: dict[str, Any], value: Any, path: str = "", *, root: bool = False) -> list[Problem]:
    """Problems of ``value`` against ``schema``; ``root``: the schema is a CRD's openAPIV3Schema."""
    out: list[Problem] = []
    _validate(schema, value, path, out, root)
    return out


def _validate(schema: dict[str, Any], value: Any, path: str, out: list[Problem], root: bool) -> None:
    if value is None:
        if not schema.get("nullable"):
            out.append(Problem(path, "null is not allowed here (not nullable)"))
        return
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            out.append(Problem(path, f"expected an integer or a string, got {_kind(value)}"))
            return
    elif "type" in schema:
        if _kind(value) != schema["type"] and not (schema["type"] == "number" and _kind(value) == "integer"):
            out.append(Problem(path, f"expected {schema['type']}, got {_kind(value)}"))
            return
    elif not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.append(Problem(path, "the schema has no type"))
        return
    if "enum" in schema and value not in schema["enum"]:
        out.append(Problem(path, f"{value!r} is not one of {schema['enum']}"))
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(Problem(path, f"longer than {schema['maxLength']} characters"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(Problem(path, f"shorter than {schema['minLength']} characters"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(Problem(path, f"{value!r} does not match {schema['pattern']!r}"))
        if schema.get("format") == "date-time" and not _DATE_TIME.match(value):
            out.append(Problem(path, f"{value!r} is not an RFC 3339 date-time"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(Problem(path, f"{value} is less than {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            out.append(Problem(path, f"{value} is greater than {schema['maximum']}"))
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(Problem(path, f"at most {schema['maxItems']} items allowed, got {len(value)}"))
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append(Problem(path, f"at least {schema['minItems']} items needed, got {len(value)}"))
        items = schema.get("items")
        for i, item in enumerate(value):
            if items is not None:
                _validate(items, item, f"{path}[{i}]", out, False)
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                out.append(Problem(f"{path}[{i}]", "no items schema", pruned=True))
    if isinstance(value, dict):
        _validate_object(schema, value, path, out, root)
    for rule in schema.get("x-kubernetes-validations", []):
        try:
            ok = _cel_program(rule["rule"]).evaluate({"self": json_to_cel(value)})
        except Exception as exc:
            ok = exc
        if ok is not True and not (isinstance(ok, celpy.celtypes.BoolType) and bool(ok)):
            out.append(Problem(path, f"{rule.get('message', 'rule failed')} (rule {rule['rule']!r})"))


def _validate_object(
    schema: dict[str, Any], value: dict[str, Any], path: str, out: list[Problem], root: bool
) -> None:
    props: dict[str, Any] = schema.get("properties", {})
    addl = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        out.append(Problem(path, f"at most {schema['maxProperties']} properties allowed"))
    for req in schema.get("required", []):
        if value.get(req) is None:
            out.append(Problem(_join(path, req), "required field is missing"))
    for key, item in value.items():
        sub = _join(path, str(key))
        if root and key == "metadata":
            if not isinstance(item, dict):
                out.append(Problem(sub, f"expected object, got {_kind(item)}"))
            continue  # ObjectMeta is the API server's
        if key in props:
            if item is None and not props[key].get("nullable"):
                out.append(Problem(sub, "null value of a non-nullable field", pruned=True))
                continue
            _validate(props[key], item, sub, out, False)
        elif isinstance(addl, dict):
            _validate(addl, item, sub, out, False)
        elif not preserve:
            out.append(Problem(sub, "unknown field", pruned=True))


def validate_document(doc: dict[str, Any]) -> list[Problem]:
    """A TracingPolicy / TracingPolicyNamespaced / PodInfo document against its CRD."""
    crd = _crd_for(doc.get("kind", ""))
    spec = crd["spec"]
    problems = validate(_schema(crd), doc, root=True)
    want = f"{spec['group']}/{spec['versions'][0]['name']}"
    if doc.get("apiVersion") != want:
        problems.append(Problem("apiVersion", f"expected {want}, got {doc.get('apiVersion')!r}"))
    if spec["scope"] == "Cluster" and "namespace" in (doc.get("metadata") or {}):
        problems.append(Problem("metadata.namespace", "a cluster-scoped object has no namespace"))
    return problems


# --- (a) the manifests are valid structural CRDs ---------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_crd_shape(name: str) -> None:
    crd = _crds()[name]
    kind, plural, singular, short, scope, status = EXPECTED[name]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    spec = crd["spec"]
    assert spec["group"] == "cilium.io"
    assert crd["metadata"]["name"] == f"{plural}.cilium.io"
    names = spec["names"]
    assert names["kind"] == kind and names["listKind"] == f"{kind}List"
    assert names["plural"] == plural and names["singular"] == singular
    assert names["shortNames"] == [short]
    for value in (plural, singular, short, *names.get("categories", [])):
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value), value
    assert spec["scope"] == scope
    versions = spec["versions"]
    assert [v["name"] for v in versions] == ["v1alpha1"]
    assert all(v["served"] is True for v in versions)
    assert sum(v["storage"] is True for v in versions) == 1
    for version in versions:
        assert set(version) <= {
            "name",
            "served",
            "storage",
            "schema",
            "subresources",
            "additionalPrinterColumns",
        }
        schema = version["schema"]["openAPIV3Schema"]
        assert schema["type"] == "object"
        assert {"apiVersion", "kind", "metadata", "spec"} <= set(schema["properties"])
        assert version.get("subresources", {}) == ({"status": {}} if status else {})
        if status:
            assert "status" in schema["properties"]
    assert len(json.dumps(crd, separators=(",", ":"))) < LAST_APPLIED_LIMIT, "too big for kubectl apply"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_crd_schema_is_structural(name: str) -> None:
    problems = structural_problems(_schema(_crds()[name]))
    assert not problems, "\n".join(problems)


def _resolves(schema: dict[str, Any], json_path: str) -> bool:
    node = schema
    parts = json_path.lstrip(".").split(".")
    if parts[0] == "metadata":
        return parts[1:] in (["name"], ["namespace"], ["creationTimestamp"], ["generation"])
    for part in parts:
        if part not in node.get("properties", {}):
            return False
        node = node["properties"][part]
    return True


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_printer_columns_name_schema_fields(name: str) -> None:
    for version in _crds()[name]["spec"]["versions"]:
        for column in version.get("additionalPrinterColumns", []):
            assert column["type"] in ("string", "integer", "number", "boolean", "date")
            assert _resolves(version["schema"]["openAPIV3Schema"], column["jsonPath"]), column


def test_both_policy_kinds_share_one_spec_and_status() -> None:
    cluster = _schema(_crd_for(c.KIND_CLUSTER))["properties"]
    namespaced = _schema(_crd_for(c.KIND_NAMESPACED))["properties"]
    assert cluster["spec"] == namespaced["spec"]
    assert cluster["status"] == namespaced["status"]


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


# --- (b) every upstream example policy validates ---------------------------------------------


def _policy_docs(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return [d for d in docs if isinstance(d, dict) and d.get("kind") in POLICY_KINDS]


EXAMPLES = sorted(p for p in POLICY_DIR.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def test_upstream_examples_present() -> None:
    assert POLICY_DIR.is_dir(), f"shared example policies missing: {POLICY_DIR}"
    assert sum(len(_policy_docs(p)) for p in EXAMPLES) >= 43
    assert any(p.parent.name == "cves" for p in EXAMPLES)


def _spec_keys() -> set[str]:
    return set(_schema(_crd_for(c.KIND_CLUSTER))["properties"]["spec"]["properties"])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(POLICY_DIR)))
def test_upstream_example_validates(path: Path) -> None:
    docs = _policy_docs(path)
    assert docs, f"{path}: no TracingPolicy document"
    for doc in docs:
        problems = validate_document(doc)
        assert not problems, f"{path}:\n" + "\n".join(map(str, problems))
        # spec keeps unknown keys for plugin sections; the examples must not lean on that
        assert set(doc.get("spec") or {}) <= _spec_keys()
        parse_policy(yaml.safe_dump(doc))  # and the agent takes what Kubernetes stores


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(POLICY_DIR)))
def test_upstream_example_validates_as_namespaced(path: Path) -> None:
    for doc in _policy_docs(path):
        if "hostSelector" in (doc.get("spec") or {}):
            continue
        doc = {**doc, "kind": c.KIND_NAMESPACED, "metadata": {**doc["metadata"], "namespace": "default"}}
        problems = validate_document(doc)
        assert not problems, f"{path}:\n" + "\n".join(map(str, problems))


# --- what the parser accepts, the schema accepts -------------------------------------------------

HEAD = {"apiVersion": "cilium.io/v1alpha1", "kind": "TracingPolicy", "metadata": {"name": "t"}}


def _policy(spec: dict[str, Any], kind: str = "TracingPolicy") -> dict[str, Any]:
    return {**HEAD, "kind": kind, "spec": spec}


def _kprobe(**fields: Any) -> dict[str, Any]:
    return {"kprobes": [{"call": "fd_install", "syscall": False, **fields}]}


ACCEPTED = {
    "lower-case operator": _kprobe(
        args=[{"index": 1, "type": "file"}],
        selectors=[{"matchArgs": [{"index": 1, "operator": "prefix", "values": ["/etc"]}]}],
    ),
    "eq alias": _kprobe(
        args=[{"index": 0, "type": "int"}],
        selectors=[{"matchArgs": [{"index": 0, "operator": "eq", "values": ["3"]}]}],
    ),
    "empty enums": {
        **_kprobe(
            returnArgAction="", selectors=[{"matchActions": [{"action": "Post", "rateLimitScope": ""}]}]
        ),
        "lists": [{"name": "l", "type": "", "values": ["a"]}],
    },
    "hostSelector {}": {**_kprobe(), "hostSelector": {}},
    "hostSelector with empty fields": {
        **_kprobe(),
        "hostSelector": {"matchLabels": {}, "matchExpressions": []},
    },
    "fentries and macros": {
        "fentries": [{"call": "security_file_open", "selectors": [{"macros": ["m"]}]}],
        "selectorsMacros": {"m": {"matchBinaries": [{"operator": "In", "values": ["/bin/sh"]}]}},
    },
    "workloads and nodes": {
        **_kprobe(
            selectors=[
                {
                    "matchWorkloads": {
                        "podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                        "containerSelector": {"matchLabels": {"name": "main"}},
                    }
                }
            ]
        ),
        "nodeSelector": {"matchLabels": {"kubernetes.io/os": "linux"}},
        "options": [{"name": "policy-mode", "value": "monitor"}],
    },
    "uprobe override": {
        "uprobes": [
            {
                "path": "/bin/true",
                "symbols": ["main"],
                "selectors": [
                    {"matchActions": [{"action": "Override", "argRegs": ["rax=1"], "argError": -1}]}
                ],
            }
        ]
    },
    "null list item": _kprobe(selectors=[None]),
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_schema_accepts_what_the_parser_accepts(name: str) -> None:
    doc = _policy(ACCEPTED[name])
    parse_policy(yaml.safe_dump(doc))
    assert validate_document(doc) == []


def test_plugin_sections_reach_the_agent() -> None:
    """spec keeps keys that sensor plugins claim; the agent refuses unclaimed ones by name."""
    doc = _policy({"myFlows": {"ports": [80]}})
    assert validate_document(doc) == []
    parse_policy(yaml.safe_dump(doc), claimed_sections={"myFlows": "my_sensor:MySensor"})
    with pytest.raises(PolicyError, match="no installed sensor plugin claims it"):
        parse_policy(yaml.safe_dump(doc))


def test_operator_enum_is_every_spelling_the_parser_accepts() -> None:
    spec = _schema(_crd_for(c.KIND_CLUSTER))["properties"]["spec"]
    selector = spec["properties"]["kprobes"]["items"]["properties"]["selectors"]["items"]
    for key in ("matchArgs", "matchData", "matchReturnArgs"):
        enum = selector["properties"][key]["items"]["properties"]["operator"]["enum"]
        assert all(c.canonical_operator(op) is not None for op in enum)
        assert set(c.ARG_OPERATORS) | {"eq", "neq"} | {op.lower() for op in c.ARG_OPERATORS} == set(enum)
    actions = selector["properties"]["matchActions"]["items"]["properties"]["action"]["enum"]
    assert set(actions) == set(c.ACTIONS) and not set(actions) & c.REMOVED_ACTIONS


# --- (c) wrong documents are rejected ------------------------------------------------------------

REJECTED: dict[str, tuple[dict[str, Any], str, str]] = {
    # name: (policy, kind, expected problem)
    "syscall not a boolean": (
        _kprobe(syscall="yes"),
        "TracingPolicy",
        "spec.kprobes[0].syscall: expected boolean",
    ),
    "unknown operator": (
        _kprobe(
            args=[{"index": 0, "type": "int"}],
            selectors=[{"matchArgs": [{"operator": "Equals", "values": ["1"]}]}],
        ),
        "TracingPolicy",
        "spec.kprobes[0].selectors[0].matchArgs[0].operator: 'Equals' is not one of",
    ),
    "removed action": (
        _kprobe(selectors=[{"matchActions": [{"action": "FollowFD"}]}]),
        "TracingPolicy",
        "matchActions[0].action: 'FollowFD' is not one of",
    ),
    "unknown arg type": (
        _kprobe(args=[{"index": 0, "type": "int128"}]),
        "TracingPolicy",
        "args[0].type: 'int128' is not one of",
    ),
    "missing call": ({"kprobes": [{"syscall": False}]}, "TracingPolicy", "spec.kprobes[0].call: required"),
    "typo in a kprobe": (
        _kprobe(selector=[]),
        "TracingPolicy",
        "spec.kprobes[0].selector: pruned: unknown field",
    ),
    "too many tags": (_kprobe(tags=[f"t{i}" for i in range(17)]), "TracingPolicy", "tags: at most 16 items"),
    "message too long": (_kprobe(message="x" * 300), "TracingPolicy", "message: longer than 256"),
    "pid as a string": (
        _kprobe(selectors=[{"matchPIDs": [{"operator": "In", "values": ["1"]}]}]),
        "TracingPolicy",
        "matchPIDs[0].values[0]: expected integer, got string",
    ),
    "negative index": (
        _kprobe(args=[{"index": -1, "type": "int"}]),
        "TracingPolicy",
        "args[0].index: -1 is less",
    ),
    "args not a list": (_kprobe(args="int"), "TracingPolicy", "spec.kprobes[0].args: expected array"),
    "bad rate limit": (
        _kprobe(selectors=[{"matchActions": [{"action": "Post", "rateLimit": "1 minute"}]}]),
        "TracingPolicy",
        "rateLimit: '1 minute' does not match",
    ),
    "hostSelector with labels": (
        {**_kprobe(), "hostSelector": {"matchLabels": {"a": "b"}}},
        "TracingPolicy",
        "spec.hostSelector: hostSelector must be null or {}",
    ),
    "namespaced hostSelector": (
        {**_kprobe(), "hostSelector": {}},
        "TracingPolicyNamespaced",
        "<root>: TracingPolicyNamespaced must not set spec.hostSelector",
    ),
    "unknown label operator": (
        {**_kprobe(), "podSelector": {"matchExpressions": [{"key": "app", "operator": "Has"}]}},
        "TracingPolicy",
        "spec.podSelector.matchExpressions[0].operator: 'Has' is not one of",
    ),
    "unknown namespace type": (
        _kprobe(selectors=[{"matchNamespaces": [{"namespace": "Mount", "operator": "In", "values": ["1"]}]}]),
        "TracingPolicy",
        "namespace: 'Mount' is not one of",
    ),
}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_wrong_documents_are_rejected(name: str) -> None:
    spec, kind, want = REJECTED[name]
    doc = _policy(spec, kind)
    got = [str(p) for p in validate_document(doc)]
    assert any(want in g for g in got), f"{want!r} not in {got}"
    with pytest.raises(PolicyError):  # the agent refuses it as well
        parse_policy(yaml.safe_dump(doc))


def test_wrong_api_version_and_namespaced_cluster_policy() -> None:
    doc = {**_policy(_kprobe()), "apiVersion": "cilium.io/v1"}
    assert [str(p) for p in validate_document(doc)] == [
        "apiVersion: expected cilium.io/v1alpha1, got 'cilium.io/v1'"
    ]
    doc = {**_policy(_kprobe()), "metadata": {"name": "t", "namespace": "x"}}
    assert any("cluster-scoped" in str(p) for p in validate_document(doc))


# --- (d) our own docs and examples ---------------------------------------------------------------

_START = re.compile(r"^(\s*)apiVersion:\s*['\"]?cilium\.io/v1alpha1['\"]?\s*$")


def _embedded_policies(text: str) -> list[dict[str, Any]]:
    """TracingPolicy documents written in a Markdown file (fenced blocks and shell heredocs)."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        match = _START.match(lines[i])
        if not match:
            i += 1
            continue
        indent = len(match.group(1))
        block = [lines[i]]
        i += 1
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            if stripped.startswith("```") or stripped in ("YAML", "EOF", "---"):
                break
            if stripped and len(line) - len(line.lstrip()) < indent:
                break
            block.append(line)
            i += 1
        doc = yaml.safe_load(textwrap.dedent("\n".join(block)))
        if isinstance(doc, dict) and doc.get("kind") in POLICY_KINDS:
            out.append(doc)
    return out


def _own_policy_sources() -> list[Path]:
    found = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
    for base in ("examples", "docs", "tests", "install"):
        for ext in ("*.yaml", "*.yml"):
            # a Helm chart's templates are Go templates, not YAML (tests/unit/test_chart.py renders them)
            found += sorted(p for p in (REPO_ROOT / base).rglob(ext) if "templates" not in p.parts)
    return found


def _own_policies() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in _own_policy_sources():
        rel = str(path.relative_to(REPO_ROOT))
        if path.suffix == ".md":
            docs = _embedded_policies(path.read_text())
        else:
            docs = _policy_docs(path)
        out += [(f"{rel}#{i}", doc) for i, doc in enumerate(docs)]
    return out


OWN = _own_policies()


def test_own_policies_found() -> None:
    names = {name.split("#")[0] for name, _ in OWN}
    assert {"README.md", "docs/kubernetes.md"} <= names


@pytest.mark.parametrize(("name", "doc"), OWN, ids=[name for name, _ in OWN])
def test_own_policy_validates(name: str, doc: dict[str, Any]) -> None:
    problems = validate_document(doc)
    assert not problems, f"{name}:\n" + "\n".join(map(str, problems))
    parse_policy(yaml.safe_dump(doc))


# --- status -------------------------------------------------------------------------------------


def _status_schema() -> dict[str, Any]:
    schema: dict[str, Any] = _schema(_crd_for(c.KIND_CLUSTER))["properties"]["status"]
    return schema


def test_status_shape_the_agent_writes() -> None:
    node = {
        "state": "enabled",
        "error": "",
        "mode": "enforce",
        "observedGeneration": 3,
        "sensors": ["generic_kprobe"],
        "kernelMemoryBytes": 1 << 20,
        "lastTransitionTime": "2025-01-02T03:04:05Z",
    }
    status = {
        "nodes": {"node-a": node, "node-b": {"state": "load_error", "error": "spec.kprobes[0].call: ..."}}
    }
    doc = {**_policy(_kprobe()), "status": status}
    assert validate_document(doc) == []
    assert validate_document({**doc, "kind": c.KIND_NAMESPACED}) == []
    bad = {"nodes": {"node-a": {"state": "running", "kernelMemoryBytes": -1, "lastTransitionTime": "now"}}}
    got = "\n".join(str(p) for p in validate(_status_schema(), bad, "status"))
    for want in (
        "state: 'running' is not one of",
        "kernelMemoryBytes: -1 is less",
        "'now' is not an RFC 3339",
    ):
        assert want in got
    assert any(p.pruned for p in validate(_status_schema(), {"nodes": {"n": {"state": "enabled", "x": 1}}}))
    assert any("required" in str(p) for p in validate(_status_schema(), {"nodes": {"n": {}}}))


def test_status_states_are_the_registry_states() -> None:
    from tetragon_core.policy import registry

    states = _status_schema()["properties"]["nodes"]["additionalProperties"]["properties"]["state"]["enum"]
    assert {registry.ENABLED, registry.DISABLED, registry.LOAD_ERROR, registry.ERROR} <= set(states)


def _crds_section() -> str:
    text = KUBERNETES_DOC.read_text()
    match = re.search(r"^## CRDs\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"{KUBERNETES_DOC} has no '## CRDs' section"
    return match.group(1)


def test_docs_describe_the_status_shape() -> None:
    section = _crds_section()
    assert "kubectl apply -f install/kubernetes/crds/" in section
    node = _status_schema()["properties"]["nodes"]["additionalProperties"]
    for field in ["nodes", *node["properties"]]:
        assert f"`{field}`" in section, f"docs/kubernetes.md does not describe status field {field!r}"
    for state in node["properties"]["state"]["enum"]:
        assert state in section, f"docs/kubernetes.md does not list state {state!r}"


def test_podinfo_document_validates() -> None:
    doc: dict[str, Any] = {
        "apiVersion": "cilium.io/v1alpha1",
        "kind": "PodInfo",
        "metadata": {"name": "web-0", "namespace": "default"},
        "spec": {"hostNetwork": False, "nodeName": "node-a"},
        "status": {"podIP": "10.0.0.5", "podIPs": [{"IP": "10.0.0.5"}, {"IP": "fd00::5"}]},
        "workloadObject": {"name": "web", "namespace": "default"},
        "workloadType": {"apiVersion": "apps/v1", "kind": "StatefulSet"},
    }
    assert validate_document(doc) == []
    bad = copy.deepcopy(doc)
    bad["spec"]["hostname"] = "web-0"
    bad["status"]["podIPs"] = [{"ip": "10.0.0.5"}]
    got = [str(p) for p in validate_document(bad)]
    assert "spec.hostname: pruned: unknown field" in got
    assert "status.podIPs[0].ip: pruned: unknown field" in got
