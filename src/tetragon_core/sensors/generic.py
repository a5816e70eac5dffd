"""Generic hook sensors (tracepoint, kprobe): one BPF object per policy hook.

A plugin resolves a hook's arguments and decides where its programs attach; this module loads
the object with the compiled configuration (``.rodata.hook``) and selector maps, installs the
policy's followChildren sets, and gives the registry a :class:`GenericPolicy` handle that
attaches, detaches, switches mode, reads the kernel counters and frees everything.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tetragon_core.bpf import _libbpf as lb
from tetragon_core.bpf.maps import Map
from tetragon_core.bpf.objects import BpfObject
from tetragon_core.exceptions import TetragonError
from tetragon_core.policy import PolicyError, follow as F
from tetragon_core.policy.kernel import CompiledHook
from tetragon_core.policy.metrics import OUTCOMES
from tetragon_core.sensors.api import PolicyHandle, SensorContext

__all__ = ["STATS", "Attach", "Follow", "GenericPolicy", "Hook", "HookPlan", "load_hooks"]

_ZERO = struct.pack("<I", 0)
#: struct tg_hook_stats, in order: the run count, then the outcomes the core exports
STATS = ("calls", *OUTCOMES)

#: attaches one loaded program of an object (e.g. to a tracepoint); raises BpfError
Attach = Callable[[BpfObject], None]


def _memlock(fd: int) -> int:
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            for line in f:
                if line.startswith("memlock:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _mode_value(mode: str, policy_filter: int = 0) -> bytes:
    return struct.pack("<II", 1 if mode == "monitor" else 0, policy_filter)


class Hook:
    """One hook of a policy: its loaded object and how its programs attach."""

    def __init__(self, obj: BpfObject, programs: Sequence[str], attach: Attach, shared: set[str]) -> None:
        self.obj = obj
        self.own_maps = [m for name, m in obj.maps.items() if name not in shared]
        self.programs = list(programs)
        self._attach = attach

    def attach(self) -> None:
        if not self.obj.links:
            self._attach(self.obj)

    def kernel_memory(self) -> int:
        progs = sum(_memlock(self.obj.program_fd(p)) for p in self.programs)
        return progs + sum(_memlock(m.fd) for m in self.own_maps)


class Follow:
    """A policy's followChildren bits (from the shared allocator) and binary sets."""

    def __init__(self, paths: Map | None, execve_map: Map | None) -> None:
        self.paths = paths
        self.execve_map = execve_map
        self.taken: list[int] = []
        self.entries: list[tuple[str, int]] = []

    @property
    def available(self) -> bool:
        return self.paths is not None

    def take(self) -> int:
        bit = F.BITS.take()
        self.taken.append(bit)
        return bit

    def install(self, entries: list[tuple[str, int]]) -> None:
        if self.paths is not None and entries:
            self.entries += entries
            F.install(self.paths, self.execve_map, entries)

    def release(self) -> None:
        if self.paths is not None and self.entries:
            F.remove(self.paths, self.execve_map, self.entries)
        F.BITS.give_back(self.taken)
        self.taken, self.entries = [], []


class GenericPolicy(PolicyHandle):
    """A policy's hooks; ``forget`` drops the hook ids from the plugin's decoder table."""

    def __init__(
        self,
        hooks: list[Hook],
        forget: Callable[[], None],
        follow: Follow | None = None,
        policy_filter: int = 0,
    ) -> None:
        self._hooks = hooks
        self._forget = forget
        self._follow = follow
        #: the policy's id in the kernel's policy filter (0: the hooks act on every process)
        self.policy_filter = policy_filter

    def enable(self) -> None:
        for h in self._hooks:
            h.attach()

    def disable(self) -> None:
        for h in self._hooks:
            h.obj.detach()

    def set_mode(self, mode: str) -> None:
        for h in self._hooks:
            h.obj.maps["tg_hook_mode_map"].update(_ZERO, _mode_value(mode, self.policy_filter))

    def unload(self) -> None:
        for h in self._hooks:
            h.obj.close()
        self._hooks = []
        self._forget()
        if self._follow is not None:
            self._follow.release()
            self._follow = None

    def kernel_memory(self) -> int:
        return sum(h.kernel_memory() for h in self._hooks)

    def objects(self) -> Sequence[BpfObject]:
        return [h.obj for h in self._hooks]

    def stats(self) -> Mapping[str, int]:
        out = dict.fromkeys(STATS, 0)
        for h in self._hooks:
            for cpu in h.obj.maps["tg_hook_stats_map"].lookup_percpu(_ZERO):
                # an object built against an older SDK header has fewer counters (new ones last)
                n = min(len(cpu) // 8, len(STATS))
                for name, v in zip(STATS, struct.unpack_from(f"<{n}Q", cpu), strict=False):
                    out[name] += v
        return out


@dataclass
class HookPlan:
    """One compiled hook, ready to load: which programs of the object, and how they attach."""

    compiled: CompiledHook
    programs: Sequence[str]
    attach: Attach
    #: called once the object is loaded, before it is attached (e.g. to register the decoder)
    on_loaded: Callable[[BpfObject], None] = lambda obj: None
    #: program → kernel function, for BTF-attached programs (LSM hooks)
    targets: Mapping[str, str] | None = None
    #: more read-only data sections of the object (``.rodata.<name>`` → bytes), besides the hook's
    rodata: Mapping[str, bytes] = field(default_factory=dict)
    #: this hook's object, when it is not the section's (a variant of it)
    object_path: str = ""


STACK_ENTRIES = 4096  # stack traces waiting for user space, per hook that takes them


def _sizes(compiled: CompiledHook) -> dict[str, int]:
    sizes = {"tg_heap_map": lb.num_possible_cpus()}
    if compiled.stack_traces:
        sizes["tg_stack_map"] = STACK_ENTRIES
    return sizes


def load_hooks(
    ctx: SensorContext,
    section: str,
    obj_path: str,
    plans: Sequence[HookPlan],
    mode: str,
    follow: Follow,
    forget: Callable[[], None],
) -> GenericPolicy:
    """Load one object per plan, fill its maps, install followChildren sets, and attach them all.

    On any failure everything loaded so far is closed and ``forget`` is called; the error is a
    PolicyError naming ``section`` (``spec.kprobes``).
    """
    hooks: list[Hook] = []
    shared = {m.name for m in ctx.shared}
    try:
        for plan in plans:
            obj = ctx.load_untracked(
                plan.object_path or obj_path,
                autoload=set(plan.programs),
                max_entries=_sizes(plan.compiled),
                rodata={**plan.rodata, ".rodata.hook": plan.compiled.cfg},
                targets=dict(plan.targets) if plan.targets else None,
            )
            hooks.append(Hook(obj, plan.programs, plan.attach, shared))
            # the filter id is in place before attach: a scoped hook never acts host-wide
            obj.maps["tg_hook_mode_map"].update(_ZERO, _mode_value(mode, ctx.policy_filter))
            for map_name, entries in plan.compiled.maps.items():
                m = obj.maps[map_name]
                for k, v in entries.items():
                    m.update(k, v)
            plan.on_loaded(obj)  # before attach: the first record may come at once
        for plan in plans:
            follow.install(plan.compiled.mbset)  # before attach: no event may miss a set bit
        handle = GenericPolicy(hooks, forget, follow, ctx.policy_filter)
        handle.enable()
    except (TetragonError, OSError) as e:
        for h in hooks:
            h.obj.close()
        forget()
        if isinstance(e, PolicyError):
            raise
        raise PolicyError(section, f"loading failed: {e}") from e
    return handle
