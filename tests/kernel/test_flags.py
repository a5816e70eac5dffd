"""Every daemon flag, set to a value other than its default: the agent shows the effect, or it
refuses to start naming the flag and the reason. No flag is accepted and then ignored.

The refusals come from support.UNSUPPORTED, the effects from the cases in flagcases.py; a flag in
neither table fails here, so a new flag cannot be added without deciding which it is.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.kernel.conftest import TETRAGON
from tests.kernel.flagcases import CASES, Flags
from tetragon_core.config.flags import FLAGS, FLAGS_BY_NAME, FlagKind
from tetragon_core.config.support import EFFECTS, UNSUPPORTED


def _other_value(name: str) -> str:
    """A value of flag ``name`` that differs from its default."""
    flag = FLAGS_BY_NAME[name]
    if flag.kind is FlagKind.BOOL:
        return "false" if flag.default == "true" else "true"
    if flag.kind is FlagKind.INT:
        return str(int(flag.default or 0) + 1)
    return {FlagKind.DURATION: "1m", FlagKind.SECONDS: "3", FlagKind.SIZE: "4K"}.get(
        flag.kind, "/other/value"
    )


def test_every_flag_has_a_case_or_a_refusal() -> None:
    assert set(CASES) == set(EFFECTS)
    assert set(CASES) | set(UNSUPPORTED) == {f.name for f in FLAGS}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_a_refused_flag_stops_the_start_naming_it(name: str) -> None:
    value = _other_value(name)
    r = subprocess.run(
        [TETRAGON, f"--{name}={value}", "--server-address", ""], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1
    assert r.stderr.strip() == f"tetragon: --{name}: {UNSUPPORTED[name]} (set by command line)"


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_a_working_flag_shows_its_effect(name: str, start_agent, tmp_path: Path) -> None:
    CASES[name](Flags(tmp_path, start_agent))
