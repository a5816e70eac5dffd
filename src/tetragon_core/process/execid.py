"""Process exec ids: ``base64("<node>:<ktime>:<pid>")``, and the node name they embed."""

from __future__ import annotations

import base64
import binascii
import os
import socket
from collections.abc import Mapping

__all__ = ["ExecIds", "decode_exec_id", "exec_id", "node_name"]


def node_name(environ: Mapping[str, str] | None = None) -> str:
    """The node name used in exec ids and ``node_name``: HUBBLE_NODE_NAME, else NODE_NAME, else hostname.

    An empty variable counts as unset, as Go's ``os.Getenv`` makes it.
    """
    env = os.environ if environ is None else environ
    name = env.get("HUBBLE_NODE_NAME") or env.get("NODE_NAME")
    if name:
        return name
    try:
        return socket.gethostname()
    except OSError:
        return ""


def exec_id(node: str, pid: int, ktime: int) -> str:
    """The exec id of the process image ``(pid, ktime)`` seen on ``node``.

    ``ktime`` is the exec (or clone) time in ns; the kernel pseudo-process is ``(0, 1)``.
    """
    return binascii.b2a_base64(f"{node}:{ktime}:{pid}".encode(), newline=False).decode("ascii")


def decode_exec_id(value: str) -> tuple[str, int, int]:
    """Split an exec id back into ``(node, pid, ktime)``; raises ``ValueError`` if malformed."""
    try:
        text = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as err:
        raise ValueError(f"not an exec id: {value!r}") from err
    node, sep1, rest = text.rpartition(":")
    node, sep2, ktime = node.rpartition(":")
    if not sep1 or not sep2:
        raise ValueError(f"not an exec id: {value!r}")
    return node, int(rest), int(ktime)


class ExecIds:
    """Memoizing ``exec_id`` for one node: an image's id is needed at its clone, exec and exit.

    The memo is bounded (it is simply emptied when full), so it only speeds up the lookups that
    come close together, which is where the repeats are.
    """

    __slots__ = ("_limit", "_memo", "_node")

    def __init__(self, node: str, limit: int = 65536) -> None:
        """Ids for ``node``; at most ``limit`` are remembered."""
        self._node = node
        self._limit = limit
        self._memo: dict[tuple[int, int], str] = {}

    @property
    def node(self) -> str:
        """The node name embedded in the ids."""
        return self._node

    def __call__(self, pid: int, ktime: int) -> str:
        """The exec id of ``(pid, ktime)`` on this node."""
        key = (pid, ktime)
        memo = self._memo
        found = memo.get(key)
        if found is None:
            if len(memo) >= self._limit:
                memo.clear()
            raw = f"{self._node}:{ktime}:{pid}".encode()
            found = memo[key] = binascii.b2a_base64(raw, newline=False).decode("ascii")
        return found
