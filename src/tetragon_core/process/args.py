"""Arguments string, absolute binary path and container id, decoded as Tetragon does."""

from __future__ import annotations

import posixpath
from typing import Final

__all__ = [
    "BPF_CONTAINER_ID_LENGTH",
    "CONTAINER_ID_LENGTH",
    "binary_path",
    "docker_id",
    "format_args",
]

CONTAINER_ID_LENGTH: Final = 64
# Container ids are reported truncated to this many characters (what the BPF side can carry).
BPF_CONTAINER_ID_LENGTH: Final = 31
# The kernel hands over the cgroup leaf name in a 128-byte NUL-terminated buffer.
_DOCKER_ID_BUFFER: Final = 128
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_MEMO_LIMIT: Final = 4096
_docker_memo: dict[tuple[str, bool], str] = {}


def format_args(args: list[str]) -> str:
    """Join arguments (argv[1:]) as Tetragon prints them.

    Arguments are separated by single spaces and any argument containing a space is wrapped in
    double quotes. Upstream's quirks are kept: a quoted argument always brings its own leading
    space (so a quoted first argument yields a leading space) and empty leading arguments vanish.
    """
    if not args:
        return ""
    joined = " ".join(args)
    # Fast path: no argument holds a space, and the first one is non-empty.
    if args[0] and joined.count(" ") == len(args) - 1:
        return joined
    out = ""
    for a in args:
        if " " in a:
            out = f'{out} "{a}"'
        elif out:
            out = f"{out} {a}"
        else:
            out = a
    return out


def binary_path(filename: str, cwd: str) -> str:
    """``filename`` made absolute against ``cwd``, like Go's ``filepath.Join(cwd, filename)``.

    Absolute filenames are returned untouched; relative ones are joined and cleaned.
    """
    if filename.startswith("/"):
        return filename
    if not cwd:
        return _clean(filename) if filename else ""
    if not filename:
        return _clean(cwd)
    return _clean(f"{cwd}/{filename}")


def _clean(path: str) -> str:
    cleaned = posixpath.normpath(path)
    # POSIX lets normpath keep a leading "//"; Go's Clean does not.
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def docker_id(cgroup_name: str, *, from_bpf: bool = True) -> str:
    """The container id (first 31 characters) found in a cgroup name, or "".

    ``cgroup_name`` is a cgroup leaf name (``docker-<64 hex>.scope``, ``cri-containerd-<id>.scope``,
    ``crio-<id>.scope``, ``<64 hex>``, or a cgroupfs-driver ``prefix:runtime:<id>``) or a path
    whose last component is one. ``from_bpf`` says the name came from the kernel's 128-byte buffer
    (and may be truncated there); otherwise it was read from ``/proc/<pid>/cgroup`` and a bare hex
    id of 31 or more characters is also accepted, as upstream's procfs scan does.
    """
    key = (cgroup_name, from_bpf)
    found = _docker_memo.get(key)
    if found is None:
        found = _lookup_container_id(cgroup_name, from_bpf)
        if len(_docker_memo) < _MEMO_LIMIT:
            _docker_memo[key] = found
    return found


def _lookup_container_id(cgroup: str, from_bpf: bool) -> str:
    subdirs = cgroup.split("/")
    subdir = subdirs[-1]
    # sysbox nested containers: the outermost container's id sits at a fixed depth.
    if "syscont-cgroup-root" in subdir and len(subdirs) > 4:
        subdir = subdirs[4]
    truncated = from_bpf and len(subdir) >= _DOCKER_ID_BUFFER - 1
    container = subdir.rsplit(":", 1)[-1].rsplit("-", 1)[-1]
    # A ".service" unit is something running inside a container, not the container itself.
    if not container.endswith("service") and (
        len(container) >= CONTAINER_ID_LENGTH or (truncated and len(container) >= BPF_CONTAINER_ID_LENGTH)
    ):
        return container[:BPF_CONTAINER_ID_LENGTH]
    if not from_bpf:
        # Some runtimes (GitHub's Ubuntu runners) name the cgroup by a bare hex id.
        leaf = subdirs[-1]
        if len(leaf) >= BPF_CONTAINER_ID_LENGTH and len(leaf) % 2 == 0 and _HEX.issuperset(leaf):
            return leaf[:BPF_CONTAINER_ID_LENGTH]
    return ""
