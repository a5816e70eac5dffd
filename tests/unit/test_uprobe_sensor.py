"""The uprobe plugin without a kernel: ELF symbols (symtab and the stripped dynsym), paths under a
process root, offsets, argument types, and the entry/return merge on replayed records."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tetragon_sensor_uprobe import elf
from tetragon_sensor_uprobe.args import resolve_args, return_spec
from tetragon_sensor_uprobe.decode import UprobeDecoder, UprobeInfo

from tetragon_core.sdk import HEADER, MSG_RETURN, T_INT, ArgSpec, KProbeArg, PolicyError, Registry, ReturnSpec

PROG = Path(__file__).resolve().parents[1] / "kernel" / "progs" / "uprobe_target.c"


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("bin") / "uprobe_target"
    subprocess.run(["gcc", "-O1", "-g", "-o", str(out), str(PROG)], check=True)
    return str(out)


def test_symbols_from_symtab_and_from_dynsym_when_stripped(binary: str, tmp_path: Path) -> None:
    nm = subprocess.run(["nm", binary], capture_output=True, text=True, check=True).stdout
    addr = int(next(line.split()[0] for line in nm.splitlines() if line.endswith(" tg_uprobe_target")), 16)
    off = elf.symbol_offset("s", binary, "tg_uprobe_target")
    assert off == elf.addr_offset("s", binary, addr)  # a PIE: file offset of the function's address
    assert elf.symbol_at(binary, off) == "tg_uprobe_target"
    stripped = tmp_path / "stripped"
    shutil.copy(binary, stripped)
    subprocess.run(["strip", str(stripped)], check=True)
    with pytest.raises(PolicyError, match="symbol 'tg_uprobe_target' is not a function of"):
        elf.symbol_offset("spec.uprobes[0].symbols[0]", str(stripped), "tg_uprobe_target")
    assert elf.symbol_offset("x", "/usr/bin/python3.11", "Py_BytesMain") > 0  # stripped: .dynsym


def test_offsets_and_paths(binary: str, tmp_path: Path) -> None:
    size = os.path.getsize(binary)
    with pytest.raises(PolicyError, match="past the end"):
        elf.check_offset("o", binary, size + 1)
    with pytest.raises(PolicyError, match="not in an executable segment"):
        elf.check_offset("o", binary, 0)  # the ELF header: a read-only segment
    with pytest.raises(PolicyError, match="does not exist"):
        elf.resolve_path("spec.uprobes[0].path", str(tmp_path / "nope"))
    link = tmp_path / "link"
    link.symlink_to(binary)
    assert elf.resolve_path("p", str(link)) == os.path.realpath(binary)


def test_symlinks_below_a_process_root_stay_inside_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "tool").write_bytes(b"x")
    (root / "bin").symlink_to("usr/bin")  # relative
    (root / "usr" / "bin" / "alias").symlink_to("/usr/bin/tool")  # absolute: inside the root
    assert elf._resolve_under(str(root), "/bin/tool") == str(root / "usr" / "bin" / "tool")
    assert elf._resolve_under(str(root), "/usr/bin/alias") == str(root / "usr" / "bin" / "tool")


def test_argument_types() -> None:
    args = resolve_args(
        "spec.uprobes[0]", [KProbeArg(index=0, type="int"), KProbeArg(index=1, type="string")]
    )
    assert [a.spec.offset for a in args] == [112, 104]  # pt_regs di, si
    with pytest.raises(PolicyError, match=r"spec.uprobes\[0\].args\[0\].type: type 'file' is not supported"):
        resolve_args("spec.uprobes[0]", [KProbeArg(index=0, type="file")])
    with pytest.raises(PolicyError, match="first 6 arguments"):
        resolve_args("spec.uprobes[0]", [KProbeArg(index=6, type="int")])
    with pytest.raises(PolicyError, match="returnArg needs return: true"):
        return_spec("spec.uprobes[0]", False, KProbeArg(type="int"))


def _record(flags: int, ktime: int, value: bytes = b"") -> bytes:
    fields = [
        15,
        flags,
        0,
        ktime,
        4242,
        777,
        *([0] * 10),
        0,
        0,
        0,
        1,
        ktime if not flags else 1000,
        0,
        0,
        4243,
        -1,
        -1,
    ]
    fields[2] = HEADER.size + len(value)
    fields[20] = 1000  # retprobe_id: the entry's ktime, on both halves
    return HEADER.pack(*fields) + value


def test_an_entry_waits_for_its_return_and_leaves_with_it() -> None:
    ret = ReturnSpec(ArgSpec(T_INT, 0, 8, is_signed=True), 0, "")
    info = UprobeInfo("p", "/bin/x", "fn", 4096, [], ret)
    dec = UprobeDecoder({1: info}, Registry())
    assert dec(_record(0, 1000)) is None and dec.pending == 1
    msg = dec(_record(MSG_RETURN, 2000, (-2).to_bytes(8, "little", signed=True)))
    assert msg is not None and not isinstance(msg, list) and dec.pending == 0
    ev = msg.event
    assert (ev.path, ev.symbol, ev.offset, ev.policy_name) == ("/bin/x", "fn", "4096", "p")
    assert [(a.int_arg, a.label) for a in ev.args] == [(-2, "return")]
    assert msg.key.pid == 4242 and msg.key.ktime == 777
