"""``RotatingFile``: lumberjack rotation without ever losing, duplicating or tearing a line."""

from __future__ import annotations

import gzip
import os
import random
import re
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tetragon_core.export.backups import backup_name, list_backups, split_name
from tetragon_core.export.rotate import RotatingFile, parse_perm

KIB = 1024 / (1024 * 1024)  # max_size_mb of one KiB
STAMP = r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}"


@pytest.fixture(autouse=True)
def _umask() -> Iterator[None]:
    # A permissive umask, so the perm tests show that the mode is enforced, not inherited.
    old = os.umask(0o002)
    yield
    os.umask(old)


def make_lines(rng: random.Random, n: int, max_len: int) -> list[bytes]:
    lines = []
    for i in range(n):
        body = f"{i:06d}:".encode() + b"x" * rng.randrange(0, max_len)
        lines.append(body + b"\n")
    return lines


def write_batches(f: RotatingFile, rng: random.Random, lines: list[bytes], max_batch: int) -> None:
    i = 0
    while i < len(lines):
        k = rng.randrange(1, max_batch + 1)
        f.write_lines(b"".join(lines[i : i + k]))
        i += k


def read_all(path: Path) -> list[tuple[str, bytes]]:
    """Every file of the rotation, oldest first: (name, uncompressed content)."""
    out = []
    for _, name in reversed(list_backups(str(path))):
        data = (path.parent / name).read_bytes()
        out.append((name, gzip.decompress(data) if name.endswith(".gz") else data))
    if path.exists():
        out.append((path.name, path.read_bytes()))
    return out


def test_size_rotation_keeps_every_line_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = tmp_path / "tetragon.log"
    lines = make_lines(rng, 3000, 700)
    with RotatingFile(path, max_size_mb=4 * KIB) as f:
        assert f.max_bytes == 4096
        write_batches(f, rng, lines, 25)
    files = read_all(path)
    assert len(files) > 100  # many rotations, many within one millisecond
    for name, data in files:
        assert len(data) <= 4096, name
        assert data.endswith(b"\n"), name
    # In order, each exactly once, none torn.
    assert b"".join(data for _, data in files) == b"".join(lines)
    names = [name for name, _ in files[:-1]]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(rf"tetragon-{STAMP}\.log", n) for n in names)


def test_concurrent_writers_never_tear_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    f = RotatingFile(path, max_size_mb=2 * KIB)
    per_thread = 400

    def writer(tid: int) -> None:
        rng = random.Random(tid)
        for i in range(per_thread):
            f.write_lines(f"{tid}:{i}:".encode() + b"y" * rng.randrange(200) + b"\n")

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    f.close()
    seen: dict[int, list[int]] = {t: [] for t in range(4)}
    for _, data in read_all(path):
        for line in data.splitlines():
            tid, i, pad = line.split(b":")
            assert set(pad) <= {ord("y")}
            seen[int(tid)].append(int(i))
    assert all(v == list(range(per_thread)) for v in seen.values())


