"""Stack trace trees behind ``GetStackTraceTree``: the stack traces of each policy's events, folded.

A sink like the exporters: it sees every ``GetEventsResponse`` and folds the frames of those that
carry a stack trace (``process_kprobe.kernel_stack_trace`` then ``user_stack_trace``; a user stack
continues the kernel one outwards) into the tree of their ``policy_name``, as upstream's
``pkg/stacktracetree`` did (Tetragon 1.2–1.6):

* the root (address 0) counts the stack traces folded;
* each frame is a node keyed by (address, symbol), children in the order first seen, frames in the
  order the event lists them (innermost first), so the root's children are the probed functions;
* every node on a trace's path counts it once, and counts it under the label of the process that
  hit it (its binary).

Events are read through a narrow duck-typed accessor (:func:`kprobe_stack`), so any Struct with
the proto's field names works. Trees are bounded: at most ``max_trees`` policies (the least recently
fed is dropped) and ``max_nodes`` nodes per tree (frames that would need more are not added), and a
trace deeper than ``MAX_DEPTH`` keeps its innermost frames, since protobuf decoders refuse messages
nested more than 100 deep. Runs on the agent's event loop; not thread-safe.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from grpclib import GRPCError, Status

from tetragon_core.api.tetragon import sensors_pb2, stack_pb2
from tetragon_core.policy.registry import PolicyRegistry

__all__ = [
    "MAX_DEPTH",
    "StackSample",
    "StackTraceTrees",
    "StackTree",
    "get_stack_trace_tree",
    "kprobe_stack",
]

# Response → root → 96 levels of children → the deepest node's address: 99 levels, under upb's 100.
MAX_DEPTH: Final = 96


class StackSample(NamedTuple):
    """What the aggregator needs of one event: its policy, frames (innermost first) and label."""

    policy: str
    frames: Sequence[Any]  # each with .address (int or decimal str), .symbol and optionally .module
    label: str


def kprobe_stack(event: Any) -> StackSample | None:
    """The stack trace a ``GetEventsResponse`` carries, if any (only kprobe events have one)."""
    kp = getattr(event, "process_kprobe", None)
    if kp is None:
        return None
    kernel = getattr(kp, "kernel_stack_trace", None) or ()
    user = getattr(kp, "user_stack_trace", None) or ()
    if not kernel and not user:
        return None
    proc = getattr(kp, "process", None)
    label = getattr(proc, "binary", "") if proc is not None else ""
    return StackSample(getattr(kp, "policy_name", ""), [*kernel, *user], label)


def _frame_key(frame: Any) -> tuple[int, str]:
    address = int(getattr(frame, "address", 0) or 0)
    symbol = getattr(frame, "symbol", "") or ""
    module = getattr(frame, "module", "") or ""
    if module:
        symbol = f"{symbol} ({module})" if symbol else module
    return address, symbol


class _Node:
    __slots__ = ("children", "count", "labels")

    def __init__(self) -> None:
        self.count = 0
        self.labels: dict[str, int] = {}
        self.children: dict[tuple[int, str], _Node] = {}


class StackTree:
    """One policy's tree of stack traces."""

    def __init__(self, max_nodes: int) -> None:
        """An empty tree that grows to at most ``max_nodes`` frame nodes."""
        self._root = _Node()
        self._max_nodes = max_nodes
        self.nodes = 0
        #: frames not added because the tree was full, or the trace deeper than MAX_DEPTH
        self.dropped_frames = 0

    @property
    def count(self) -> int:
        """How many stack traces were folded in."""
        return self._root.count

    def add(self, frames: Sequence[Any], label: str = "") -> None:
        """Fold one stack trace (innermost frame first) into the tree."""
        if not frames:
            return
        if len(frames) > MAX_DEPTH:
            self.dropped_frames += len(frames) - MAX_DEPTH
            frames = frames[:MAX_DEPTH]
        node = self._root
        node.count += 1
        for i, frame in enumerate(frames):
            key = _frame_key(frame)
            child = node.children.get(key)
            if child is None:
                if self.nodes >= self._max_nodes:
                    self.dropped_frames += len(frames) - i
                    return
                child = node.children[key] = _Node()
                self.nodes += 1
            child.count += 1
            if label:
                child.labels[label] = child.labels.get(label, 0) + 1
            node = child

    def to_proto(self) -> Any:
        """The tree as a ``tetragon.StackTraceNode`` (the root has address 0 and no symbol)."""
        root = stack_pb2.StackTraceNode(count=self._root.count)
        root.address.SetInParent()
        stack = [(self._root, root)]
        while stack:
            node, msg = stack.pop()
            for (address, symbol), child in node.children.items():
                out = msg.children.add(count=child.count)
                out.address.address = address
                out.address.symbol = symbol
                for key, n in child.labels.items():
                    out.labels.add(key=key, count=n)
                stack.append((child, out))
        return root


class StackTraceTrees:
    """A sink keeping one :class:`StackTree` per policy name."""

    def __init__(self, *, max_trees: int = 256, max_nodes: int = 16384) -> None:
        """Keep at most ``max_trees`` trees of at most ``max_nodes`` nodes each (a full tree turns
        into its protobuf message in ~30 ms, on the event loop that also feeds it)."""
        if max_trees < 1 or max_nodes < 1:
            raise ValueError("max_trees and max_nodes must be positive")
        self._trees: OrderedDict[str, StackTree] = OrderedDict()
        self._max_trees = max_trees
        self._max_nodes = max_nodes

    def __contains__(self, policy: object) -> bool:
        return policy in self._trees

    def add(self, sample: StackSample) -> None:
        """Fold one event's stack trace into its policy's tree."""
        tree = self._trees.get(sample.policy)
        if tree is None:
            tree = self._trees[sample.policy] = StackTree(self._max_nodes)
            if len(self._trees) > self._max_trees:
                self._trees.popitem(last=False)
        else:
            self._trees.move_to_end(sample.policy)
        tree.add(sample.frames, sample.label)

    def tree(self, policy: str) -> StackTree | None:
        """The policy's tree, if any of its events carried a stack trace."""
        return self._trees.get(policy)

    # -- the sink interface -------------------------------------------------------------------

    def submit(self, event: Any) -> bool:
        """Fold ``event``'s stack trace, if it has one; never blocks, never fails."""
        sample = kprobe_stack(event)
        if sample is not None:
            self.add(sample)
        return True

    def submit_many(self, events: list[Any]) -> int:
        """Fold a batch of events; returns how many were taken (all)."""
        for ev in events:
            if getattr(ev, "process_kprobe", None) is not None:
                self.submit(ev)
        return len(events)

    def close(self, timeout: float | None = None) -> None:
        """Nothing to flush; the trees live as long as the agent."""


def get_stack_trace_tree(trees: StackTraceTrees, policies: PolicyRegistry, req: Any) -> Any:
    """``GetStackTraceTree``: the tree of the policy ``req.name`` (an empty root if none of its events
    carried a stack trace yet); a name no loaded policy has, and no tree, is NOT_FOUND."""
    name = req.name if req is not None else ""
    if not name:
        raise GRPCError(Status.INVALID_ARGUMENT, "GetStackTraceTree: name: required (a tracing policy name)")
    tree = trees.tree(name)
    if tree is None:
        if not any(e.policy.name == name for e in policies.list()):
            raise GRPCError(
                Status.NOT_FOUND, f"GetStackTraceTree: name: no tracing policy {name!r} is loaded"
            )
        tree = StackTree(1)
    return sensors_pb2.GetStackTraceTreeResponse(root=tree.to_proto())
