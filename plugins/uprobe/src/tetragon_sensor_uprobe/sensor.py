"""The generic_uprobe sensor: one BPF object per (binary, symbol|offset|addr), selectors in the
kernel, uretprobes merged with their entries."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tetragon_core.sdk import (
    BpfObject,
    Decoder,
    HookPlan,
    HookSensor,
    PolicyEnv,
    PolicyError,
    PolicyHandle,
    SensorContext,
    TracingPolicy,
    UProbeSpec,
    compile_hook,
    load_hooks,
)
from tetragon_sensor_uprobe import elf
from tetragon_sensor_uprobe.args import resolve_args, return_spec
from tetragon_sensor_uprobe.decode import UprobeDecoder, UprobeInfo

log = logging.getLogger(__name__)

MSG_OP_GENERIC_UPROBE = 15
_HOOK_RETURN = 0x10  # TG_HOOK_RETURN (bpf/lib/generic.h)


def targets(path: str, up: UProbeSpec) -> list[tuple[str, str, int, int]]:
    """(file, symbol, offset, ref_ctr_offset) of every probe point of ``up``; PolicyError names
    the YAML path of the first that cannot be placed (file, symbol or offset)."""
    if up.binary_digests:
        raise PolicyError(f"{path}.binaryDigests", "binary digest checks are not built yet")
    if up.btf_path:
        raise PolicyError(f"{path}.btfPath", "BTF-typed uprobe arguments are not built yet")
    binary = elf.resolve_path(f"{path}.path", up.path)
    refs = list(up.ref_ctr_offsets)
    out: list[tuple[str, str, int, int]] = []
    if up.symbols:
        for i, sym in enumerate(up.symbols):
            off = elf.symbol_offset(f"{path}.symbols[{i}]", binary, sym)
            out.append((binary, sym, off, refs[i] if refs else 0))
    elif up.offsets:
        for i, off in enumerate(up.offsets):
            elf.check_offset(f"{path}.offsets[{i}]", binary, off)
            out.append((binary, elf.symbol_at(binary, off), off, refs[i] if refs else 0))
    elif up.addrs:
        for i, addr in enumerate(up.addrs):
            off = elf.addr_offset(f"{path}.addrs[{i}]", binary, addr)
            out.append((binary, elf.symbol_at(binary, off), off, refs[i] if refs else 0))
    else:
        raise PolicyError(path, "a uprobe needs symbols, offsets or addrs")
    return out


def _attacher(binary: str, offset: int, ref_ctr: int, ret: bool) -> Any:
    def attach(obj: BpfObject) -> None:
        obj.attach_uprobe("generic_uprobe", binary, offset, ref_ctr_offset=ref_ctr)
        if ret:
            obj.attach_uprobe("generic_uretprobe", binary, offset, retprobe=True, ref_ctr_offset=ref_ctr)

    return attach


class UprobeSensor(HookSensor[UprobeInfo]):
    """process_uprobe events from TracingPolicy ``uprobes``."""

    name = "generic_uprobe"
    sdk_version = 1
    description = "TracingPolicy uprobes and uretprobes on user binaries, in-kernel selectors"
    ops = (MSG_OP_GENERIC_UPROBE,)
    sections = ("uprobes",)
    supports_policy_filter = True  # through load_hooks

    def __init__(self) -> None:
        super().__init__()
        self._decoder = UprobeDecoder(self._hooks)

    def decoders(self) -> Mapping[int, Decoder]:
        return {MSG_OP_GENERIC_UPROBE: self._decoder}

    def load(self, ctx: SensorContext) -> None:
        """Nothing to load until a policy asks for a uprobe; the merge counters are registered.
        (A kernel without uprobes refuses the section before this: probes.missing_for_section.)"""
        self._decoder = UprobeDecoder(self._hooks, ctx.registry)

    def _load(self, ctx: SensorContext, policy: TracingPolicy, mode: str, env: PolicyEnv) -> PolicyHandle:
        spec = policy.spec
        fol = env.follow
        plans: list[HookPlan] = []
        ids: list[int] = []
        for i, up in enumerate(spec.uprobes):
            path = f"spec.uprobes[{i}]"
            points = targets(path, up)
            resolved = resolve_args(path, up.args)
            if up.data:
                raise PolicyError(f"{path}.data", "data[] is not supported by the uprobe sensor yet")
            ret = return_spec(path, up.return_, up.return_arg)
            for binary, symbol, offset, ref_ctr in points:
                hook_id = self.new_hook_id()
                ids.append(hook_id)
                compiled = compile_hook(
                    path,
                    hook_id,
                    [r.spec for r in resolved],
                    up.selectors,
                    macros=spec.selectors_macros,
                    host=env.host,
                    lists=env.lists,
                    flags=_HOOK_RETURN if ret is not None else 0,
                    mbset_bit=fol.take if fol.available else None,
                    ret=ret,
                    positions={a.index: j for j, a in enumerate(up.args)},
                )
                info = UprobeInfo(
                    policy.name, up.path, symbol, offset, resolved, ret, ref_ctr, up.message, list(up.tags)
                )
                programs = ["generic_uprobe", "generic_uretprobe"] if ret is not None else ["generic_uprobe"]
                plans.append(
                    HookPlan(
                        compiled,
                        programs,
                        _attacher(binary, offset, ref_ctr, ret is not None),
                        on_loaded=self.register(hook_id, info),
                    )
                )
        obj_path = ctx.object_path("tetragon_sensor_uprobe", "bpf_generic_uprobe.o")
        return load_hooks(ctx, "spec.uprobes", obj_path, plans, mode, fol, lambda: self.forget(ids))
