"""Decode MSG_OP_GENERIC_KPROBE records into ProcessKprobe events, merging entry and return.

A hook with ``return: true`` sends two records per call, merged into one event by the SDK's
:class:`ReturnMerger` (a waiting entry is never lost: see there).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from tetragon_core.sdk import (
    HEADER,
    MAX_PENDING,
    MAX_WAIT_NS,
    MSG_RETURN,
    MSG_RETURN_FILTERED,
    SIZES,
    DecodeError,
    ExecKey,
    Header,
    HookMessage,
    ProcessKprobe,
    Registry,
    ResolvedArg,
    ReturnMerger,
    ReturnSpec,
    StackSource,
    UserActions,
    action_name,
    argtypes as A,
    decode_args,
    decode_args_end,
    header,
    int_arg,
    kernel_trace,
    user_action,
    user_trace,
)

__all__ = ["MAX_PENDING", "MAX_WAIT_NS", "KprobeDecoder", "KprobeInfo"]

_U64 = struct.Struct("<Q")


@dataclass
class KprobeInfo:
    """What user space knows of one loaded kprobe hook (``func_id`` in its records)."""

    policy_name: str
    function_name: str
    args: list[ResolvedArg]
    ret: ReturnSpec | None = None  # set when the hook has return: true
    message: str = ""
    tags: list[str] = field(default_factory=list)
    action_args: list[tuple[str, str]] = field(default_factory=list)  # GetUrl/DnsLookup targets
    stacks: StackSource | None = None  # set when a Post takes stack traces


class KprobeDecoder:
    """The op's decoder: returns the event, None while an entry waits, or a list when waiting
    entries are given up together with the current record's event."""

    def __init__(
        self,
        hooks: dict[int, KprobeInfo],
        registry: Registry | None = None,
        actions: UserActions | None = None,
    ) -> None:
        self.hooks = hooks
        self.actions = actions
        self._merger = ReturnMerger(registry, lambda msg: str(msg.event.function_name))

    @property
    def pending(self) -> int:
        return len(self._merger)

    def __call__(self, rec: bytes) -> HookMessage | list[HookMessage] | None:
        h = header(rec, "generic kprobe")
        info = self.hooks.get(h.func_id)
        if info is None:
            raise DecodeError(f"generic kprobe record for unknown hook {h.func_id} (policy deleted?)")
        stale = self._merger.expire(h.ktime)
        data = memoryview(rec)[HEADER.size :]
        if h.flags & MSG_RETURN:
            out = self._merge(h, info, data)
        else:
            out = self._entry(h, info, data)
        if not stale:
            return out
        return stale + ([out] if out is not None else [])

    def _entry(self, h: Header, info: KprobeInfo, data: memoryview) -> HookMessage | None:
        user_action(h, info.action_args, self.actions)
        ev = ProcessKprobe(
            function_name=info.function_name,
            args=decode_args(info.function_name, info.args, data),
            policy_name=info.policy_name,
            action=action_name(h.action),
            message=info.message,
            tags=list(info.tags),
        )
        if info.stacks is not None:
            st = info.stacks
            if h.kernel_stack_id >= 0:
                ev.kernel_stack_trace = kernel_trace(st.take(h.kernel_stack_id), st.expose)
            if h.user_stack_id >= 0:
                ev.user_stack_trace = user_trace(h.pid, st.take(h.user_stack_id), st.expose, st.procfs)
        msg = HookMessage(ExecKey(h.pid, h.exec_ktime), h.ktime, "process_kprobe", ev, "PROCESS_KPROBE")
        if info.ret is None:
            return msg
        self._merger.push(h, msg)
        return None

    def _merge(self, h: Header, info: KprobeInfo, data: memoryview) -> HookMessage | None:
        msg = self._merger.pop(h, info.function_name)
        if msg is None:
            return None
        if h.flags & MSG_RETURN_FILTERED:  # matchReturnArgs rejected it in the kernel
            return None
        if len(data) < 8:
            raise DecodeError(f"{info.function_name}: return record without its value")
        ret = info.ret
        if ret is not None:
            ev = msg.event
            off = 8
            if ret.arg.type in A.PATH_IDS or ret.arg.type in SIZES:
                (ev.return_,), end = decode_args_end(info.function_name, [ResolvedArg(ret.arg, "")], data[8:])
                off += end
            else:
                ev.return_ = int_arg(ret.arg, _U64.unpack_from(data)[0])
            if ret.copy:  # the argument's bytes, read at return: they replace the entry's
                copied = info.args[ret.copy - 1]
                (arg,) = decode_args(info.function_name, [copied], data[off:])
                pos = sum(1 for r in info.args[: ret.copy - 1] if r.spec.type != A.T_NOP)
                if pos < len(ev.args):
                    ev.args[pos] = arg
            ev.return_action = "KPROBE_ACTION_POST"
        self._merger.merged()
        return msg
