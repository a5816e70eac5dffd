"""Decode MSG_OP_GENERIC_USDT records into ProcessUsdt events."""

from __future__ import annotations

from dataclasses import dataclass, field

from tetragon_core.sdk import (
    HEADER,
    DecodeError,
    ExecKey,
    HookMessage,
    ProcessUsdt,
    ResolvedArg,
    action_name,
    decode_args,
    header,
)

__all__ = ["UsdtDecoder", "UsdtInfo"]


@dataclass
class UsdtInfo:
    """What user space knows of one loaded USDT hook (``func_id`` in its records)."""

    policy_name: str
    path: str
    provider: str
    name: str
    args: list[ResolvedArg]
    message: str = ""
    tags: list[str] = field(default_factory=list)


class UsdtDecoder:
    """The op's decoder: one ProcessUsdt per record."""

    def __init__(self, hooks: dict[int, UsdtInfo]) -> None:
        self.hooks = hooks

    def __call__(self, rec: bytes) -> HookMessage:
        h = header(rec, "generic usdt")
        info = self.hooks.get(h.func_id)
        if info is None:
            raise DecodeError(f"generic usdt record for unknown hook {h.func_id} (policy deleted?)")
        ev = ProcessUsdt(
            path=info.path,
            provider=info.provider,
            name=info.name,
            policy_name=info.policy_name,
            message=info.message,
            args=decode_args(f"{info.provider}:{info.name}", info.args, memoryview(rec)[HEADER.size :]),
            tags=list(info.tags),
            action=action_name(h.action),
        )
        return HookMessage(ExecKey(h.pid, h.exec_ktime), h.ktime, "process_usdt", ev, "PROCESS_USDT")
