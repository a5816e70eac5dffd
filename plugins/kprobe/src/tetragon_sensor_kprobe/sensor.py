"""The generic_kprobe sensor: one BPF object per policy hook, selectors evaluated in the kernel."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from tetragon_core.sdk import (
    MSG_OP_GENERIC_KPROBE,
    BpfObject,
    Decoder,
    HookPlan,
    HookSensor,
    PolicyEnv,
    PolicyError,
    PolicyHandle,
    SensorContext,
    StackSource,
    TracingPolicy,
    UserActions,
    compile_hook,
    load_hooks,
    probes,
)
from tetragon_sensor_kprobe.args import (
    Placement,
    function_exists,
    place,
    resolve_args,
    return_spec,
    wants_override,
)
from tetragon_sensor_kprobe.calllists import expand
from tetragon_sensor_kprobe.decode import KprobeDecoder, KprobeInfo

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


_TRUE = ("", "true", "1", "True")  # an option given without a value is on, as upstream


def _option_path(policy: TracingPolicy, name: str) -> str:
    i = next(i for i, o in enumerate(policy.spec.options) if o.name == name)
    return f"spec.options[{i}]"


def _multi_disabled_by(ctx: SensorContext, policy: TracingPolicy) -> str:
    """What disables kprobe.multi for this policy, or "" (this sensor attaches single kprobes
    either way; the refusal of a long list says which)."""
    value = policy.option("disable-kprobe-multi")
    if value is not None and value in _TRUE:
        return f"{_option_path(policy, 'disable-kprobe-multi')} (disable-kprobe-multi)"
    if ctx.options.get("disable_kprobe_multi"):
        return "--disable-kprobe-multi"
    return ""


def _check_override_method(policy: TracingPolicy, hooks: Sequence[Any]) -> None:
    """``override-method``: Override runs as fmod_ret here; asking for bpf_override_return is
    refused where a hook overrides (the kernels this agent runs on lack it)."""
    method = policy.option("override-method")
    if method != "override-return" or not any(wants_override(kp) for kp in hooks):
        return
    why = (
        "which this kernel lacks"
        if not probes.has_override_return()
        else "which this sensor does not use yet (it overrides security_* functions with fmod_ret)"
    )
    raise PolicyError(
        f"{_option_path(policy, 'override-method')}.value",
        f"override-method override-return requires bpf_override_return (CONFIG_BPF_KPROBE_OVERRIDE), {why}",
    )


class KprobeSensor(HookSensor[KprobeInfo]):
    """process_kprobe events from TracingPolicy ``kprobes``.

    Where the kernel has no kprobes, ``syscall: true`` hooks run on the syscall tracepoints with
    the same events (function_name ``__x64_sys_<name>``); other hooks are refused, naming kprobes.
    """

    name = "generic_kprobe"
    sdk_version = 1
    description = (
        "TracingPolicy kprobes (syscalls on syscall tracepoints without kprobes), in-kernel selectors"
    )
    ops = (MSG_OP_GENERIC_KPROBE,)
    sections = ("kprobes",)
    supports_policy_filter = True  # through load_hooks

    def __init__(self) -> None:
        super().__init__()
        self._decoder = KprobeDecoder(self._hooks)
        #: hook id → how it runs (kprobe, syscall, syscall_tp), reported per hook
        self.methods: dict[int, str] = {}

    def decoders(self) -> Mapping[int, Decoder]:
        return {MSG_OP_GENERIC_KPROBE: self._decoder}

    def load(self, ctx: SensorContext) -> None:
        """Nothing to load until a policy asks for a kprobe; the merge counters are registered."""
        self._decoder = KprobeDecoder(self._hooks, ctx.registry, UserActions(ctx.registry))

    def forget(self, ids: Sequence[int]) -> None:
        super().forget(ids)
        with self._lock:
            for i in ids:
                self.methods.pop(i, None)

    def _load(self, ctx: SensorContext, policy: TracingPolicy, mode: str, env: PolicyEnv) -> PolicyHandle:
        spec = policy.spec
        fol = env.follow
        plans: list[HookPlan] = []
        ids: list[int] = []
        multi_off = _multi_disabled_by(ctx, policy)
        hooks = [
            (f"spec.kprobes[{i}]", h)
            for i, kp in enumerate(spec.kprobes)
            for h in expand(f"spec.kprobes[{i}]", kp, spec.lists, multi_off)
        ]
        _check_override_method(policy, [kp for _, kp in hooks])
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
            hook_id = self.new_hook_id()
            ids.append(hook_id)
            compiled = compile_hook(
                path,
                hook_id,
                [r.spec for r in resolved],
                kp.selectors,
                macros=spec.selectors_macros,
                host=env.host,
                lists=env.lists,
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
                    on_loaded=self._on_loaded(hook_id, info, pl),
                    targets=targets,
                )
            )
        obj_path = ctx.object_path("tetragon_sensor_kprobe", "bpf_generic_kprobe.o")
        return load_hooks(ctx, "spec.kprobes", obj_path, plans, mode, fol, lambda: self.forget(ids))

    def _on_loaded(self, hook_id: int, info: KprobeInfo, pl: Placement) -> Any:
        register = self.register(hook_id, info)

        def on_loaded(obj: BpfObject) -> None:
            if info.stacks is not None:  # the hook takes stack traces: its decoder reads them here
                info.stacks.map = obj.maps["tg_stack_map"]
            with self._lock:
                self.methods[hook_id] = pl.method
            register(obj)
            log.info(
                "policy %s: %s runs as %s on %s", info.policy_name, info.function_name, pl.method, pl.target
            )

        return on_loaded