def test_line_longer_than_max_is_written_alone(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    big = b"B" * 3000 + b"\n"
    with RotatingFile(path, max_size_mb=KIB) as f:
        f.write_lines(b"a\n" + big + b"c\n")
    contents = [data for _, data in read_all(path)]
    assert contents == [b"a\n", big, b"c\n"]


def test_write_lines_needs_whole_lines(tmp_path: Path) -> None:
    with RotatingFile(tmp_path / "x.log") as f:
        with pytest.raises(ValueError):
            f.write_lines(b"no newline")
        f.write_lines(b"")
        assert f.size == 0
    with pytest.raises(ValueError):
        f.write_lines(b"closed\n")


def test_max_backups_keeps_the_newest(tmp_path: Path) -> None:
    rng = random.Random(3)
    path = tmp_path / "tetragon.log"
    lines = make_lines(rng, 600, 300)
    with RotatingFile(path, max_size_mb=KIB, max_backups=3) as f:
        write_batches(f, rng, lines, 5)
        assert f.wait_idle(10)
        backups = f.backups()
    assert len(backups) == 3
    files = read_all(path)
    kept = b"".join(data for _, data in files)
    assert b"".join(lines).endswith(kept)
    assert kept.startswith(files[0][1])


def test_compress_produces_complete_gzip_of_rotated_lines(tmp_path: Path) -> None:
    rng = random.Random(11)
    path = tmp_path / "tetragon.log"
    lines = make_lines(rng, 1500, 400)
    with RotatingFile(path, max_size_mb=2 * KIB, compress=True) as f:
        write_batches(f, rng, lines, 10)
        assert f.wait_idle(30)
        active = path.read_bytes()
    names = sorted(os.listdir(tmp_path))
    assert not [n for n in names if n.endswith(".tmp")]
    gz = [n for n in names if n.endswith(".gz")]
    assert len(gz) == len(names) - 1  # every backup compressed, nothing else left behind
    rotated = b"".join(gzip.decompress((tmp_path / n).read_bytes()) for n in gz)
    assert rotated + active == b"".join(lines)
    for n in gz:
        assert re.fullmatch(rf"tetragon-{STAMP}\.log\.gz", n)


def test_compress_with_max_backups(tmp_path: Path) -> None:
    rng = random.Random(5)
    path = tmp_path / "t.log"
    lines = make_lines(rng, 500, 200)
    with RotatingFile(path, max_size_mb=KIB, compress=True, max_backups=2) as f:
        write_batches(f, rng, lines, 4)
        assert f.wait_idle(30)
    backups = list_backups(str(path))
    assert len(backups) == 2
    assert all(name.endswith(".gz") for _, name in backups)
    kept = b"".join(data for _, data in read_all(path))
    assert b"".join(lines).endswith(kept)


def test_perm_is_enforced_on_active_rotated_and_compressed_files(tmp_path: Path) -> None:
    path = tmp_path / "tetragon.log"
    with RotatingFile(path, max_size_mb=KIB, perm="600", compress=True) as f:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for i in range(50):
            f.write_lines(f"{i:04d}".encode() * 20 + b"\n")
        assert f.wait_idle(10)
        assert len(f.backups()) > 3
        for p in [path, *map(Path, f.backups())]:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_perm_enforced_when_reopening_and_after_plain_rotation(tmp_path: Path) -> None:
    path = tmp_path / "tetragon.log"
    path.write_bytes(b"old\n")
    path.chmod(0o664)
    with RotatingFile(path, max_size_mb=KIB, perm="600") as f:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        f.rotate()
        path.chmod(0o644)  # someone loosened it; the next rotation restores the perm
        f.rotate()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for b in f.backups():
            assert stat.S_IMODE(os.stat(b).st_mode) == 0o600
    with RotatingFile(tmp_path / "other.log", perm="640"):
        assert stat.S_IMODE((tmp_path / "other.log").stat().st_mode) == 0o640


def test_parse_perm() -> None:
    assert parse_perm("600") == 0o600
    assert parse_perm("0640") == 0o640
    for bad in ("", "rw", "800", "77777"):
        with pytest.raises(ValueError):
            parse_perm(bad)


def test_interval_rotation(tmp_path: Path) -> None:
    path = tmp_path / "tetragon.log"
    with RotatingFile(path, rotation_interval=0.2) as f:
        assert not f.tick()
        f.write_lines(b"first\n")
        next_in = f.next_rotation_in()
        assert next_in is not None and 0 < next_in <= 0.2
        time.sleep(0.25)
        assert f.tick()
        assert [Path(b).read_bytes() for b in f.backups()] == [b"first\n"]
        assert path.read_bytes() == b""
        time.sleep(0.25)
        assert not f.tick()  # an empty active file is not rotated
        f.write_lines(b"second\n")
        time.sleep(0.25)
        f.write_lines(b"third\n")  # the overdue rotation happens before this write
        assert [Path(b).read_bytes() for b in reversed(f.backups())] == [b"first\n", b"second\n"]
        assert path.read_bytes() == b"third\n"
    with RotatingFile(tmp_path / "n.log") as g:
        assert g.next_rotation_in() is None


def test_opening_an_existing_file_appends(tmp_path: Path) -> None:
    path = tmp_path / "tetragon.log"
    path.write_bytes(b"one\n")
    with RotatingFile(path) as f:
        assert f.size == 4
        f.write_lines(b"two\n")
    assert path.read_bytes() == b"one\ntwo\n"
    assert list_backups(str(path)) == []


def test_opening_a_torn_file_terminates_its_last_line(tmp_path: Path) -> None:
    path = tmp_path / "tetragon.log"
    path.write_bytes(b'{"a":1}\n{"b"')
    with RotatingFile(path) as f:
        f.write_lines(b'{"c":3}\n')
    assert path.read_bytes().splitlines() == [b'{"a":1}', b'{"b"', b'{"c":3}']


def test_opening_a_full_file_rotates_it(tmp_path: Path) -> None:
    path = tmp_path / "tetragon.log"
    path.write_bytes(b"z" * 1023 + b"\n")
    with RotatingFile(path, max_size_mb=KIB) as f:
        f.write_lines(b"new\n")
        assert [Path(b).read_bytes() for b in f.backups()] == [b"z" * 1023 + b"\n"]
    assert path.read_bytes() == b"new\n"


def test_old_backups_are_cleaned_at_open(tmp_path: Path) -> None:
    path = tmp_path / "tetragon.log"
    for ms in range(5):
        Path(backup_name(str(path), 1_700_000_000_000 + ms)).write_bytes(b"old\n")
    (tmp_path / "tetragon-not-a-backup.log").write_bytes(b"keep\n")
    with RotatingFile(path, max_backups=2) as f:
        assert f.wait_idle(10)
        assert [os.path.basename(b) for b in f.backups()] == [
            "tetragon-2023-11-14T22-13-20.004.log",
            "tetragon-2023-11-14T22-13-20.003.log",
        ]
    assert (tmp_path / "tetragon-not-a-backup.log").exists()


def test_zero_max_size_means_lumberjack_default(tmp_path: Path) -> None:
    with RotatingFile(tmp_path / "a.log", max_size_mb=0) as f:
        assert f.max_bytes == 100 * 1024 * 1024


def test_creates_missing_directories(tmp_path: Path) -> None:
    path = tmp_path / "var" / "log" / "tetragon" / "tetragon.log"
    with RotatingFile(path) as f:
        f.write_lines(b"x\n")
    assert path.read_bytes() == b"x\n"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/var/log/tetragon/tetragon.log", "/var/log/tetragon/tetragon-2016-11-04T18-30-00.000.log"),
        ("/var/log/tetragon", "/var/log/tetragon-2016-11-04T18-30-00.000"),
        ("/var/log/a.b.json", "/var/log/a.b-2016-11-04T18-30-00.000.json"),
        ("/var/log/.hidden", "/var/log/-2016-11-04T18-30-00.000.hidden"),
    ],
)
def test_backup_name_is_lumberjacks(path: str, expected: str) -> None:
    # lumberjack's doc example: rotated at 6:30pm on Nov 4 2016 (UTC).
    assert backup_name(path, 1478284200_000) == expected
    assert backup_name(path, 1478284200_042).replace(".042", ".000") == expected


def test_split_name_uses_go_ext() -> None:
    assert split_name("/x/y.tar.gz") == ("/x", "y.tar", ".gz")
    assert split_name("rel.log") == (".", "rel", ".log")


def test_failed_rotation_keeps_writing_and_retries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tetragon.log"
    real_rename = os.rename
    failures = {"left": 3}

    def flaky_rename(src: str, dst: str) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(30, "Read-only file system")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", flaky_rename)
    rng = random.Random(2)
    lines = make_lines(rng, 200, 100)
    with RotatingFile(path, max_size_mb=KIB) as f:
        write_batches(f, rng, lines, 6)
    assert failures["left"] == 0
    files = read_all(path)
    assert b"".join(data for _, data in files) == b"".join(lines)
    assert len(files[0][1]) > 1024  # the first file grew past the limit while rotation failed
    assert all(data.endswith(b"\n") for _, data in files)
