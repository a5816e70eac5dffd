"""The USDT plugin without a kernel: .note.stapsdt notes (the system python's and a program
built with sys/sdt.h), the x86-64 argument specs, what goes to the kernel in .rodata.usdt, and the
checks of Set."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from tetragon_sensor_usdt import argspec, notes
from tetragon_sensor_usdt.sensor import _set_checker, resolve_args, spec_rodata

from tetragon_core.sdk import KProbeArg, PolicyError

PROG = Path(__file__).resolve().parents[1] / "kernel" / "progs" / "usdt_target.c"
PYTHON = "/usr/bin/python3.11"


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("bin") / "usdt_target"
    subprocess.run(["gcc", "-O2", "-g", "-o", str(out), str(PROG)], check=True)
    return str(out)


def _readelf(path: str) -> dict[str, dict[str, str]]:
    """provider:name → readelf's Location/Base/Semaphore/Arguments for each note (the oracle)."""
    text = subprocess.run(["readelf", "-n", path], capture_output=True, text=True, check=True).stdout
    out: dict[str, dict[str, str]] = {}
    cur: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Provider:"):
            cur = {"provider": line.split(":", 1)[1].strip()}
        elif line.startswith("Name:"):
            cur["name"] = line.split(":", 1)[1].strip()
            out[f"{cur['provider']}:{cur['name']}"] = cur
        elif line.startswith("Location:"):
            for part in line.split(","):
                k, v = part.split(":", 1)
                cur[k.strip()] = v.strip()
        elif line.startswith("Arguments:"):
            cur["Arguments"] = line.split(":", 1)[1].strip()
    return out


def _segment_offset(path: str, addr: int) -> int:
    text = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True, check=True).stdout
    for line in text.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            off, vaddr, filesz = int(f[1], 16), int(f[2], 16), int(f[4], 16)
            if vaddr <= addr < vaddr + filesz:
                return addr - vaddr + off
    raise AssertionError(f"{addr:#x} in no segment")


@pytest.mark.parametrize("which", ["python", "program"])
def test_notes_match_readelf(which: str, binary: str) -> None:
    path = PYTHON if which == "python" else binary
    want = _readelf(path)
    got = {f"{p.provider}:{p.name}": p for p in notes.probes(path)}
    assert set(got) == set(want) and got
    for key, w in want.items():
        p = got[key]
        assert p.args == w.get("Arguments", "")
        assert p.offset == _segment_offset(path, int(w["Location"], 16))  # .stapsdt.base not moved
        sema = int(w["Semaphore"], 16)
        assert p.semaphore == (_segment_offset(path, sema) if sema else 0)
    if which == "python":  # every probe of Debian's python is guarded by a semaphore
        assert all(p.semaphore for p in got.values())


def test_argument_specs() -> None:
    a = argspec.parse_args("x", "-4@%eax 8@%rsi -8@0(%rbp,%rcx,8) -4@$42 -8@8(%rdx) 2@-16(%rsp) 1@%r9b")
    assert [(x.kind, x.size, x.signed) for x in a] == [
        (argspec.KIND_REG, 4, True),
        (argspec.KIND_REG, 8, False),
        (argspec.KIND_SIB, 8, True),
        (argspec.KIND_CONST, 4, True),
        (argspec.KIND_DEREF, 8, True),
        (argspec.KIND_DEREF, 2, False),
        (argspec.KIND_REG, 1, False),
    ]
    assert (a[0].reg, a[1].reg, a[6].reg) == (80, 104, 64)  # pt_regs ax, si, r9
    assert (a[2].reg, a[2].index, a[2].scale, a[2].value) == (32, 88, 8, 0)  # bp + cx*8
    assert (a[3].value, a[4].value, a[5].value) == (42, 8, -16)
    assert argspec.pack(a[2]) == struct.pack("<qHHBBBB", 0, 32, 88, argspec.KIND_SIB, 0, 1, 3)
    assert argspec.pack(a[3]) == struct.pack("<qHHBBBB", 42, 0, 0, argspec.KIND_CONST, 32, 1, 0)


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("8@sym(%rip)", "%rip-relative operands"),
        ("8@8(%rip)", "%rip-relative operands"),
        ("1@%ah", "high byte registers"),
        ("3@%eax", "size 3 is not 1, 2, 4 or 8"),
        ("%eax", "is not SIZE@OPERAND"),
        ("8@%xmm0", "unknown register %xmm0"),
    ],
)
def test_unsupported_specs_fail_only_where_they_are_used(spec: str, why: str) -> None:
    args = argspec.parse_args("spec.usdts[0].args", f"-4@%eax {spec}")
    assert argspec.arg("i", args, 0).kind == argspec.KIND_REG  # the good one is still usable
    with pytest.raises(PolicyError, match=f"^i: argument 1 of the probe: argument spec .*{why}") as e:
        argspec.arg("i", args, 1)
    assert e.value.path == "i"


