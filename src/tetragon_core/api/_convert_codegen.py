"""Support of the generated converters (see ``tetragon_core.api.convert``): namespaces, enums, memos."""

from __future__ import annotations

import keyword
import threading
from collections.abc import Callable
from typing import Any

import msgspec
from google.protobuf.descriptor import FieldDescriptor

from tetragon_core.api._convert_plan import ConversionError

# Building (not converting) is serialized: a converter is published only once fully built.
_build_lock = threading.RLock()
_msgpack_encode = msgspec.msgpack.Encoder().encode


def _attr(expr: str, name: str) -> str:
    """``expr.name`` as an expression (getattr when ``name`` is not a plain identifier)."""
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"{expr}.{name}"
    return f"getattr({expr}, {name!r})"


class _Module:
    """The namespace of a family of generated functions and of the constants they use."""

    def __init__(self, kind: str, **builtins: Any) -> None:
        self.kind = kind
        self.globals: dict[str, Any] = {"ConversionError": ConversionError, **builtins}
        self._ids: dict[int, str] = {}
        self._n = 0

    def const(self, value: Any, hint: str) -> str:
        """A global name bound to ``value`` (kept alive here, so its id stays unique)."""
        name = self._ids.get(id(value))
        if name is None:
            name = self.fresh(hint)
            self._ids[id(value)] = name
            self.globals[name] = value
        return name

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"_{hint}{self._n}"

    def define(self, name: str, lines: list[str]) -> Any:
        source = "\n".join(lines) + "\n"
        exec(compile(source, f"<tetragon_core.api.convert {self.kind} {name}>", "exec"), self.globals)
        return self.globals[name]


def _enum_number(fd: FieldDescriptor) -> tuple[dict[str, int], Callable[[str], int]]:
    """(name → number, a converter that also takes a number as a decimal string)."""
    numbers: dict[str, int] = {v.name: v.number for v in fd.enum_type.values}
    enum_name = fd.enum_type.full_name

    def number(name: str) -> int:
        n = numbers.get(name)
        if n is not None:
            return n
        if isinstance(name, str) and name.isdigit() and name.isascii():
            return int(name)
        raise ConversionError(f"{fd.full_name}: {name!r} is not a {enum_name} value")

    return numbers, number


def _enum_names(fd: FieldDescriptor) -> dict[int, str]:
    return {v.number: v.name for v in reversed(fd.enum_type.values)}  # an alias: its first name


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_memos: list[dict[bytes, bytes]] = []


def _new_memo() -> dict[bytes, bytes]:
    memo: dict[bytes, bytes] = {}
    _memos.append(memo)
    return memo


def _clear_memos() -> None:
    for memo in _memos:
        memo.clear()
