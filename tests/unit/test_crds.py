"""The CRDs in install/kubernetes/crds/: generated from the policy model, structural, and accepting.

The validator of tests/crdschema.py (the OpenAPI v3 subset Kubernetes uses) checks every
upstream example policy (../shared/reference/policies/**) and every policy in our own docs
against the matching CRD; what Kubernetes would prune silently counts as a failure.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
import textwrap
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.crdschema import Problem, structural_problems, validate
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
