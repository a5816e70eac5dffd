"""Counters are counters: no ``*_total`` family of ours is registered as a gauge (values computed
at scrape time are registered with ``counter(..., collect=...)``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_GAUGE_TOTAL = re.compile(r'\.gauge\(\s*"(tetragon_\w+_total)"')


def test_no_total_family_is_a_gauge() -> None:
    found = {}
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
    assert len(files) > 50
    for f in files:
        for m in _GAUGE_TOTAL.finditer(f.read_text()):
            found[m.group(1)] = str(f.relative_to(ROOT))
    assert not found, found
