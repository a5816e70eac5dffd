"""The generic_tracepoint sensor: one BPF object per policy hook, selectors evaluated in the kernel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tetragon_core.sdk import (
    MSG_OP_GENERIC_TRACEPOINT,
    BpfObject,
    Decoder,
    HookPlan,
    HookSensor,
    PolicyEnv,
    PolicyHandle,
    SensorContext,
    TracingPolicy,
    compile_hook,
    load_hooks,
)
from tetragon_sensor_tracepoint.args import program_for, resolve_args
from tetragon_sensor_tracepoint.decode import HookInfo, decode_record

_HOOK_RAW = 0x1


def _attacher(program: str, subsys: str, event: str, raw: bool) -> Any:
    def attach(obj: BpfObject) -> None:
        if raw:
            obj.attach_raw_tracepoint(program, event)
        else:
            obj.attach_tracepoint(program, subsys, event)

    return attach


class TracepointSensor(HookSensor[HookInfo]):
    """process_tracepoint events from TracingPolicy ``tracepoints`` (classic and raw)."""

    name = "generic_tracepoint"
    sdk_version = 1
    description = "TracingPolicy tracepoints and raw tracepoints, selectors evaluated in the kernel"
    ops = (MSG_OP_GENERIC_TRACEPOINT,)
    sections = ("tracepoints",)
    supports_policy_filter = True  # through load_hooks

    def decoders(self) -> Mapping[int, Decoder]:
        hooks = self._hooks
        return {MSG_OP_GENERIC_TRACEPOINT: lambda rec: decode_record(rec, hooks)}

    def load(self, ctx: SensorContext) -> None:
        """Nothing to load until a policy asks for a tracepoint."""

    def _load(self, ctx: SensorContext, policy: TracingPolicy, mode: str, env: PolicyEnv) -> PolicyHandle:
        spec = policy.spec
        fol = env.follow
        plans: list[HookPlan] = []
        ids: list[int] = []
        for i, tp in enumerate(spec.tracepoints):
            path = f"spec.tracepoints[{i}]"
            resolved = resolve_args(path, tp)
            hook_id = self.new_hook_id()
            ids.append(hook_id)
            compiled = compile_hook(
                path,
                hook_id,
                [r.spec for r in resolved],
                tp.selectors,
                macros=spec.selectors_macros,
                host=env.host,
                lists=env.lists,
                flags=_HOOK_RAW if tp.raw else 0,
                mbset_bit=fol.take if fol.available else None,
            )
            info = HookInfo(policy.name, tp.subsystem, tp.event, resolved, tp.message, list(tp.tags))
            program = program_for(tp)
            plans.append(
                HookPlan(
                    compiled,
                    [program],
                    _attacher(program, tp.subsystem, tp.event, tp.raw),
                    on_loaded=self.register(hook_id, info),
                )
            )
        obj_path = ctx.object_path("tetragon_sensor_tracepoint", "bpf_generic_tracepoint.o")
        return load_hooks(ctx, "spec.tracepoints", obj_path, plans, mode, fol, lambda: self.forget(ids))
