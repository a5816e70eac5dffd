"""The generic_usdt sensor: one BPF object per probe site of each ``usdts[]`` entry, arguments
computed in the kernel from the probe's note specs, selectors and actions in the kernel."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tetragon_sensor_uprobe.args import typed_arg
from tetragon_sensor_uprobe.elf import resolve_path

from tetragon_core.sdk import (
    BpfObject,
    Decoder,
    HookPlan,
    HookSensor,
    KProbeArg,
    PolicyEnv,
    PolicyError,
    PolicyHandle,
    ResolvedArg,
    SensorContext,
    TracingPolicy,
    compile_hook,
    load_hooks,
    probes,
    refuse_unbuilt_fields,
)
from tetragon_sensor_usdt import argspec, notes
from tetragon_sensor_usdt.decode import UsdtDecoder, UsdtInfo

log = logging.getLogger(__name__)

MSG_OP_GENERIC_USDT = 28
_MAX_ARGS = 5  # TG_MAX_ARGS: what the selector engine reads
_PICK = 8  # tg_usdt_spec.pick[]


def resolve_args(path: str, args: list[KProbeArg], note: list[argspec.UsdtArg]) -> list[ResolvedArg]:
    """The policy's arguments: argument ``index`` of the probe, at position j of the computed
    array (context offset 8 j), typed by the policy; PolicyError naming the YAML path."""
    if len(args) > _MAX_ARGS:
        raise PolicyError(f"{path}.args", f"at most {_MAX_ARGS} args, got {len(args)}")
    out = []
    for j, a in enumerate(args):
        p = f"{path}.args[{j}]"
        refuse_unbuilt_fields(p, a)
        argspec.arg(f"{p}.index", note, a.index)
        out.append(ResolvedArg(typed_arg(p, a, 8 * j, len(args), "usdts"), a.label))
    return out


def spec_rodata(note: list[argspec.UsdtArg], args: list[KProbeArg]) -> bytes:
    """``.rodata.usdt``: every argument of the probe, then which one each policy argument is."""
    slots: list[argspec.UsdtArg | None] = [*note, *[None] * (argspec.SLOTS - len(note))]
    pick = [a.index for a in args] + [0] * (_PICK - len(args))
    return b"".join(argspec.pack(a) for a in slots) + bytes(pick)


def _set_checker(note: list[argspec.UsdtArg], used: list[bool]) -> Any:
    """The compiler's check of a Set action; records in ``used`` that the hook has one (its
    selectors as compiled, macros expanded), which picks the object with the write helper."""

    def check(where: str, index: int, value: int) -> None:
        used.append(True)
        a = argspec.arg(f"{where}.argIndex", note, index)
        if not a.in_memory:
            raise PolicyError(
                f"{where}.argIndex",
                f"argument {index} of the probe is {a.text!r}, a register or a constant: Set writes "
                "an argument in memory only (a BPF program cannot change a traced process's registers)",
            )
        bits = 8 * a.size
        if not -(1 << (bits - 1)) <= value < 1 << bits:
            raise PolicyError(
                f"{where}.argValue", f"{value} does not fit in argument {index} ({a.size} bytes)"
            )
        if not probes.has_probe_write_user():
            raise PolicyError(
                f"{where}.action",
                "Set requires bpf_probe_write_user, which this kernel does not allow "
                "(kernel lockdown integrity or confidentiality mode removes it)",
            )

    return check


def _attacher(program: str, binary: str, offset: int, semaphore: int) -> Any:
    def attach(obj: BpfObject) -> None:
        obj.attach_uprobe(program, binary, offset, ref_ctr_offset=semaphore)

    return attach


class UsdtSensor(HookSensor[UsdtInfo]):
    """process_usdt events from TracingPolicy ``usdts``."""

    name = "generic_usdt"
    sdk_version = 1
    description = "TracingPolicy usdts: SystemTap SDT probes with semaphores, in-kernel selectors, Set"
    ops = (MSG_OP_GENERIC_USDT,)
    sections = ("usdts",)
    supports_policy_filter = True  # through load_hooks

    def __init__(self) -> None:
        super().__init__()
        self._decoder = UsdtDecoder(self._hooks)

    def decoders(self) -> Mapping[int, Decoder]:
        return {MSG_OP_GENERIC_USDT: self._decoder}

    def load(self, ctx: SensorContext) -> None:
        """Nothing to load until a policy asks for a USDT probe."""

    def _load(self, ctx: SensorContext, policy: TracingPolicy, mode: str, env: PolicyEnv) -> PolicyHandle:
        spec = policy.spec
        fol = env.follow
        plans: list[HookPlan] = []
        ids: list[int] = []
        for i, us in enumerate(spec.usdts):
            path = f"spec.usdts[{i}]"
            if us.btf_path:
                raise PolicyError(f"{path}.btfPath", "BTF-typed USDT arguments are not built yet")
            if not us.provider or not us.name:
                raise PolicyError(path, "a USDT hook needs provider and name")
            binary = resolve_path(f"{path}.path", us.path)
            sites = notes.find_probe(f"{path}.path", binary, us.provider, us.name)
            for site in sites:
                note = argspec.parse_args(f"{path}.args", site.args)
                resolved = resolve_args(path, us.args, note)
                hook_id = self.new_hook_id()
                ids.append(hook_id)
                with_set: list[bool] = []
                compiled = compile_hook(
                    path,
                    hook_id,
                    [r.spec for r in resolved],
                    us.selectors,
                    macros=spec.selectors_macros,
                    host=env.host,
                    lists=env.lists,
                    mbset_bit=fol.take if fol.available else None,
                    positions={a.index: j for j, a in enumerate(us.args)},
                    set_arg=_set_checker(note, with_set),
                )
                # the Set variant (bpf_probe_write_user) only for a hook that uses it
                program = "generic_usdt_set" if with_set else "generic_usdt"
                info = UsdtInfo(
                    policy.name, us.path, us.provider, us.name, resolved, us.message, list(us.tags)
                )
                plans.append(
                    HookPlan(
                        compiled,
                        [program],
                        _attacher(program, binary, site.offset, site.semaphore),
                        on_loaded=self.register(hook_id, info),
                        rodata={".rodata.usdt": spec_rodata(note, us.args)},
                        object_path=ctx.object_path("tetragon_sensor_usdt", f"bpf_{program}.o"),
                    )
                )
        obj_path = ctx.object_path("tetragon_sensor_usdt", "bpf_generic_usdt.o")
        return load_hooks(ctx, "spec.usdts", obj_path, plans, mode, fol, lambda: self.forget(ids))
