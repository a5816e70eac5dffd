"""Rotated-backup housekeeping for :class:`~tetragon_core.export.rotate.RotatingFile`.

Backups are named as lumberjack names them, ``<stem>-<UTC 2006-01-02T15-04-05.000><ext>`` (Go's
``filepath.Ext`` rule: the extension starts at the last dot of the base name). A background
"mill" thread, like lumberjack's, deletes all but the newest ``max_backups`` (a backup and its
``.gz`` count once; 0 keeps all) and, with ``compress``, gzips the rest through a fsynced
``.gz.tmp`` that is renamed into place, so a ``.gz`` is only ever seen complete.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import threading
from datetime import UTC, datetime

__all__ = ["BackupMill", "backup_name", "compress_file", "list_backups", "split_name"]

log = logging.getLogger(__name__)

COMPRESS_SUFFIX = ".gz"
_TMP_SUFFIX = ".tmp"
_STAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}")


def split_name(path: str) -> tuple[str, str, str]:
    """``(dir, stem, ext)`` of ``path`` with Go's ``filepath.Ext`` rule."""
    directory, base = os.path.split(path)
    dot = base.rfind(".")
    ext = base[dot:] if dot >= 0 else ""
    return directory or ".", base[: len(base) - len(ext)], ext


def backup_name(path: str, unix_ms: int) -> str:
    """The lumberjack backup name of ``path`` rotated at ``unix_ms`` (UTC)."""
    directory, stem, ext = split_name(path)
    stamp = datetime.fromtimestamp(unix_ms // 1000, UTC).strftime("%Y-%m-%dT%H-%M-%S")
    return os.path.join(directory, f"{stem}-{stamp}.{unix_ms % 1000:03d}{ext}")


def list_backups(path: str) -> list[tuple[str, str]]:
    """``(timestamp text, file name)`` of every backup of ``path`` (plain or ``.gz``), newest first."""
    directory, stem, ext = split_name(path)
    prefix = stem + "-"
    found: list[tuple[str, str]] = []
    for name in os.listdir(directory):
        if not name.startswith(prefix):
            continue
        for suffix in (ext, ext + COMPRESS_SUFFIX):
            if name.endswith(suffix) and len(name) - len(suffix) >= len(prefix):
                stamp = name[len(prefix) : len(name) - len(suffix)]
                if _STAMP_RE.fullmatch(stamp) and os.path.isfile(os.path.join(directory, name)):
                    found.append((stamp, name))
                    break
    # The timestamp is fixed-width, so text order is time order.
    found.sort(reverse=True)
    return found


def compress_file(src: str) -> None:
    """Gzip ``src`` to ``src.gz`` atomically (tmp, fsync, rename) and remove ``src``.

    The ``.gz`` gets ``src``'s permission bits.
    """
    dst = src + COMPRESS_SUFFIX
    tmp = dst + _TMP_SUFFIX
    with open(src, "rb") as fin:
        st = os.fstat(fin.fileno())
        mode = st.st_mode & 0o7777
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            with os.fdopen(fd, "wb") as raw:
                os.fchmod(raw.fileno(), mode)
                with gzip.GzipFile(
                    filename=os.path.basename(src), mode="wb", fileobj=raw, mtime=int(st.st_mtime)
                ) as gz:
                    shutil.copyfileobj(fin, gz, 1 << 20)
                raw.flush()
                os.fsync(raw.fileno())
            os.rename(tmp, dst)
        except BaseException:
            try:
                os.remove(tmp)
            except FileNotFoundError:
                pass
            raise
    os.remove(src)


class BackupMill:
    """Applies ``max_backups`` and ``compress`` to the backups of one file, in a thread.

    :meth:`kick` requests a pass and returns at once; requests made while a pass is running
    coalesce into one more pass. Nothing runs (and no thread starts) if there is nothing to do.
    """

    def __init__(self, path: str, *, max_backups: int, compress: bool) -> None:
        """Manage the backups of the active file ``path``."""
        self._path = path
        self._dir = split_name(path)[0]
        self._max_backups = max_backups
        self._compress = compress
        self._cv = threading.Condition()
        self._pending = False
        self._busy = False
        self._stop = False
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        """Request a cleanup/compression pass."""
        if self._max_backups == 0 and not self._compress:
            return
        with self._cv:
            if self._stop:
                return
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name=f"rotate-mill:{os.path.basename(self._path)}", daemon=True
                )
                self._thread.start()
            self._cv.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no pass is pending or running; False on timeout."""
        with self._cv:
            return self._cv.wait_for(lambda: not (self._pending or self._busy), timeout)

    def stop(self) -> None:
        """Finish any requested pass, then stop the thread."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._stop:
                    self._cv.wait()
                if not self._pending:
                    return
                self._pending = False
                self._busy = True
            try:
                self.run_once()
            except Exception:
                log.warning("cleaning up rotated files of %s failed", self._path, exc_info=True)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def run_once(self) -> None:
        """One pass: delete backups beyond ``max_backups``, then compress the kept ones."""
        files = list_backups(self._path)
        if self._max_backups > 0:
            stamps: set[str] = set()
            kept: list[tuple[str, str]] = []
            for stamp, name in files:
                stamps.add(stamp)
                if len(stamps) > self._max_backups:
                    _remove(os.path.join(self._dir, name))
                else:
                    kept.append((stamp, name))
            files = kept
        if not self._compress:
            return
        names = {name for _, name in files}
        for _, name in files:
            if name.endswith(COMPRESS_SUFFIX):
                continue
            if name + COMPRESS_SUFFIX in names:
                # A run died between renaming the .gz into place and removing the source; the
                # .gz is complete (it is only ever renamed in whole).
                _remove(os.path.join(self._dir, name))
            else:
                compress_file(os.path.join(self._dir, name))


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
