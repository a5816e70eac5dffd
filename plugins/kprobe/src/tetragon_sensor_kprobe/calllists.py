"""``call: list:NAME``: one hook per function of a ``spec.lists`` entry.

List types: ``syscalls`` (its values, syscall hooks), ``generated_syscalls`` (every syscall of this
kernel) and ``generated_ftrace`` (the traceable kernel functions matching ``pattern``). Tetragon
attaches a list as one kprobe.multi program; here each entry is a hook of its own (one object
each), so a list is capped at ``MAX_LIST_CALLS`` and a longer one is refused, naming kprobe.multi.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import replace

from tetragon_core.sdk import (
    KProbeSpec,
    ListSpec,
    PolicyError,
    probes,
    tracefs,
)

MAX_LIST_CALLS = 32


def _syscalls() -> list[str]:
    """Every syscall of this kernel, by its ``sys_enter_*`` tracepoint."""
    d = os.path.join(tracefs.events_dir(), "syscalls")
    return sorted("sys_" + n[len("sys_enter_") :] for n in os.listdir(d) if n.startswith("sys_enter_"))


def _ftrace(path: str, pattern: str) -> list[str]:
    if not pattern:
        raise PolicyError(f"{path}.pattern", "a generated_ftrace list needs a pattern")
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise PolicyError(f"{path}.pattern", f"not a regular expression: {e}") from None
    fn = os.path.join(os.path.dirname(tracefs.events_dir()), "available_filter_functions")
    try:
        with open(fn) as f:
            names = {line.split()[0] for line in f if line.strip()}
    except OSError as e:
        raise PolicyError(
            f"{path}.type", f"generated_ftrace needs the kernel's traceable functions ({fn}): {e.strerror}"
        ) from None
    return sorted(n for n in names if rx.search(n) and "." not in n)


def expand(
    path: str, kp: KProbeSpec, lists: Sequence[ListSpec], multi_disabled_by: str = ""
) -> list[KProbeSpec]:
    """The hooks ``kp`` stands for: itself, or one per function of its list.

    ``multi_disabled_by`` names what turned kprobe.multi off (``--disable-kprobe-multi`` or the
    policy's option), for the refusal of a list too long for single kprobes.
    """
    if not kp.call.startswith("list:"):
        return [kp]
    name = kp.call[len("list:") :]
    found = [(i, ls) for i, ls in enumerate(lists) if ls.name == name]
    if not found:
        raise PolicyError(f"{path}.call", f"list {name!r} is not defined in spec.lists")
    i, ls = found[0]
    lpath = f"spec.lists[{i}]"
    if ls.type == "syscalls":
        calls, syscall = list(ls.values), True
    elif ls.type == "generated_syscalls":
        calls, syscall = _syscalls(), True
    elif ls.type == "generated_ftrace":
        calls, syscall = _ftrace(lpath, ls.pattern), False
    else:
        raise PolicyError(
            f"{lpath}.type", f"a list of type {ls.type or 'values'!r} names no functions to hook"
        )
    if not calls:
        raise PolicyError(f"{lpath}", f"list {name!r} names no function of this kernel")
    if len(calls) > MAX_LIST_CALLS:
        if multi_disabled_by:
            why = f"kprobe.multi, which {multi_disabled_by} disables"
        elif not probes.has_kprobe_multi():
            why = "kprobe.multi, which this kernel lacks"
        else:
            why = "kprobe.multi, which this sensor does not use yet"
        raise PolicyError(
            f"{path}.call",
            f"list {name!r} has {len(calls)} functions; more than {MAX_LIST_CALLS} in one hook "
            f"requires {why}",
        )
    return [replace(kp, call=c, syscall=syscall) for c in calls]
