"""Flags string, capability/securebit/signal names, exec ids and argument decoding."""

from __future__ import annotations

import socket

import pytest

from tetragon_core.process import flags as F
from tetragon_core.process.args import binary_path, docker_id, format_args
from tetragon_core.process.caps import (
    CAPABILITY_NAMES,
    EXEC_FILE_CAPS,
    EXEC_SETUID,
    EXEC_SETUID_ROOT,
    capability_names,
    privileges_changed,
    securebits_names,
    signal_name,
)
from tetragon_core.process.execid import decode_exec_id, exec_id, node_name

ALL_PRINTED = (
    "execve procFS errorEnvs truncArgs miss errorFilename errorArgs nocwd rootcwd errorCWD clone "
    "errorCgroupName errorCgroupID errorCgroupSubsysCgrp errorCgroupSubsys errorCgroups "
    "errorPathResolutionCwd dataFilename dataArgs inInitTree"
)


def test_typical_flag_strings() -> None:
    assert F.decode_flags(F.EXECVE | F.ROOT_CWD | F.CLONE) == "execve rootcwd clone"
    assert F.decode_flags(F.EXECVE | F.CLONE) == "execve clone"
    assert F.decode_flags(F.EXECVE) == "execve"
    assert F.decode_flags(F.PROCFS) == "procFS"
    assert F.decode_flags(0) == ""


def test_every_bit_in_fixed_order() -> None:
    every = 0xFFFFFFFF
    assert F.decode_flags(every) == ALL_PRINTED


def test_order_is_by_table_not_by_bit_value() -> None:
    # errorCgroupID (0x200000) prints before errorCgroupSubsysCgrp (0x040000).
    assert F.decode_flags(F.ERROR_CGROUP_ID | F.ERROR_CGROUP_SUBSYS_CGRP | F.ERROR_CGROUP_NAME) == (
        "errorCgroupName errorCgroupID errorCgroupSubsysCgrp"
    )


def test_internal_bits_never_printed() -> None:
    assert F.decode_flags(F.NEEDS_CWD | F.EXECVE) == "execve"
    assert F.decode_flags(F.ERROR_CGROUP_KN | F.ENVS_DATA) == ""


def test_flags_memoized() -> None:
    a = F.decode_flags(F.EXECVE | F.IN_INIT_TREE)
    b = F.decode_flags(F.EXECVE | F.IN_INIT_TREE | F.NEEDS_CWD)
    assert a == "execve inInitTree"
    assert a is b


def test_clone_flag_decodes_as_execve() -> None:
    assert F.decode_flags(F.COMMON_FLAG_CLONE) == "execve"


def test_capability_names() -> None:
    assert len(CAPABILITY_NAMES) == 41
    assert CAPABILITY_NAMES[0] == "CAP_CHOWN"
    assert CAPABILITY_NAMES[1] == "DAC_OVERRIDE"
    assert CAPABILITY_NAMES[21] == "CAP_SYS_ADMIN"
    assert CAPABILITY_NAMES[40] == "CAP_CHECKPOINT_RESTORE"
    assert capability_names(0) == []
    assert capability_names(0b11 | 1 << 21 | 1 << 40) == [
        "CAP_CHOWN",
        "DAC_OVERRIDE",
        "CAP_SYS_ADMIN",
        "CAP_CHECKPOINT_RESTORE",
    ]
    assert capability_names((1 << 41) - 1) == list(CAPABILITY_NAMES)
    # Bits beyond the last known capability have no name.
    assert capability_names(1 << 45 | 1 << 5) == ["CAP_KILL"]
    assert capability_names(0x1F) is capability_names(0x1F)


def test_securebits_and_privileges() -> None:
    assert securebits_names(0) == []
    assert securebits_names(1 | 16 | 128) == [
        "SecBitNoRoot",
        "SecBitKeepCaps",
        "SecBitNoCapAmbientRaiseLocked",
    ]
    assert privileges_changed(0) == []
    assert privileges_changed(EXEC_SETUID) == []
    assert privileges_changed(EXEC_FILE_CAPS | EXEC_SETUID_ROOT) == [
        "PRIVILEGES_RAISED_EXEC_FILE_CAP",
        "PRIVILEGES_RAISED_EXEC_FILE_SETUID",
    ]


