"""uid → user name from ``/etc/passwd`` (``--username-metadata=unix``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

__all__ = ["UserDB"]


class UserDB:
    """Resolves uids against a passwd file, re-reading it when its mtime changes.

    The file's mtime is checked at most once per ``recheck_seconds``, so a lookup on the hot path
    is a dict access. Only the passwd file is consulted (no NSS), as in upstream's static build.
    """

    __slots__ = ("_checked_at", "_clock", "_mtime_ns", "_names", "_path", "_recheck")

    def __init__(
        self,
        path: str = "/etc/passwd",
        *,
        recheck_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Read users from ``path``; ``clock`` is injectable for tests."""
        self._path = path
        self._recheck = recheck_seconds
        self._clock = clock
        self._checked_at: float | None = None
        self._mtime_ns = -1
        self._names: dict[int, str] = {}

    def lookup(self, uid: int) -> str | None:
        """The user name of ``uid``, or None if the passwd file has no such user."""
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self._recheck:
            self._checked_at = now
            self._refresh()
        return self._names.get(uid)

    def _refresh(self) -> None:
        try:
            mtime = os.stat(self._path).st_mtime_ns
        except OSError:
            self._names = {}
            self._mtime_ns = -1
            return
        if mtime == self._mtime_ns:
            return
        names: dict[int, str] = {}
        try:
            with open(self._path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("#"):
                        continue
                    fields = line.rstrip("\n").split(":")
                    if len(fields) < 3 or not fields[2].isdigit():
                        continue
                    # The first entry for a uid wins, as getpwuid's file scan does.
                    names.setdefault(int(fields[2]), fields[0])
        except OSError:
            names = {}
        self._names = names
        self._mtime_ns = mtime
