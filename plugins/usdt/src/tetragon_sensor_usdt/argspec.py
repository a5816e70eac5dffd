"""x86-64 USDT argument specs (``-4@%eax``, ``8@$42``, ``-4@112(%rsp)``, ``8@8(%rdx,%rcx,8)``)
parsed into what the kernel side computes from the probe's pt_regs.

Each spec is ``[-]SIZE@OPERAND`` (a negative size is a signed value) with the operand in AT&T
syntax: a constant, a register, a register plus displacement (read from user memory), or
base + index * scale + displacement. ``%rip``-relative operands name a symbol that needs the
module's load address, so they are refused naming the argument, as are the high byte registers.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from tetragon_core.sdk import PolicyError

__all__ = ["KIND_CONST", "KIND_DEREF", "KIND_REG", "KIND_SIB", "UsdtArg", "pack", "parse_args"]

KIND_NONE, KIND_CONST, KIND_REG, KIND_DEREF, KIND_SIB = range(5)
#: the kernel side's struct tg_usdt_arg (bpf/usdt/bpf_generic_usdt.c)
ARG = struct.Struct("<qHHBBBB")
MAX_NOTE_ARGS = 12  # sys/sdt.h has probes of up to 12 arguments
SLOTS = 16  # tg_usdt_spec.note[]: indexed by mask in the kernel

#: offsetof(struct pt_regs, <reg>) on x86-64
_PT_REGS = {
    "r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40, "r11": 48, "r10": 56,
    "r9": 64, "r8": 72, "ax": 80, "cx": 88, "dx": 96, "si": 104, "di": 112, "ip": 128, "sp": 152,
}  # fmt: skip


def _register(name: str) -> int | None:
    """pt_regs offset of any width of a general register (rax/eax/ax/al, r8/r8d/r8w/r8b)."""
    n = name.lower()
    m = re.fullmatch(r"r(\d+)[dwb]?", n)
    if m and 8 <= int(m.group(1)) <= 15:
        return _PT_REGS[f"r{m.group(1)}"]
    for base in ("ax", "bx", "cx", "dx"):
        if n in ("r" + base, "e" + base, base, base[0] + "l"):
            return _PT_REGS[base]
    for base in ("si", "di", "bp", "sp"):
        if n in ("r" + base, "e" + base, base, base + "l"):
            return _PT_REGS[base]
    if n == "rip":
        return _PT_REGS["ip"]
    return None


@dataclass(frozen=True)
class UsdtArg:
    """One argument: how to compute it, its size in bytes and whether it is signed."""

    kind: int
    size: int
    signed: bool
    value: int = 0  # the constant, or the displacement
    reg: int = 0  # pt_regs offset of the register (the base)
    index: int = 0  # pt_regs offset of the index register (SIB)
    scale: int = 1
    text: str = ""

    @property
    def in_memory(self) -> bool:
        """The value lives in user memory (it can be written by Set)."""
        return self.kind in (KIND_DEREF, KIND_SIB)


_SPEC = re.compile(r"^(-?)(\d+)@(.+)$")
_CONST = re.compile(r"^\$(-?(?:0x[0-9a-fA-F]+|\d+))$")
_REG = re.compile(r"^%(\w+)$")
_MEM = re.compile(r"^(-?(?:0x[0-9a-fA-F]+|\d+))?\(%(\w+)(?:,%(\w+)(?:,(\d))?)?\)$")


def _parse(where: str, text: str) -> UsdtArg:
    m = _SPEC.match(text)
    if not m:
        raise PolicyError(where, f"argument spec {text!r} is not SIZE@OPERAND")
    signed, size, op = m.group(1) == "-", int(m.group(2)), m.group(3)
    if size not in (1, 2, 4, 8):
        raise PolicyError(where, f"argument spec {text!r}: size {size} is not 1, 2, 4 or 8")
    if c := _CONST.match(op):
        return UsdtArg(KIND_CONST, size, signed, value=int(c.group(1), 0), text=text)
    if r := _REG.match(op):
        if r.group(1).lower() in ("ah", "bh", "ch", "dh"):
            raise PolicyError(where, f"argument spec {text!r}: the high byte registers are not supported")
        off = _register(r.group(1))
        if off is None or r.group(1).lower() == "rip":
            raise PolicyError(where, f"argument spec {text!r}: unknown register %{r.group(1)}")
        return UsdtArg(KIND_REG, size, signed, reg=off, text=text)
    if mm := _MEM.match(op):
        disp = int(mm.group(1), 0) if mm.group(1) else 0
        base = _register(mm.group(2))
        if base is None:
            raise PolicyError(where, f"argument spec {text!r}: unknown register %{mm.group(2)}")
        if mm.group(2).lower() == "rip":
            raise PolicyError(where, f"argument spec {text!r}: %rip-relative operands are not supported")
        if mm.group(3) is None:
            return UsdtArg(KIND_DEREF, size, signed, value=disp, reg=base, text=text)
        idx = _register(mm.group(3))
        scale = int(mm.group(4) or 1)
        if idx is None or scale not in (1, 2, 4, 8):
            raise PolicyError(where, f"argument spec {text!r}: bad index register or scale")
        return UsdtArg(KIND_SIB, size, signed, value=disp, reg=base, index=idx, scale=scale, text=text)
    if "(%rip)" in op:
        raise PolicyError(
            where, f"argument spec {text!r}: %rip-relative operands (global variables) are not supported"
        )
    raise PolicyError(where, f"argument spec {text!r}: operand {op!r} is not supported")


def parse_args(where: str, specs: str) -> list[UsdtArg]:
    """The probe's arguments, in order. Only the arguments a policy reads must be supported: one
    that is not is kept as KIND_NONE, with the reason, and refused where it is used (``arg``)."""
    out = []
    for i, text in enumerate(specs.split()):
        try:
            out.append(_parse(f"{where}[{i}]", text))
        except PolicyError as e:
            out.append(UsdtArg(KIND_NONE, 0, False, text=e.reason))
    if len(out) > MAX_NOTE_ARGS:
        raise PolicyError(where, f"{len(out)} arguments; USDT probes have at most {MAX_NOTE_ARGS}")
    return out


def arg(where: str, args: list[UsdtArg], index: int) -> UsdtArg:
    """Argument ``index`` of a probe; PolicyError naming ``where`` when it has none, or when its
    spec could not be parsed."""
    if not 0 <= index < len(args):
        raise PolicyError(where, f"the probe has {len(args)} arguments; index {index} is not one of them")
    a = args[index]
    if a.kind == KIND_NONE:
        raise PolicyError(where, f"argument {index} of the probe: {a.text}")
    return a


def pack(a: UsdtArg | None) -> bytes:
    """``struct tg_usdt_arg`` for one argument (all zero: none)."""
    if a is None or a.kind == KIND_NONE:
        return ARG.pack(0, 0, 0, 0, 0, 0, 0)
    return ARG.pack(a.value, a.reg, a.index, a.kind, 64 - 8 * a.size, int(a.signed), a.scale.bit_length() - 1)