@pytest.mark.parametrize(
    ("signo", "name"),
    [(0, ""), (1, "SIGHUP"), (9, "SIGKILL"), (11, "SIGSEGV"), (15, "SIGTERM"), (31, "SIGSYS"), (34, "")],
)
def test_signal_names(signo: int, name: str) -> None:
    assert signal_name(signo) == name


def test_exec_id_matches_upstream_examples() -> None:
    assert exec_id("kind-control-plane", 0, 1) == "a2luZC1jb250cm9sLXBsYW5lOjE6MA=="
    assert (
        exec_id("kind-control-plane", 130877, 41275524263221)
        == "a2luZC1jb250cm9sLXBsYW5lOjQxMjc1NTI0MjYzMjIxOjEzMDg3Nw=="
    )
    assert decode_exec_id("a2luZC1jb250cm9sLXBsYW5lOjE6MA==") == ("kind-control-plane", 0, 1)
    assert exec_id("", 5, 7).startswith("Ojc6")  # ":7:5"
    with pytest.raises(ValueError):
        decode_exec_id("not base64!")


def test_node_name_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "host-x")
    assert node_name({"HUBBLE_NODE_NAME": "a", "NODE_NAME": "b"}) == "a"
    assert node_name({"HUBBLE_NODE_NAME": "", "NODE_NAME": "b"}) == "b"
    assert node_name({}) == "host-x"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ""),
        (["-q", "--", "fs-xfs"], "-q -- fs-xfs"),
        (["-c", "echo hi"], '-c "echo hi"'),
        (["a b", "c"], ' "a b" c'),  # upstream's leading space before a quoted first argument
        (["x", "", "y"], "x  y"),
        (["", "y"], "y"),
        (["x", "a b", "", "z"], 'x "a b"  z'),
    ],
)
def test_format_args(args: list[str], expected: str) -> None:
    assert format_args(args) == expected


@pytest.mark.parametrize(
    ("filename", "cwd", "expected"),
    [
        ("/usr/bin/ls", "/tmp", "/usr/bin/ls"),
        ("/usr/bin/../bin/ls", "/tmp", "/usr/bin/../bin/ls"),  # absolute: untouched
        ("ls", "/tmp", "/tmp/ls"),
        ("./bin/x", "/home/u", "/home/u/bin/x"),
        ("../x", "/home/u", "/home/x"),
        ("x", "/", "/x"),
        ("x", "", "x"),
        ("x", "//a", "/a/x"),
    ],
)
def test_binary_path(filename: str, cwd: str, expected: str) -> None:
    assert binary_path(filename, cwd) == expected


HEX64 = "6b742e38ee3a212239e6d48b2954435a407af44b9a354bdf540db22f460ab40e"


@pytest.mark.parametrize(
    "name",
    [
        f"docker-{HEX64}.scope",
        f"cri-containerd-{HEX64}.scope",
        f"crio-{HEX64}.scope",
        HEX64,
        f"/kubepods/besteffort/pod123/{HEX64}",
        f"cri-containerd:cri-containerd:{HEX64}",
    ],
)
def test_docker_id_found(name: str) -> None:
    assert docker_id(name) == HEX64[:31] == "6b742e38ee3a212239e6d48b2954435"


@pytest.mark.parametrize(
    "name", ["", "user.slice", "init.scope", "docker.service", f"docker-{HEX64[:40]}.scope", "c4d29248afcc"]
)
def test_docker_id_absent(name: str) -> None:
    assert docker_id(name) == ""


def test_docker_id_truncated_by_bpf_and_procfs_hex() -> None:
    # The kernel's 128-byte buffer cut the id short: 31+ characters are enough then.
    cut = "a" * 90 + "-" + HEX64[:36]
    assert len(cut) == 127
    assert docker_id(cut) == HEX64[:31]
    assert docker_id(cut[1:]) == ""
    short_hex = HEX64[:32]
    assert docker_id(short_hex) == ""
    assert docker_id(short_hex, from_bpf=False) == short_hex[:31]
    assert docker_id(HEX64[:33], from_bpf=False) == ""  # odd length: not hex-decodable upstream
