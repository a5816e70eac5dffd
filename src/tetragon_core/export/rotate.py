"""A size/interval-rotated log file with lumberjack (``cilium/lumberjack/v2``) semantics.

Tetragon writes its JSON export through lumberjack; this reproduces what a log shipper sees:

* The active file is always ``path``; it is appended to if it already exists.
* Before a write would push it past ``max_size_mb`` it is renamed to
  ``<name>-<UTC 2006-01-02T15-04-05.000><ext>`` and a fresh ``path`` is created.
* A background thread then deletes all but the newest ``max_backups`` backups (by the time in
  their name; a backup and its ``.gz`` count once) and, with ``compress``, gzips the others to
  ``<backup>.gz`` through a ``.gz.tmp`` file that is fsynced and renamed, so a ``.gz`` is always
  complete.

Deliberate differences, all in the direction of not losing data:

* Writes take whole newline-terminated lines and a line is never split across files: a batch
  that does not fit is cut at the last line boundary that fits. A single line longer than the
  maximum (lumberjack rejects it) is written alone into a fresh file.
* Two rotations within one millisecond would give lumberjack the same backup name and the second
  rename would replace the first backup; here the timestamp is bumped to the next free
  millisecond instead.
* ``perm`` is enforced (``fchmod``, so the umask does not weaken it) when the active file is
  created or reopened, and on both files at every rotation; lumberjack copies the old file's
  mode to the new one.
* Interval rotation skips an empty active file, so idle periods do not push real backups out
  of ``max_backups``.
* A failed rotation (say, a read-only directory) does not fail the write: the lines go on into
  the current file, past its limit, and the next write retries the rotation.
* If the existing file does not end in a newline (a crash mid-write), a newline is appended
  first so the next line is not glued onto the torn one.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time

from tetragon_core.export.backups import COMPRESS_SUFFIX, BackupMill, backup_name, list_backups

__all__ = ["DEFAULT_MAX_SIZE_MB", "RotatingFile", "backup_name", "parse_perm"]

log = logging.getLogger(__name__)

DEFAULT_MAX_SIZE_MB = 100
_MEGABYTE = 1024 * 1024
_ERROR_LOG_INTERVAL_S = 10.0


def parse_perm(perm: str) -> int:
    """Parse an octal permission string (``"600"``, ``"0640"``) as Tetragon's ``--export-file-perm``."""
    try:
        mode = int(perm, 8)
    except ValueError:
        raise ValueError(f"invalid file permission {perm!r}: not an octal number") from None
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"invalid file permission {perm!r}")
    return mode


