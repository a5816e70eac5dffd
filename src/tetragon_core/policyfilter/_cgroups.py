"""Cgroup ids of containers: the inode numbers of their cgroup v2 directories, which is what
``bpf_get_current_cgroup_id()`` returns for their processes.

A container's directory is found by its id: under the cgroupfs driver it is named after the id
(``/kubepods/besteffort/pod<uid>/<id>``, podman's ``libpod-<id>``), under the systemd driver it
is ``<runtime>-<id>.scope``. When the runtime told the path (the CRI's cgroupsPath) it is tried
first. Every directory below the container's (a container may make its own sub-cgroups) counts
as the container's too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Final

__all__ = ["CgroupFinder", "cgroup2_root"]

_MAX_DEPTH: Final = 10


def cgroup2_root(mountinfo: str = "/proc/self/mountinfo") -> str:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup``, or ``/sys/fs/cgroup/unified``
    on a hybrid host); "" when there is none."""
    try:
        with open(mountinfo, encoding="utf-8") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return left.split(" ")[4]
    except OSError:
        pass
    return ""


def _is_container_dir(name: str, cid: str) -> bool:
    if cid not in name or "conmon" in name:  # podman's conmon sits in libpod-conmon-<id>
        return False
    return name == cid or name.endswith(("-" + cid, "-" + cid + ".scope", ":" + cid))


class CgroupFinder:
    """Finds containers' cgroup directories under one cgroup v2 root."""

    def __init__(self, root: str | None = None) -> None:
        self.root = cgroup2_root() if root is None else root

    def _ids_below(self, path: str) -> list[int]:
        out: list[int] = []
        try:
            out.append(os.stat(path).st_ino)
        except OSError:
            return []
        for sub in self._walk(path, _MAX_DEPTH):
            try:
                out.append(os.stat(sub).st_ino)
            except OSError:
                continue
        return out

    def _walk(self, top: str, depth: int) -> Iterator[str]:
        if depth <= 0:
            return
        try:
            with os.scandir(top) as it:
                dirs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
        except OSError:
            return
        for d in dirs:
            yield d
            yield from self._walk(d, depth - 1)

    def find(self, container_id: str, hint: str = "") -> tuple[str, list[int]] | None:
        """The container's cgroup directory and the cgroup ids of it and its sub-cgroups, or
        None while it does not exist (yet)."""
        return self.find_all({container_id: hint}).get(container_id)

    def find_all(self, wanted: dict[str, str]) -> dict[str, tuple[str, list[int]]]:
        """:meth:`find` for several containers (id → path hint), walking the hierarchy once."""
        found: dict[str, tuple[str, list[int]]] = {}
        if not self.root:
            return found
        rest: dict[str, str] = {}
        for cid, hint in wanted.items():
            path = os.path.join(self.root, hint.lstrip("/")) if hint else ""
            if path and os.path.isdir(path):
                found[cid] = (path, self._ids_below(path))
            elif cid:
                rest[cid] = hint
        if rest:
            for path in self._walk(self.root, _MAX_DEPTH):
                name = os.path.basename(path)
                for cid in [c for c in rest if _is_container_dir(name, c)]:
                    found[cid] = (path, self._ids_below(path))
                    del rest[cid]
                if not rest:
                    break
        return found
