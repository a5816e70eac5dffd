"""Decode MSG_OP_GENERIC_TRACEPOINT records into ProcessTracepoint events."""

from __future__ import annotations

from dataclasses import dataclass, field

from tetragon_core.sdk import (
    HEADER,
    DecodeError,
    ExecKey,
    HookMessage,
    ProcessTracepoint,
    ResolvedArg,
    action_name,
    decode_args,
    header,
)

__all__ = ["HEADER", "DecodeError", "HookInfo", "decode_record"]


@dataclass
class HookInfo:
    """What user space knows of one loaded hook (``func_id`` in its records)."""

    policy_name: str
    subsys: str
    event: str
    args: list[ResolvedArg]
    message: str = ""
    tags: list[str] = field(default_factory=list)


def decode_record(rec: bytes, hooks: dict[int, HookInfo]) -> HookMessage:
    """One ring record → HookMessage carrying a ProcessTracepoint without process info."""
    h = header(rec, "generic tracepoint")
    info = hooks.get(h.func_id)
    if info is None:
        raise DecodeError(f"generic tracepoint record for unknown hook {h.func_id} (policy deleted?)")
    args = decode_args(f"{info.subsys}/{info.event}", info.args, memoryview(rec)[HEADER.size :])
    ev = ProcessTracepoint(
        subsys=info.subsys,
        event=info.event,
        args=args,
        policy_name=info.policy_name,
        action=action_name(h.action),
        message=info.message,
        tags=list(info.tags),
    )
    return HookMessage(ExecKey(h.pid, h.exec_ktime), h.ktime, "process_tracepoint", ev)
