"""The generic_lsm sensor: BPF LSM programs per policy hook; Override blocks the operation."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tetragon_core.sdk import (
    HEADER,
    INTS,
    MSG_OP_GENERIC_LSM,
    OBJECTS,
    PATHS,
    STRINGS,
    T_NOP,
    T_STRING,
    USER_KERNEL,
    ArgSpec,
    BpfObject,
    DecodeError,
    Decoder,
    ExecKey,
    HookMessage,
    HookPlan,
    HookSensor,
    LsmHookSpec,
    PolicyEnv,
    PolicyError,
    PolicyHandle,
    ProcessLsm,
    ResolvedArg,
    SensorContext,
    TracingPolicy,
    UserActions,
    action_name,
    btf as B,
    compile_hook,
    decode_args,
    header,
    load_hooks,
    object_arg,
    refuse_unbuilt_fields,
    user_action,
)

log = logging.getLogger(__name__)

_SIZES = (48, 40, 32, 24, 16, 8)
_MAX_PARAMS = 6


@dataclass
class LsmInfo:
    """What user space knows of one loaded LSM hook (``func_id`` in its records)."""

    policy_name: str
    hook: str
    args: list[ResolvedArg]
    message: str = ""
    tags: list[str] = field(default_factory=list)
    action_args: list[tuple[str, str]] = field(default_factory=list)  # GetUrl/DnsLookup targets


def hook_params(path: str, hook: str) -> list[int]:
    """The BTF parameter types of LSM hook ``hook`` (``bpf_lsm_<hook>``); PolicyError if none."""
    params = B.vmlinux().func_args(f"bpf_lsm_{hook}")
    if params is None:
        raise PolicyError(f"{path}.hook", f"{hook!r} is not an LSM hook of this kernel (no bpf_lsm_{hook})")
    return params


def resolve_args(path: str, lh: LsmHookSpec, nparams: int) -> list[ResolvedArg]:
    """Each argument is the hook's u64 context slot ``index``."""
    out = []
    for i, a in enumerate(lh.args):
        p = f"{path}.args[{i}]"
        refuse_unbuilt_fields(p, a)
        if not 0 <= a.index < min(nparams, _MAX_PARAMS):
            raise PolicyError(f"{p}.index", f"LSM hook {lh.hook} has {nparams} arguments")
        off = 8 * a.index
        if a.type == "nop":
            spec = ArgSpec(T_NOP, off, 8)
        elif a.type in INTS:
            tid, size, signed = INTS[a.type]
            spec = ArgSpec(tid, off, size, is_signed=signed)
        elif a.type in PATHS or a.type in OBJECTS:
            spec = object_arg(p, a.type, off)  # type: ignore[assignment]
        elif a.type in STRINGS and a.type != "data_loc":
            spec = ArgSpec(T_STRING, off, 8, user=USER_KERNEL)
        else:
            supported = ", ".join((*INTS, *PATHS, *OBJECTS, "string", "nop"))
            raise PolicyError(
                f"{p}.type", f"type {a.type!r} is not supported on LSM hooks (supported: {supported})"
            )
        out.append(ResolvedArg(spec, a.label))
    return out


def decode_record(rec: bytes, hooks: dict[int, LsmInfo], actions: UserActions | None = None) -> HookMessage:
    """One ring record → HookMessage carrying a ProcessLsm without process info."""
    h = header(rec, "generic LSM")
    info = hooks.get(h.func_id)
    if info is None:
        raise DecodeError(f"generic LSM record for unknown hook {h.func_id} (policy deleted?)")
    user_action(h, info.action_args, actions)
    ev = ProcessLsm(
        function_name=info.hook,
        policy_name=info.policy_name,
        message=info.message,
        args=decode_args(info.hook, info.args, memoryview(rec)[HEADER.size :]),
        action=action_name(h.action),
        tags=list(info.tags),
    )
    return HookMessage(ExecKey(h.pid, h.exec_ktime), h.ktime, "process_lsm", ev, "PROCESS_LSM")


class LsmSensor(HookSensor[LsmInfo]):
    """process_lsm events from TracingPolicy ``lsmhooks``; Override returns its argError."""

    name = "generic_lsm"
    sdk_version = 1
    description = "TracingPolicy lsmhooks on BPF LSM, selectors in the kernel, Override blocks"
    ops = (MSG_OP_GENERIC_LSM,)
    sections = ("lsmhooks",)
    supports_policy_filter = True  # through load_hooks

    def __init__(self) -> None:
        super().__init__()
        self._actions: UserActions | None = None

    def decoders(self) -> Mapping[int, Decoder]:
        hooks = self._hooks
        return {MSG_OP_GENERIC_LSM: lambda rec: decode_record(rec, hooks, self._actions)}

    def load(self, ctx: SensorContext) -> None:
        """Nothing to load until a policy asks for an LSM hook."""
        self._actions = UserActions(ctx.registry)

    def _load(self, ctx: SensorContext, policy: TracingPolicy, mode: str, env: PolicyEnv) -> PolicyHandle:
        spec = policy.spec
        fol = env.follow
        plans: list[HookPlan] = []
        ids: list[int] = []
        for i, lh in enumerate(spec.lsmhooks):
            path = f"spec.lsmhooks[{i}]"
            params = hook_params(path, lh.hook)
            resolved = resolve_args(path, lh, len(params))
            hook_id = self.new_hook_id()
            ids.append(hook_id)
            compiled = compile_hook(
                path,
                hook_id,
                [r.spec for r in resolved],
                lh.selectors,
                macros=spec.selectors_macros,
                host=env.host,
                lists=env.lists,
                mbset_bit=fol.take if fol.available else None,
                override="lsm",
                positions={a.index: i for i, a in enumerate(lh.args)},
            )
            size = 8 * min(len(params), _MAX_PARAMS)
            program = next((f"generic_lsm_{n}" for n in _SIZES if n <= size), "generic_lsm")
            info = LsmInfo(policy.name, lh.hook, resolved, lh.message, list(lh.tags), compiled.action_args)
            plans.append(
                HookPlan(
                    compiled,
                    [program],
                    _attacher(program),
                    on_loaded=self.register(hook_id, info),
                    targets={program: lh.hook},
                )
            )
        obj_path = ctx.object_path("tetragon_sensor_lsm", "bpf_generic_lsm.o")
        return load_hooks(ctx, "spec.lsmhooks", obj_path, plans, mode, fol, lambda: self.forget(ids))


def _attacher(program: str) -> Any:
    def attach(obj: BpfObject) -> None:
        obj.attach(program)

    return attach
