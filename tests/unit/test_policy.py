"""Tests of tetragon_core.policy: shared example policies parse; malformed ones are refused precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from tetragon_core.exceptions import ConfigError
from tetragon_core.policy import KProbeSpec, PolicyError, parse_policy

POLICY_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "policies"
EXAMPLES = sorted([*POLICY_DIR.rglob("*.yaml"), *POLICY_DIR.rglob("*.yml")])


def test_examples_present() -> None:
    assert POLICY_DIR.is_dir(), f"shared example policies missing: {POLICY_DIR}"
    assert len(EXAMPLES) == 43, f"expected 43 example policies under {POLICY_DIR}, found {len(EXAMPLES)}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(POLICY_DIR)))
def test_example_policy_parses(path: Path) -> None:
    policy = parse_policy(path.read_text())
    assert policy.api_version == "cilium.io/v1alpha1"
    assert policy.name


HEAD = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\n"


def test_kprobe_defaults() -> None:
    policy = parse_policy(
        HEAD + "spec:\n  kprobes:\n  - call: fd_install\n    args:\n    - index: 0\n      type: int\n"
    )
    kp = policy.spec.kprobes[0]
    assert isinstance(kp, KProbeSpec)
    assert kp.syscall is True and kp.return_ is False and kp.selectors == []
    assert kp.args[0].type == "int"
    tp = parse_policy(
        HEAD + "spec:\n  tracepoints:\n  - subsystem: raw_syscalls\n    event: sys_enter\n    args:\n"
        "    - index: 4\n"
    )
    assert tp.spec.tracepoints[0].args[0].type == "auto"
    assert not tp.namespaced


def _tp_sel(sel: str) -> str:
    """A tracepoint policy with two selectors; ``sel`` is the body of the second one."""
    return (
        HEAD + "spec:\n  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_openat\n    args:\n"
        "    - index: 0\n      type: int\n    selectors:\n    - matchArgs:\n      - index: 0\n"
        "        operator: Equal\n        values: ['1']\n    - " + sel
    )


def _kp(body: str) -> str:
    return (
        HEAD + "spec:\n  kprobes:\n  - call: fd_install\n    args:\n    - index: 0\n      type: int\n" + body
    )


BAD: list[tuple[str, str, str]] = [
    (
        "unknown-operator",
        _tp_sel("matchArgs:\n      - index: 0\n        operator: Equl\n        values: ['1']\n"),
        "spec.tracepoints[0].selectors[1].matchArgs[0].operator: unknown operator 'Equl'",
    ),
    (
        "unknown-spec-field",
        HEAD + "spec:\n  kprobe: []\n",
        "spec.kprobe: unknown field: no installed sensor plugin claims it (plugin sections: none)",
    ),
    (
        "wrong-api",
        HEAD.replace("v1alpha1", "v2"),
        "apiVersion: unsupported apiVersion 'cilium.io/v2' (expected cilium.io/v1alpha1)",
    ),
    ("wrong-kind", HEAD.replace("kind: TracingPolicy", "kind: Foo"), "kind: unknown kind 'Foo'"),
    (
        "missing-name",
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {}\n",
        "metadata.name: required field is missing",
    ),
    (
        "wrong-type-syscall",
        HEAD + "spec:\n  kprobes:\n  - call: x\n    syscall: maybe\n",
        "spec.kprobes[0].syscall: expected boolean, got string",
    ),
    (
        "wrong-type-index",
        _kp("    selectors:\n    - matchArgs:\n      - index: zero\n"),
        "spec.kprobes[0].selectors[0].matchArgs[0].index: expected integer, got string",
    ),
    (
        "removed-action",
        _kp("    selectors:\n    - matchActions:\n      - action: FollowFD\n"),
        "spec.kprobes[0].selectors[0].matchActions[0].action: action 'FollowFD' has been removed",
    ),
    (
        "unknown-action",
        _kp("    selectors:\n    - matchActions:\n      - action: Kill\n"),
        "spec.kprobes[0].selectors[0].matchActions[0].action: unknown action 'Kill'",
    ),
    (
        "bad-arg-type",
        HEAD + "spec:\n  kprobes:\n  - call: x\n    args:\n    - index: 0\n      type: integer\n",
        "spec.kprobes[0].args[0].type: unknown arg type 'integer'",
    ),
    (
        "auto-in-kprobe",
        HEAD + "spec:\n  kprobes:\n  - call: x\n    args:\n    - index: 0\n",
        "spec.kprobes[0].args[0].type: arg type 'auto' is not supported for kprobes",
    ),
    (
        "bad-namespace",
        _kp(
            "    selectors:\n    - matchNamespaces:\n      - namespace: Pidd\n        operator: In\n"
            "        values: [host_ns]\n"
        ),
        "spec.kprobes[0].selectors[0].matchNamespaces[0].namespace: unknown namespace 'Pidd'",
    ),
    (
        "bad-capability",
        _kp("    selectors:\n    - matchCapabilities:\n      - operator: In\n        values: [CAP_FOO]\n"),
        "spec.kprobes[0].selectors[0].matchCapabilities[0].values[0]: unknown capability 'CAP_FOO'",
    ),
    (
        "too-many-selectors",
        _kp("    selectors:\n" + "    - matchActions:\n      - action: Post\n" * 6),
        "spec.kprobes[0].selectors: at most 5 selectors per hook, got 6",
    ),
    (
        "too-many-args",
        HEAD + "spec:\n  kprobes:\n  - call: x\n    args:\n" + "    - index: 0\n      type: int\n" * 6,
        "spec.kprobes[0].args: at most 5 args+data per hook, got 6",
    ),
    (
        "too-many-values",
        _kp(
            "    selectors:\n    - matchArgs:\n      - index: 0\n        operator: GT\n"
            "        values: ['1','2','3','4','5']\n"
        ),
        "spec.kprobes[0].selectors[0].matchArgs[0].values: operator 'GT' takes at most 4 values, got 5",
    ),
    (
        "too-many-actions",
        _kp("    selectors:\n    - matchActions:\n" + "      - action: Post\n" * 4),
        "spec.kprobes[0].selectors[0].matchActions: at most 3 actions per selector, got 4",
    ),
    (
        "two-match-binaries",
        _kp(
            "    selectors:\n    - matchBinaries:\n" + "      - operator: In\n        values: [/bin/sh]\n" * 2
        ),
        "spec.kprobes[0].selectors[0].matchBinaries: at most 1 entry allowed, got 2",
    ),
    (
        "long-message",
        _kp("    message: " + "m" * 257 + "\n"),
        "spec.kprobes[0].message: longer than 256 characters (257)",
    ),
    (
        "too-many-tags",
        _kp("    tags: [" + ", ".join(f"tag{i}" for i in range(17)) + "]\n"),
        "spec.kprobes[0].tags: at most 16 tags allowed, got 17",
    ),
    (
        "policy-mode",
        HEAD + "spec:\n  options:\n  - name: policy-mode\n    value: audit\n",
        "spec.options[0].value: invalid policy-mode 'audit' (expected enforce or monitor)",
    ),
    (
        "mixed-hooks",
        HEAD + "spec:\n  kprobes:\n  - call: x\n  lsmhooks:\n  - hook: file_open\n",
        "spec: tracing policies with multiple sections of kprobes, tracepoints, lsmhooks, uprobes, usdts or "
        "fentries are not supported (found kprobes, lsmhooks)",
    ),
    (
        "namespaced-host-selector",
        HEAD.replace("TracingPolicy", "TracingPolicyNamespaced") + "spec:\n  hostSelector: {}\n",
        "spec.hostSelector: not allowed in TracingPolicyNamespaced",
    ),
    (
        "unknown-macro",
        _kp("    selectors:\n    - macros: [nope]\n"),
        "spec.kprobes[0].selectors[0].macros[0]: unknown selectors macro 'nope'",
    ),
    ("multi-doc", HEAD + "---\n" + HEAD, "expected one policy document, got 2"),
    (
        "in-for-args",
        _kp(
            "    selectors:\n    - matchArgs:\n      - index: 0\n        operator: In\n"
            "        values: ['1']\n"
        ),
        "spec.kprobes[0].selectors[0].matchArgs[0].operator: operator 'In' is only valid for pids, "
        "namespaces, capabilities and binaries",
    ),
    (
        "unknown-selector-field",
        _kp("    selectors:\n    - matchArg: []\n"),
        "spec.kprobes[0].selectors[0].matchArg: unknown field",
    ),
    (
        "return-without-returnArg",
        _kp("    return: true\n"),
        "spec.kprobes[0].returnArg: required when return is true",
    ),
]


@pytest.mark.parametrize(("text", "message"), [(t, m) for _, t, m in BAD], ids=[n for n, _, _ in BAD])
def test_malformed_policy_rejected(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    assert str(info.value) == message
    assert isinstance(info.value, ConfigError)


def test_lowercase_operator_alias_and_macros() -> None:
    policy = parse_policy(
        HEAD + "spec:\n  selectorsMacros:\n    sh:\n      matchBinaries:\n      - operator: In\n"
        "        values: [/bin/sh]\n  kprobes:\n  - call: fd_install\n    args:\n    - index: 0\n"
        "      type: int\n    selectors:\n    - macros: [sh]\n      matchArgs:\n      - index: 0\n"
        "        operator: eq\n        values: ['3']\n"
    )
    assert policy.spec.selectors_macros["sh"].match_binaries[0].values == ["/bin/sh"]
    assert policy.spec.kprobes[0].selectors[0].match_args[0].operator == "eq"


def test_namespaced_policy() -> None:
    policy = parse_policy(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicyNamespaced\nmetadata:\n  name: n\n"
        "  namespace: default\nspec:\n  options:\n  - name: policy-mode\n    value: monitor\n"
    )
    assert policy.namespaced and policy.namespace == "default"
    assert policy.option("policy-mode") == "monitor"
