"""Agent-level checks of what the configuration names, before anything is loaded."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tetragon_core.agent import Agent
from tetragon_core.config import parse_agent_args
from tetragon_core.exceptions import ConfigError
from tetragon_core.process.procfs import walk_procfs


@pytest.mark.parametrize("bpf_dir", ["../..", "../../etc", "/../etc/x", ".."])
def test_bpf_dir_cannot_escape_the_bpf_filesystem(bpf_dir: str) -> None:
    agent = Agent(parse_agent_args(["--bpf-dir", bpf_dir]))
    with pytest.raises(ConfigError, match="--bpf-dir"):
        _ = agent.pin_dir


@pytest.mark.parametrize(
    ("bpf_dir", "want"), [("tetragon", "/sys/fs/bpf/tetragon"), ("/x/y", "/sys/fs/bpf/x/y")]
)
def test_bpf_dir_is_joined_under_the_bpf_filesystem(bpf_dir: str, want: str) -> None:
    assert Agent(parse_agent_args(["--bpf-dir", bpf_dir])).pin_dir == want


def test_missing_procfs_is_a_config_error(tmp_path: Path) -> None:
    agent = Agent(parse_agent_args(["--procfs", str(tmp_path / "nope")]))
    with pytest.raises(ConfigError, match="--procfs"):
        agent._validate()


def test_export_filename_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    agent = Agent(parse_agent_args(["--export-filename", str(tmp_path)]))
    with pytest.raises(ConfigError, match="--export-filename"):
        agent._validate()


def test_procfs_walk_survives_a_binary_name_that_is_not_utf8(tmp_path: Path) -> None:
    exe = os.path.join(os.fsencode(tmp_path), b"sl\xffeep")
    shutil.copy("/bin/sleep", exe)
    proc = subprocess.Popen([exe, b"5"])
    try:
        time.sleep(0.2)
        msgs = walk_procfs("/proc")
        (mine,) = [m for m in msgs if m.pid == proc.pid]
        assert mine.filename.endswith("sl\ufffdeep")
    finally:
        proc.kill()
        proc.wait()
