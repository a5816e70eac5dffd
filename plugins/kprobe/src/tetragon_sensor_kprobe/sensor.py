"""The generic_kprobe sensor: one BPF object per policy hook, selectors evaluated in the kernel."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any

from tetragon_core.bpf.objects import BpfObject
from tetragon_core.policy import PolicyError, TracingPolicy
from tetragon_core.policy.kernel import HostInfo, compile_hook
from tetragon_core.policy.lists import list_resolver
from tetragon_core.process.messages import MSG_OP_GENERIC_KPROBE
from tetragon_core.process.namespaces import read_host_namespaces
from tetragon_core.sensors.api import Decoder, PolicyHandle, Sensor, SensorContext
from tetragon_core.sensors.generic import Follow, HookPlan, load_hooks
from tetragon_core.sensors.useractions import UserActions
from tetragon_sensor_kprobe.args import Placement, function_exists, place, resolve_args, return_spec
from tetragon_sensor_kprobe.calllists import expand
from tetragon_sensor_kprobe.decode import KprobeDecoder, KprobeInfo, StackSource

log = logging.getLogger(__name__)

_HOOK_RETURN = 0x10  # TG_HOOK_RETURN (bpf/lib/generic.h)


def _attacher(pl: Placement) -> Any:
    def attach(obj: BpfObject) -> None:
        if pl.method == "fmod_ret":
            obj.attach(pl.entry)
            if pl.ret:  # the return when the function runs; an Override sends its own
                obj.attach_kprobe(pl.ret, pl.ret_target, retprobe=True)
        elif pl.method == "syscall_tp":
            obj.attach_tracepoint(pl.entry, "syscalls", pl.target)
            if pl.ret:
                obj.attach_tracepoint(pl.ret, "syscalls", pl.ret_target)
        else:
            obj.attach_kprobe(pl.entry, pl.target)
            if pl.ret:
                obj.attach_kprobe(pl.ret, pl.ret_target, retprobe=True)

    return attach


class KprobeSensor(Sensor):
    """process_kprobe events from TracingPolicy ``kprobes``.

    Where the kernel has no kprobes, ``syscall: true`` hooks run on the syscall tracepoints with
    the same events (function_name ``__x64_sys_<name>``); other hooks are refused, naming kprobes.
    """

    name = "generic_kprobe"
    description = (
        "TracingPolicy kprobes (syscalls on syscall tracepoints without kprobes), in-kernel selectors"
    )
    ops = (MSG_OP_GENERIC_KPROBE,)
    sections = ("kprobes",)

    def __init__(self) -> None:
        self._hooks: dict[int, KprobeInfo] = {}
        self._next_id = itertools.count(1)
        self._lock = threading.Lock()
        self._decoder = KprobeDecoder(self._hooks)
        #: hook id → how it runs (kprobe, syscall, syscall_tp), reported per hook
        self.methods: dict[int, str] = {}

    def decoders(self) -> Mapping[int, Decoder]:
        return {MSG_OP_GENERIC_KPROBE: self._decoder}

    def load(self, ctx: SensorContext) -> None:
        """Nothing to load until a policy asks for a kprobe; the merge counters are registered."""
        self._decoder = KprobeDecoder(self._hooks, ctx.registry, UserActions(ctx.registry))

    def forget(self, ids: Sequence[int]) -> None:
        with self._lock:
            for i in ids:
                self._hooks.pop(i, None)
                self.methods.pop(i, None)

    def load_policy(self, ctx: SensorContext, policy: Any, policy_id: int, mode: str) -> PolicyHandle:
        """Compile every kprobe of ``policy`` first (errors name the YAML path), then load."""
        assert isinstance(policy, TracingPolicy)
        fol = Follow(ctx.shared.get("tg_mbset_paths"), ctx.shared.get("execve_map"))
        try:
            return self._load(ctx, policy, mode, fol)
        except BaseException:
            fol.release()
            raise

    def _load(self, ctx: SensorContext, policy: TracingPolicy, mode: str, fol: Follow) -> PolicyHandle:
        spec = policy.spec
        host = HostInfo(namespaces=read_host_namespaces(ctx.procfs) or ())
        lists = list_resolver(spec.lists)
        plans: list[HookPlan] = []
        ids: list[int] = []
        hooks = [
            (f"spec.kprobes[{i}]", h)
            for i, kp in enumerate(spec.kprobes)
            for h in expand(f"spec.kprobes[{i}]", kp, spec.lists)
        ]
        for path, kp in hooks:
            pl = place(path, kp)
            if pl.method in ("kprobe", "syscall") and not function_exists(pl.target):
                if kp.ignore is not None and kp.ignore.call_not_found:
                    log.info(
                        "policy %s: %s is not a function of this kernel; ignored", policy.name, pl.target
                    )
                    continue
                raise PolicyError(
                    f"{path}.call",
                    f"{pl.target!r} is not a function of this kernel (absent from /proc/kallsyms: inlined, "
                    "renamed or not built); ignore: {callNotFound: true} skips such a hook",
                )
            resolved = resolve_args(path, kp, pl)
            ret = return_spec(path, kp, resolved)
            with self._lock:
                hook_id = next(self._next_id)
            ids.append(hook_id)
            compiled = compile_hook(
                path,
                hook_id,
                [r.spec for r in resolved],
                kp.selectors,
                macros=spec.selectors_macros,
                host=host,
                lists=lists,
                flags=_HOOK_RETURN if ret is not None else 0,
                mbset_bit=fol.take if fol.available else None,
                override=pl.override,
                ret=ret,
                positions={a.index: i for i, a in enumerate(kp.args)},
                stacks=True,
            )
            info = KprobeInfo(
                policy.name, pl.function_name, resolved, ret, kp.message, list(kp.tags), compiled.action_args
            )
            if compiled.stack_traces:
                info.stacks = StackSource(None, bool(ctx.options.get("expose_stack_addresses")), ctx.procfs)
            programs = [pl.entry, pl.ret] if pl.ret else [pl.entry]
            targets = {pl.entry: pl.target} if pl.method == "fmod_ret" else None
            plans.append(
                HookPlan(
                    compiled,
                    programs,
                    _attacher(pl),
                    on_loaded=self._register(hook_id, info, pl),
                    targets=targets,
                )
            )
        obj_path = str(files("tetragon_sensor_kprobe") / "bpf" / "bpf_generic_kprobe.o")
        return load_hooks(ctx, "spec.kprobes", obj_path, plans, mode, fol, lambda: self.forget(ids))

    def _register(self, hook_id: int, info: KprobeInfo, pl: Placement) -> Any:
        def register(obj: BpfObject) -> None:
            if info.stacks is not None:  # the hook takes stack traces: its decoder reads them here
                info.stacks.map = obj.maps["tg_stack_map"]
            with self._lock:
                self._hooks[hook_id] = info
                self.methods[hook_id] = pl.method
            log.info(
                "policy %s: %s runs as %s on %s", info.policy_name, info.function_name, pl.method, pl.target
            )

        return register
