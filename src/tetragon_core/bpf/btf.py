"""A small reader of the kernel's BTF (``/sys/kernel/btf/vmlinux``): enough to know the argument
types of a raw tracepoint (``btf_trace_<event>``) without libbpf."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

__all__ = ["BtfType", "VmlinuxBtf", "vmlinux"]

_MAGIC = 0xEB9F
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT = 9, 10, 11, 12, 13, 14, 15, 16
DECL_TAG, TYPE_TAG, ENUM64 = 17, 18, 19
# bytes that follow struct btf_type: fixed, or per vlen entry
_EXTRA_FIXED = {INT: 4, ARRAY: 12, VAR: 4, DECL_TAG: 4}
_EXTRA_PER = {STRUCT: 12, UNION: 12, ENUM: 8, FUNC_PROTO: 8, DATASEC: 12, ENUM64: 12}
_TYPE = struct.Struct("<III")


@dataclass(frozen=True)
class BtfType:
    """One decoded type: ``kind``, ``name``, ``size_or_type`` and, for INT, ``signed``."""

    kind: int
    name: str
    size_or_type: int
    vlen: int
    offset: int  # of the trailing data in the type section
    signed: bool = False


class VmlinuxBtf:
    """Types by id, and typedefs by name, of one BTF blob."""

    def __init__(self, data: bytes) -> None:
        magic, _ver, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            "<HBBIIIII", data
        )
        if magic != _MAGIC:
            raise ValueError("not a BTF blob")
        self._types_raw = data[hdr_len + type_off : hdr_len + type_off + type_len]
        self._strs = data[hdr_len + str_off : hdr_len + str_off + str_len]
        self._offsets: list[int] = [0]  # id 0 is void
        self.typedefs: dict[str, int] = {}
        self.funcs: dict[str, int] = {}
        self.structs: set[str] = set()
        raw = self._types_raw
        off = 0
        n = len(raw)
        while off < n:
            name_off, info, _ = _TYPE.unpack_from(raw, off)
            kind = (info >> 24) & 0x1F
            vlen = info & 0xFFFF
            self._offsets.append(off)
            if kind == TYPEDEF:
                self.typedefs[self._str(name_off)] = len(self._offsets) - 1
            elif kind == FUNC and name_off:
                self.funcs[self._str(name_off)] = len(self._offsets) - 1
            elif kind == STRUCT and name_off:
                self.structs.add(self._str(name_off))
            off += 12 + _EXTRA_FIXED.get(kind, 0) + _EXTRA_PER.get(kind, 0) * vlen

    def _str(self, off: int) -> str:
        end = self._strs.index(b"\0", off)
        return self._strs[off:end].decode()

    def type(self, tid: int) -> BtfType:
        """The type with id ``tid`` (0 is void)."""
        if tid == 0:
            return BtfType(0, "void", 0, 0, 0)
        off = self._offsets[tid]
        name_off, info, st = _TYPE.unpack_from(self._types_raw, off)
        kind = (info >> 24) & 0x1F
        signed = False
        if kind == INT:
            enc = struct.unpack_from("<I", self._types_raw, off + 12)[0]
            signed = bool((enc >> 24) & 0x1)
        return BtfType(kind, self._str(name_off), st, info & 0xFFFF, off + 12, signed)

    def skip_mods(self, tid: int) -> int:
        """Follow typedefs and const/volatile/restrict/type tags to the underlying type."""
        for _ in range(64):
            t = self.type(tid)
            if t.kind not in (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG):
                return tid
            tid = t.size_or_type
        return tid

    def params(self, proto_id: int) -> list[int]:
        """The parameter type ids of a FUNC_PROTO."""
        t = self.type(proto_id)
        return [struct.unpack_from("<II", self._types_raw, t.offset + 8 * i)[1] for i in range(t.vlen)]

    def raw_tracepoint_args(self, event: str) -> list[int] | None:
        """The argument type ids of raw tracepoint ``event`` (without the leading ``void *``)."""
        tid = self.typedefs.get(f"btf_trace_{event}")
        if tid is None:
            return None
        ptr = self.type(self.skip_mods(tid))
        if ptr.kind != PTR:
            return None
        proto = self.skip_mods(ptr.size_or_type)
        if self.type(proto).kind != FUNC_PROTO:
            return None
        return self.params(proto)[1:]

    def func_args(self, name: str) -> list[int] | None:
        """The parameter type ids of kernel function ``name`` (e.g. ``bpf_lsm_file_open``)."""
        tid = self.funcs.get(name)
        if tid is None:
            return None
        proto = self.type(tid).size_or_type
        return self.params(proto) if self.type(proto).kind == FUNC_PROTO else None

    def describe(self, tid: int) -> str:
        """A C-ish spelling of a type, for messages (``struct linux_binprm *``)."""
        t = self.type(self.skip_mods(tid))
        if t.kind == PTR:
            return self.describe(t.size_or_type) + " *"
        if t.kind in (STRUCT, UNION, ENUM, FWD):
            word = {STRUCT: "struct", UNION: "union", ENUM: "enum", FWD: "struct"}[t.kind]
            return f"{word} {t.name}"
        return t.name


@cache
def vmlinux(path: str = "/sys/kernel/btf/vmlinux") -> VmlinuxBtf:
    """The running kernel's BTF, read once."""
    with open(path, "rb") as f:
        return VmlinuxBtf(f.read())
