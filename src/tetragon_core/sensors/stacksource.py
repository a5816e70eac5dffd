"""Where a hook's stack traces wait for user space: its object's ``tg_stack_map``."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tetragon_core.bpf.maps import Map
from tetragon_core.stacks import parse_stack


@dataclass
class StackSource:
    """Where a hook's stack traces are: its object's tg_stack_map, and how to report them."""

    map: Map | None
    expose: bool = False  # --expose-stack-addresses
    procfs: str = "/proc"

    def take(self, stack_id: int) -> list[int]:
        """The addresses of one stack, removed from the map (its slot is free again)."""
        if self.map is None or stack_id < 0:
            return []
        key = struct.pack("<I", stack_id)
        raw = self.map.get(key)
        if raw is None:
            return []
        try:
            self.map.delete(key)
        except OSError:
            pass
        return parse_stack(raw)
