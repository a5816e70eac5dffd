"""``spec.lists`` as InMap values: a ``syscalls`` list becomes the syscall numbers of its names."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tetragon_core.export._syscall_names import SYSCALL_NAMES
from tetragon_core.policy import PolicyError
from tetragon_core.policy.model import ListSpec

_X64 = {name: nr for nr, name in enumerate(SYSCALL_NAMES["x64"]) if name}


def syscall_number(name: str) -> int | None:
    """The x86_64 number of ``sys_dup``, ``__x64_sys_dup`` or ``dup``."""
    for prefix in ("__x64_sys_", "sys_", ""):
        if name.startswith(prefix) and name[len(prefix) :] in _X64:
            return _X64[name[len(prefix) :]]
    return None


def list_resolver(lists: Sequence[ListSpec]) -> Callable[[str], list[int]]:
    """Resolve ``list:NAME`` references against ``lists``; errors name ``spec.lists[i]``."""
    by_name = {ls.name: (i, ls) for i, ls in enumerate(lists)}

    def resolve(name: str) -> list[int]:
        if name not in by_name:
            raise PolicyError("spec.lists", f"list {name!r} is referenced but not defined")
        i, ls = by_name[name]
        if ls.type not in ("syscalls", ""):
            raise PolicyError(
                f"spec.lists[{i}].type", f"list type {ls.type!r} is not supported on tracepoints"
            )
        out = []
        for j, v in enumerate(ls.values):
            if ls.type == "syscalls":
                nr = syscall_number(v)
                if nr is None:
                    raise PolicyError(f"spec.lists[{i}].values[{j}]", f"unknown x86_64 syscall {v!r}")
                out.append(nr)
            else:
                try:
                    out.append(int(v, 0))
                except ValueError:
                    raise PolicyError(
                        f"spec.lists[{i}].values[{j}]", f"expected a number, got {v!r}"
                    ) from None
        return out

    return resolve