def test_policy_arguments_and_rodata() -> None:
    note = argspec.parse_args("a", "-4@%eax 8@%rsi -8@8(%rdx)")
    pol = [KProbeArg(index=2, type="int64"), KProbeArg(index=1, type="string")]
    resolved = resolve_args("spec.usdts[0]", pol, note)
    assert [(r.spec.offset, r.spec.size) for r in resolved] == [(0, 8), (8, 8)]  # the computed array
    ro = spec_rodata(note, pol)
    assert len(ro) == 16 * argspec.ARG.size + 8  # sizeof(struct tg_usdt_spec)
    assert ro[: argspec.ARG.size] == argspec.pack(note[0]) and ro[-8:] == bytes([2, 1, 0, 0, 0, 0, 0, 0])
    with pytest.raises(PolicyError, match=r"spec.usdts\[0\].args\[0\].index: the probe has 3 arguments"):
        resolve_args("spec.usdts[0]", [KProbeArg(index=3, type="int")], note)
    with pytest.raises(PolicyError, match="at most 5 args"):
        resolve_args("spec.usdts[0]", [KProbeArg(index=0, type="int")] * 6, note)


def test_set_needs_a_memory_argument_and_a_value_that_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    from tetragon_core.sdk import probes

    monkeypatch.setattr(probes, "has_probe_write_user", lambda: True)
    used: list[bool] = []
    check = _set_checker(argspec.parse_args("a", "-4@%eax -4@8(%rdx) 1@$1"), used)
    check("m", 1, -5)
    assert used  # the hook has a Set: it loads the object with the write helper
    with pytest.raises(PolicyError, match=r"m.argIndex: argument 0 of the probe is '-4@%eax', a register"):
        check("m", 0, 1)
    with pytest.raises(PolicyError, match=r"m.argIndex: argument 2 of the probe is '1@\$1', a register or a"):
        check("m", 2, 1)
    with pytest.raises(PolicyError, match=r"m.argValue: 4294967296 does not fit in argument 1 \(4 bytes\)"):
        check("m", 1, 1 << 32)
    monkeypatch.setattr(probes, "has_probe_write_user", lambda: False)
    with pytest.raises(PolicyError, match=r"m\.action: Set requires bpf_probe_write_user"):
        check("m", 1, 1)


def test_a_set_from_a_selectors_macro_marks_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    # the object is chosen from the compiled selectors, so a Set a macro brings counts too
    from tetragon_core.policy import parse_policy
    from tetragon_core.sdk import compile_hook, probes

    monkeypatch.setattr(probes, "has_probe_write_user", lambda: True)
    policy = parse_policy(
        """apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {name: m}
spec:
  selectorsMacros:
    setit:
      matchActions: [{action: Set, argIndex: 1, argValue: 3}]
  usdts:
  - path: /bin/true
    provider: p
    name: n
    args: [{index: 1, type: int32}]
    selectors: [{macros: [setit]}]
"""
    )
    us = policy.spec.usdts[0]
    note = argspec.parse_args("a", "-4@%eax -4@8(%rdx)")
    used: list[bool] = []
    args = [r.spec for r in resolve_args("spec.usdts[0]", us.args, note)]
    compile_hook("spec.usdts[0]", 1, args, us.selectors, macros=policy.spec.selectors_macros,
                 set_arg=_set_checker(note, used))  # fmt: skip
    assert used
