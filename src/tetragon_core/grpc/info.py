"""``GetInfo``: the agent's name, version, kernel feature probes, configuration and build.

As upstream's ``pkg/tetragoninfo``: ``conf`` holds every daemon flag by name with its effective value
packed in an ``Any`` (``StringValue``, ``BoolValue``, ``Int64Value`` or a ``ListValue`` of strings;
durations as Go duration strings, sizes as their byte count); ``probes`` the BPF features probed;
``build`` where the code came from. Go's build stamp has no Python equivalent, so ``go_version`` is
the interpreter (``python3.11.9``) and commit, time and modified come from the git checkout the
package runs from (or pip's record of the commit it was installed from), read once.

Gathering runs probes and ``git``: call :func:`gather_info` off the event loop.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from google.protobuf import any_pb2, struct_pb2, wrappers_pb2

from tetragon_core import __version__, probes
from tetragon_core.api.tetragon import sensors_pb2
from tetragon_core.config import FLAGS, AgentConfig, FlagKind

__all__ = ["NAME", "BuildInfo", "build_info", "encode_conf", "feature_probes", "gather_info", "go_duration"]

log = logging.getLogger(__name__)

#: the agent's name, as upstream's ``version.Name``
NAME: Final = "tetragon"
_GIT_TIMEOUT: Final = 5.0


@dataclass(frozen=True)
class BuildInfo:
    """``GetInfoResponse.BuildInfo``: what the running code was built from ("" when unknown)."""

    go_version: str
    commit: str = ""
    time: str = ""
    modified: str = ""  # "true"/"false", as Go's vcs.modified


def _checkout(start: Path) -> Path | None:
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d
    return None


def _git(root: Path, *args: str) -> str:
    cmd = ["git", "-c", f"safe.directory={root}", "-C", str(root), *args]
    env = {**os.environ, "TZ": "UTC", "GIT_OPTIONAL_LOCKS": "0"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=_GIT_TIMEOUT, env=env, check=True)
    return out.stdout


def _installed_commit() -> str:
    try:
        text = metadata.distribution("tetragon-core").read_text("direct_url.json")
        return str(json.loads(text or "{}").get("vcs_info", {}).get("commit_id", ""))
    except (metadata.PackageNotFoundError, ValueError, AttributeError):
        return ""


@functools.cache
def build_info() -> BuildInfo:
    """Where the running code came from; computed once (it runs ``git``)."""
    python = f"python{platform.python_version()}"
    root = _checkout(Path(__file__).resolve().parent)
    if root is None:
        return BuildInfo(python, commit=_installed_commit())
    try:
        head = _git(root, "log", "-1", "--format=%H%n%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ")
        commit, _, when = head.strip().partition("\n")
        dirty = bool(_git(root, "status", "--porcelain").strip())
    except (OSError, subprocess.SubprocessError) as e:
        log.debug("GetInfo: no build info from git in %s: %s", root, e)
        return BuildInfo(python, commit=_installed_commit())
    return BuildInfo(python, commit, when, "true" if dirty else "false")


def go_duration(seconds: float) -> str:
    """``seconds`` as Go's ``time.Duration.String()`` writes it: ``0s``, ``500ms``, ``1m30s``, ``1h0m0s``."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)

    def frac(v: int, digits: int) -> str:
        whole, rest = divmod(v, 10**digits)
        return f"{whole}.{str(rest).rjust(digits, '0').rstrip('0')}" if rest else str(whole)

    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{frac(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{frac(u, 6)}ms"
    hours, rest = divmod(u, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "") + frac(rest, 9) + "s"
    return sign + text


def _pack(kind: FlagKind, value: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    if kind is FlagKind.BOOL:
        packed.Pack(wrappers_pb2.BoolValue(value=bool(value)))
    elif kind is FlagKind.INT:
        packed.Pack(wrappers_pb2.Int64Value(value=int(value)))
    elif kind is FlagKind.SECONDS and float(value).is_integer():
        packed.Pack(wrappers_pb2.Int64Value(value=int(value)))  # upstream's int "seconds" flags
    elif kind in (FlagKind.DURATION, FlagKind.SECONDS):
        packed.Pack(wrappers_pb2.StringValue(value=go_duration(float(value))))
    elif kind is FlagKind.STRING_LIST:
        packed.Pack(struct_pb2.ListValue(values=[struct_pb2.Value(string_value=v) for v in value]))
    else:  # strings, and sizes (as their byte count)
        packed.Pack(wrappers_pb2.StringValue(value=str(value)))
    return packed


def encode_conf(cfg: AgentConfig) -> list[Any]:
    """Every daemon flag (command-line actions such as ``--help`` aside) with its effective value."""
    return [
        sensors_pb2.GetInfoResponse.ConfVal(key=f.name, value=_pack(f.kind, getattr(cfg, f.attr)))
        for f in FLAGS
        if not f.cli_only
    ]


def feature_probes() -> list[tuple[str, bool | None]]:
    """The kernel features probed on this machine: (name, supported); None when it cannot be told."""
    return [(f.name, ok) for f, ok in probes.probe_all()]


def gather_info(cfg: AgentConfig | None) -> Any:
    """The ``GetInfoResponse`` for an agent running with ``cfg`` (no ``conf`` without one). Blocks."""
    b = build_info()
    res = sensors_pb2.GetInfoResponse(
        name=NAME,
        version=__version__,
        conf=encode_conf(cfg) if cfg is not None else [],
        build=sensors_pb2.GetInfoResponse.BuildInfo(
            go_version=b.go_version, commit=b.commit, time=b.time, modified=b.modified
        ),
    )
    for name, enabled in feature_probes():
        if enabled is None:
            res.probes.add(Name=name)  # Enabled unset: unknown
        else:
            res.probes.add(Name=name, Enabled=wrappers_pb2.BoolValue(value=enabled))
    return res
