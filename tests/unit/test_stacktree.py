"""GetStackTraceTree's aggregation: stack traces of a policy's events folded into a tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from google.protobuf import json_format

from tetragon_core.grpc.stacktree import MAX_DEPTH, StackTraceTrees, StackTree, kprobe_stack


@dataclass
class Frame:
    address: Any  # the Structs carry uint64 as a decimal string; ints are accepted too
    symbol: str = ""
    module: str = ""


@dataclass
class Proc:
    binary: str


@dataclass
class Kprobe:
    policy_name: str
    process: Proc | None
    kernel_stack_trace: list[Frame] = field(default_factory=list)
    user_stack_trace: list[Frame] = field(default_factory=list)


@dataclass
class Event:
    process_kprobe: Kprobe | None = None
    process_exec: object | None = None


def _kev(policy: str, binary: str, *frames: tuple[int, str], user: tuple[Frame, ...] = ()) -> Event:
    kernel = [Frame(str(a), s) for a, s in frames]
    return Event(process_kprobe=Kprobe(policy, Proc(binary), kernel, list(user)))


def _dict(tree: StackTree) -> dict[str, Any]:
    return json_format.MessageToDict(tree.to_proto(), preserving_proto_field_name=True)


OPEN = (0xFFFF0010, "do_sys_openat2")
X64 = (0xFFFF0020, "__x64_sys_openat")
ENTRY = (0xFFFF0030, "do_syscall_64")
X64_CREAT = (0xFFFF0040, "__x64_sys_creat")


def test_traces_fold_into_a_counted_tree_with_binary_labels() -> None:
    trees = StackTraceTrees()
    events: list[Any] = [
        _kev("open-watch", "/bin/cat", OPEN, X64, ENTRY),
        _kev("open-watch", "/bin/cat", OPEN, X64, ENTRY),
        _kev("open-watch", "/usr/bin/vi", OPEN, X64_CREAT),
        _kev("other", "/bin/sh", OPEN),
        Event(process_exec=object()),  # not a kprobe: ignored
        _kev("open-watch", "/bin/true"),  # no frames: nothing to fold
    ]
    assert trees.submit_many(events) == len(events)
    tree = trees.tree("open-watch")
    assert tree is not None and tree.count == 3 and tree.nodes == 4
    assert _dict(tree) == {
        "address": {},
        "count": "3",
        "children": [
            {
                "address": {"address": str(OPEN[0]), "symbol": "do_sys_openat2"},
                "count": "3",
                "labels": [{"key": "/bin/cat", "count": "2"}, {"key": "/usr/bin/vi", "count": "1"}],
                "children": [
                    {
                        "address": {"address": str(X64[0]), "symbol": "__x64_sys_openat"},
                        "count": "2",
                        "labels": [{"key": "/bin/cat", "count": "2"}],
                        "children": [
                            {
                                "address": {"address": str(ENTRY[0]), "symbol": "do_syscall_64"},
                                "count": "2",
                                "labels": [{"key": "/bin/cat", "count": "2"}],
                            }
                        ],
                    },
                    {
                        "address": {"address": str(X64_CREAT[0]), "symbol": "__x64_sys_creat"},
                        "count": "1",
                        "labels": [{"key": "/usr/bin/vi", "count": "1"}],
                    },
                ],
            }
        ],
    }
    other = trees.tree("other")
    assert other is not None and other.count == 1
    assert trees.tree("unknown") is None and "other" in trees and "unknown" not in trees


def test_a_user_stack_continues_the_kernel_one_and_names_its_module() -> None:
    trees = StackTraceTrees()
    user = (Frame(0x7F00_0000_1234, "read", "/usr/lib/libc.so.6"), Frame(0x5555_0000_0042, "", "/bin/cat"))
    trees.submit(_kev("p", "/bin/cat", ENTRY, user=user))
    tree = trees.tree("p")
    assert tree is not None
    chain = []
    node = tree.to_proto()
    while node.children:
        (node,) = node.children
        chain.append((node.address.address, node.address.symbol))
    assert chain == [ENTRY, (0x7F00_0000_1234, "read (/usr/lib/libc.so.6)"), (0x5555_0000_0042, "/bin/cat")]


def test_frames_are_keyed_by_address_and_symbol_and_accept_int_addresses() -> None:
    tree = StackTree(max_nodes=100)
    tree.add([Frame(16, "a")], "x")
    tree.add([Frame("16", "a")], "x")
    tree.add([Frame(16, "b")], "")  # same address, another symbol: another node, no label
    root = tree.to_proto()
    assert [(c.address.address, c.address.symbol, c.count) for c in root.children] == [
        (16, "a", 2),
        (16, "b", 1),
    ]
    assert [(lb.key, lb.count) for lb in root.children[1].labels] == []


def test_trees_are_bounded_in_nodes_depth_and_number() -> None:
    tree = StackTree(max_nodes=3)
    tree.add([Frame(i, f"f{i}") for i in range(5)], "bin")
    assert tree.count == 1 and tree.nodes == 3 and tree.dropped_frames == 2
    tree.add([Frame(0, "f0"), Frame(1, "f1")], "bin")  # existing nodes still count
    assert tree.to_proto().children[0].count == 2

    deep = StackTree(max_nodes=10_000)
    deep.add([Frame(i, "") for i in range(MAX_DEPTH + 30)])
    assert deep.nodes == MAX_DEPTH and deep.dropped_frames == 30
    # the deepest tree still decodes: protobuf refuses messages nested more than 100 deep
    from tetragon_core.api.tetragon import sensors_pb2

    wire = sensors_pb2.GetStackTraceTreeResponse(root=deep.to_proto()).SerializeToString()
    assert sensors_pb2.GetStackTraceTreeResponse.FromString(wire).root.count == 1

    trees = StackTraceTrees(max_trees=2)
    for name in ("a", "b", "a", "c"):
        trees.submit(_kev(name, "/bin/x", OPEN))
    assert "a" in trees and "c" in trees and "b" not in trees
    with pytest.raises(ValueError):
        StackTraceTrees(max_trees=0)


def test_the_accessor_reads_the_real_event_structs() -> None:
    from tetragon_core import events

    kp = events.ProcessKprobe(
        process=events.Process(binary="/bin/cat"),
        policy_name="pol",
        kernel_stack_trace=[events.StackTraceEntry(address="18446744071562134241", symbol="vfs_read")],
    )
    ev = events.GetEventsResponse(process_kprobe=kp)
    sample = kprobe_stack(ev)
    assert sample is not None and sample.policy == "pol" and sample.label == "/bin/cat"
    trees = StackTraceTrees()
    trees.submit_many([ev, events.GetEventsResponse()])
    tree = trees.tree("pol")
    assert tree is not None
    (child,) = tree.to_proto().children
    assert (child.address.address, child.address.symbol) == (18446744071562134241, "vfs_read")
