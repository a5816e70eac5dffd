"""Pieces of GetInfo, ListDomains and tetra's new subcommands that need no server."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tetragon_core.cli.tetra_info import parse_annotations, print_tree
from tetragon_core.exceptions import TetragonError
from tetragon_core.grpc.info import go_duration
from tetragon_core.grpc.stacktree import StackTree
from tetragon_core.policy.registry import PolicyRegistry
from tetragon_core.policy.startup import load_startup_policies

POLICIES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "policies"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (2e-9, "2ns"),
        (1.5e-6, "1.5µs"),
        (0.5, "500ms"),
        (0.0015, "1.5ms"),
        (10, "10s"),
        (1.25, "1.25s"),
        (90, "1m30s"),
        (3600, "1h0m0s"),
        (3661.5, "1h1m1.5s"),
        (-15, "-15s"),
    ],
)
def test_go_duration_writes_what_go_would(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_annotations_flag_reads_like_cobras_string_to_string() -> None:
    assert parse_annotations(["a=1,b=x=y", "c=", "d=4"]) == {"a": "1", "b": "x=y", "c": "", "d": "4"}
    assert parse_annotations([]) == {}
    with pytest.raises(TetragonError, match="--annotations: 'oops' is not key=value"):
        parse_annotations(["a=1,oops"])


def test_print_tree_prints_leaf_labels_only() -> None:
    class F:
        def __init__(self, address: int, symbol: str) -> None:
            self.address, self.symbol = address, symbol

    tree = StackTree(max_nodes=10)
    tree.add([F(0x10, "a"), F(0x20, "b")], "/bin/x")
    tree.add([F(0x10, "a")], "/bin/y")
    out = io.StringIO()
    print_tree(tree.to_proto(), out=out)
    assert out.getvalue().splitlines() == [
        "0x0 () count:2",
        "    0x10 (a) count:2",
        "        0x20 (b) count:1",
        "            /bin/x count:1",
    ]


def test_policies_know_their_domain(tmp_path: Path) -> None:
    reg = PolicyRegistry(lambda: {"generic_kprobe", "generic_tracepoint"})
    assert reg.domains() == []
    (tmp_path / "rawtp.yaml").write_text((POLICIES / "rawtp.yaml").read_text())
    load_startup_policies(reg, "", str(tmp_path))
    assert [(e.policy.name, e.domain) for e in reg.list()] == [("rawtp", "static")]
    reg.add((POLICIES / "stack_traces.yaml").read_text())
    reg.add((POLICIES / "write.yaml").read_text(), "k8s")
    assert reg.domains() == ["grpc", "k8s", "static"]
