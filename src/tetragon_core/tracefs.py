"""tracefs: where tracepoints live, and the field layout of each one (its ``format`` file).

Tracepoint argument indexes in a TracingPolicy count the fields of the format file, the four
``common_*`` fields included, as Tetragon's do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
from dataclasses import dataclass
from functools import cache

from tetragon_core.exceptions import UnsupportedFeatureError

__all__ = ["Field", "events_dir", "read_format"]

_CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
_FIELD = re.compile(r"^\s*field:(?P<decl>[^;]*);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);")


@dataclass(frozen=True)
class Field:
    """One field of a tracepoint record."""

    name: str
    type: str  # the C declaration without the name, e.g. "const char *", "__data_loc char[]"
    offset: int
    size: int
    signed: bool

    @property
    def is_data_loc(self) -> bool:
        return self.type.startswith("__data_loc")

    @property
    def is_char_pointer(self) -> bool:
        return re.search(r"\bchar\s*\*$", self.type) is not None

    @property
    def is_char_array(self) -> bool:
        return re.search(r"\bchar\s*\[\d*\]$", self.type) is not None

    @property
    def is_pointer(self) -> bool:
        return self.type.endswith("*")


def _mount_tracefs(target: str) -> bool:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    rc = libc.mount(b"nodev", target.encode(), b"tracefs", 0, None)
    return int(rc) == 0


@cache
def events_dir() -> str:
    """The tracefs ``events`` directory, mounting tracefs at /sys/kernel/tracing if needed."""
    for d in _CANDIDATES:
        if os.path.isdir(os.path.join(d, "events")):
            return os.path.join(d, "events")
    if os.path.isdir(_CANDIDATES[0]) and _mount_tracefs(_CANDIDATES[0]):
        return os.path.join(_CANDIDATES[0], "events")
    raise UnsupportedFeatureError(
        "tracepoints require tracefs: none is mounted at /sys/kernel/tracing or /sys/kernel/debug/tracing "
        "and mounting one failed"
    )


def _split_decl(decl: str) -> tuple[str, str]:
    """``"const char * filename"`` → ``("const char *", "filename")``; arrays keep their brackets."""
    decl = decl.strip()
    m = re.match(r"^(?P<type>.*?)(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<arr>\s*\[[^\]]*\])?$", decl)
    if m is None:
        return decl, ""
    type_ = m.group("type").strip() + (m.group("arr") or "").replace(" ", "")
    return type_, m.group("name")


def parse_format(text: str) -> list[Field]:
    """The fields of a tracepoint ``format`` file, in order."""
    out = []
    for line in text.splitlines():
        m = _FIELD.match(line)
        if m is None:
            continue
        type_, name = _split_decl(m.group("decl"))
        out.append(Field(name, type_, int(m.group(2)), int(m.group(3)), m.group(4) == "1"))
    return out


def read_format(subsystem: str, event: str) -> list[Field]:
    """The fields of ``subsystem/event``; raises LookupError naming what does not exist."""
    if "/" in subsystem or "/" in event or subsystem.startswith(".") or event.startswith("."):
        raise LookupError(f"invalid tracepoint name {subsystem}/{event}")
    path = os.path.join(events_dir(), subsystem, event, "format")
    try:
        with open(path) as f:
            return parse_format(f.read())
    except FileNotFoundError:
        raise LookupError(f"tracepoint {subsystem}/{event} does not exist on this kernel") from None