class RotatingFile:
    """An append-only line log that rotates by size and, optionally, by age.

    Thread-safe: writes, rotations and :meth:`close` are serialised by one lock. The active file
    is opened (or created) by the constructor so that a bad path fails at startup.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_size_mb: float = DEFAULT_MAX_SIZE_MB,
        max_backups: int = 0,
        compress: bool = False,
        perm: str = "600",
        rotation_interval: float = 0.0,
    ) -> None:
        """Open ``path`` for appending.

        ``max_size_mb`` 0 means lumberjack's default of 100 MiB; fractions are allowed (tests).
        ``max_backups`` 0 keeps every backup. ``rotation_interval`` is in seconds, 0 disables it.
        """
        if max_size_mb < 0:
            raise ValueError("max_size_mb must be >= 0")
        if max_backups < 0:
            raise ValueError("max_backups must be >= 0")
        if rotation_interval < 0:
            raise ValueError("rotation_interval must be >= 0")
        self._path = os.path.abspath(os.fspath(path))
        self._dir = os.path.dirname(self._path)
        self._max_bytes = max(1, int((max_size_mb or DEFAULT_MAX_SIZE_MB) * _MEGABYTE))
        self._mode = parse_perm(perm)
        self._interval = float(rotation_interval)

        self._lock = threading.Lock()
        self._fd = -1
        self._size = 0
        self._opened_at = time.monotonic()
        self._last_backup_ms = 0
        self._last_error_log = -_ERROR_LOG_INTERVAL_S
        self._closed = False

        self._mill = BackupMill(self._path, max_backups=max_backups, compress=compress)

        try:
            with self._lock:
                self._open_existing_or_new()
        except BaseException:
            self._mill.stop()
            raise

    # -- public -----------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """Absolute path of the active file."""
        return self._path

    @property
    def max_bytes(self) -> int:
        """The size limit of one file, in bytes."""
        return self._max_bytes

    @property
    def size(self) -> int:
        """Bytes in the active file."""
        return self._size

    def write_lines(self, data: bytes) -> None:
        """Append whole newline-terminated lines, rotating first where a line would not fit.

        If a rotation fails (logged), the lines go on into the current file past its size limit
        rather than being lost; the next write tries to rotate again. Raises ``ValueError`` if
        ``data`` does not end with a newline, and ``OSError`` when the lines cannot be written
        at all; lines written before an error stay written.
        """
        if not data:
            return
        if data[-1:] != b"\n":
            raise ValueError("write_lines needs whole newline-terminated lines")
        with self._lock:
            if self._closed:
                raise ValueError("write to a closed RotatingFile")
            if self._fd < 0:
                # An earlier rotation failed and left no file open: try again now.
                self._open_existing_or_new()
            if self._interval_due() and not self._try_rotate():
                self._write_all(data, 0, len(data))
                return
            pos, end = 0, len(data)
            while pos < end:
                room = self._max_bytes - self._size
                if end - pos <= room:
                    self._write_all(data, pos, end)
                    return
                cut = data.rfind(b"\n", pos, pos + room) if room > 0 else -1
                if cut >= pos:
                    self._write_all(data, pos, cut + 1)
                    pos = cut + 1
                elif self._size == 0:
                    # A single line longer than a whole file: alone in its own file.
                    nl = data.index(b"\n", pos)
                    self._write_all(data, pos, nl + 1)
                    pos = nl + 1
                    continue
                if not self._try_rotate():
                    self._write_all(data, pos, end)
                    return

    def rotate(self) -> None:
        """Rotate now (as lumberjack's ``Rotate``), even if the active file is empty."""
        with self._lock:
            if self._closed:
                raise ValueError("rotate of a closed RotatingFile")
            self._rotate_locked()

    def tick(self) -> bool:
        """Rotate if ``rotation_interval`` has elapsed since the last rotation; True if it did."""
        with self._lock:
            if self._closed or not self._interval_due():
                return False
            self._rotate_locked()
            return True

    def next_rotation_in(self) -> float | None:
        """Seconds until the interval rotation is due (0 if overdue), or None without an interval."""
        if self._interval <= 0:
            return None
        return max(0.0, self._opened_at + self._interval - time.monotonic())

    def backups(self) -> list[str]:
        """Paths of the backups on disk (plain and ``.gz``), newest first."""
        return [os.path.join(self._dir, name) for _, name in list_backups(self._path)]

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until background compression and cleanup have caught up; False on timeout."""
        return self._mill.wait_idle(timeout)

    def close(self) -> None:
        """Close the active file and finish pending background work. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        self._mill.stop()

    def __enter__(self) -> RotatingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- active file (called with self._lock held) -------------------------------------------

    def _write_all(self, data: bytes, start: int, stop: int) -> None:
        view = memoryview(data)[start:stop]
        while view:
            n = os.write(self._fd, view)
            self._size += n
            view = view[n:]

    def _interval_due(self) -> bool:
        if self._interval <= 0 or time.monotonic() - self._opened_at < self._interval:
            return False
        if self._size == 0:
            self._opened_at = time.monotonic()
            return False
        return True

    def _open_existing_or_new(self) -> None:
        self._mill.kick()
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            self._open_new()
            return
        if st.st_size >= self._max_bytes:
            self._rotate_locked()
            return
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            os.fchmod(fd, self._mode)
            size = st.st_size
            if size > 0 and self._last_byte() != b"\n":
                os.write(fd, b"\n")
                size += 1
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._size, self._opened_at = fd, size, time.monotonic()

    def _last_byte(self) -> bytes:
        rfd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            end = os.fstat(rfd).st_size
            return os.pread(rfd, 1, end - 1) if end > 0 else b""
        finally:
            os.close(rfd)

    def _open_new(self) -> None:
        os.makedirs(self._dir, 0o755, exist_ok=True)
        old: os.stat_result | None = None
        try:
            old = os.stat(self._path)
        except FileNotFoundError:
            pass
        if old is not None:
            if stat.S_IMODE(old.st_mode) != self._mode:
                try:
                    os.chmod(self._path, self._mode)
                except PermissionError:
                    pass
            os.rename(self._path, self._free_backup_name())
        fd = os.open(
            self._path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, self._mode
        )
        try:
            os.fchmod(fd, self._mode)
            if old is not None and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.fchown(fd, old.st_uid, old.st_gid)
                except PermissionError:
                    pass
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._size, self._opened_at = fd, 0, time.monotonic()

    def _free_backup_name(self) -> str:
        ms = max(time.time_ns() // 1_000_000, self._last_backup_ms + 1)
        while True:
            name = backup_name(self._path, ms)
            if not (os.path.lexists(name) or os.path.lexists(name + COMPRESS_SUFFIX)):
                self._last_backup_ms = ms
                return name
            ms += 1

    def _try_rotate(self) -> bool:
        """Rotate; if that fails but a file is still open, log and return False (keep writing)."""
        try:
            self._rotate_locked()
            return True
        except OSError:
            if self._fd < 0:
                raise
            now = time.monotonic()
            if now - self._last_error_log >= _ERROR_LOG_INTERVAL_S:
                self._last_error_log = now
                log.warning("rotating %s failed; writing on past its size limit", self._path, exc_info=True)
            return False

    def _rotate_locked(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        try:
            self._open_new()
        except OSError:
            # Retry an interval rotation only an interval later, as upstream's re-armed timer does.
            self._opened_at = time.monotonic()
            # Keep a writable file if at all possible: append to whatever is at path now.
            try:
                self._fd = os.open(
                    self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, self._mode
                )
                self._size = os.fstat(self._fd).st_size
            except OSError:
                self._fd = -1
            raise
        self._mill.kick()
