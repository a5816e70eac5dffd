"""The ``capabilities`` filter: a ``CapFilter`` over the process's capability sets.

``CapFilter{permitted, effective, inheritable}`` holds up to three ``CapFilterSet``; each set given
must define exactly one of ``any`` (at least one of the caps), ``all`` (every one of them),
``exactly`` (this set and no other) or ``none`` (none of them). The sets given are ANDed. Events
whose process has no ``cap`` never match. As upstream (``pkg/filters/caps.go``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tetragon_core.api.tetragon import capabilities_pb2, events_pb2
from tetragon_core.events import Process
from tetragon_core.exceptions import ConfigError

_SET_NAMES = ("permitted", "effective", "inheritable")
_MODES = ("any", "all", "exactly", "none")

CapSetMatcher = Callable[[Sequence[str]], bool]


def _cap_name(value: int) -> str:
    try:
        return str(capabilities_pb2.CapabilitiesType.Name(value))
    except ValueError:
        return str(value)  # unknown number from a newer peer: matches nothing by name


def _set_matcher(set_name: str, fs: events_pb2.CapFilterSet) -> CapSetMatcher:
    defined = [m for m in _MODES if len(getattr(fs, m))]
    if len(defined) > 1:
        raise ConfigError(
            f"capabilities.{set_name}: capability filter may only define one match set, got: "
            + ", ".join(defined)
        )
    if not defined:
        raise ConfigError(f"capabilities.{set_name}: capability filter must define exactly one match set")
    mode = defined[0]
    wanted = frozenset(_cap_name(v) for v in getattr(fs, mode))
    if mode == "any":
        return lambda caps: not wanted.isdisjoint(caps)
    if mode == "all":
        return lambda caps: wanted.issubset(caps)
    if mode == "exactly":
        return lambda caps: frozenset(caps) == wanted
    return lambda caps: wanted.isdisjoint(caps)


def compile_caps(cf: events_pb2.CapFilter) -> Callable[[Process | None], bool]:
    """Compile a ``CapFilter`` into a ``process -> bool``; a bad set raises :class:`ConfigError`."""
    checks: list[tuple[str, CapSetMatcher]] = []
    for set_name in _SET_NAMES:
        if cf.HasField(set_name):
            checks.append((set_name, _set_matcher(set_name, getattr(cf, set_name))))

    def match(process: Process | None) -> bool:
        if process is None:
            return False
        cap = process.cap
        if cap is None:
            return False
        return all(check(getattr(cap, set_name)) for set_name, check in checks)

    return match
