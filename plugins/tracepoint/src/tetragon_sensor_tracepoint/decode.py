"""Decode MSG_OP_GENERIC_TRACEPOINT records (``struct msg_generic_hdr`` + argument bytes)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from tetragon_core.events import KprobeArgument, KprobeTruncatedBytes, ProcessTracepoint, SyscallId
from tetragon_core.policy.kernel import ArgSpec
from tetragon_core.process.hooks import HookMessage
from tetragon_core.process.messages import ExecKey
from tetragon_sensor_tracepoint import args as A

__all__ = ["HEADER", "HookInfo", "decode_record"]

# msg_common(op, flags, pad, size, ktime) + current(pid, pad, ktime) + ns[10] + caps[3]
# + func_id, retprobe_id, action, action_arg_id, tid, kernel_stack_id, user_stack_id
HEADER = struct.Struct("<BB2xIQ I4xQ 10I 3Q QQQ II qq")
_ACTIONS = (
    "KPROBE_ACTION_POST",
    "KPROBE_ACTION_FOLLOWFD",
    "KPROBE_ACTION_SIGKILL",
    "KPROBE_ACTION_UNFOLLOWFD",
    "KPROBE_ACTION_OVERRIDE",
    "KPROBE_ACTION_COPYFD",
    "KPROBE_ACTION_GETURL",
    "KPROBE_ACTION_DNSLOOKUP",
    "KPROBE_ACTION_NOPOST",
    "KPROBE_ACTION_SIGNAL",
    "KPROBE_ACTION_TRACKSOCK",
    "KPROBE_ACTION_UNTRACKSOCK",
    "KPROBE_ACTION_NOTIFYENFORCER",
    "KPROBE_ACTION_CLEANUPENFORCERNOTIFICATION",
    "KPROBE_ACTION_SET",
)
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_CHARBUF = struct.Struct("<iI")
_STRINGS = frozenset({A.T_STRING, A.T_FILENAME, A.T_DATA_LOC})


class DecodeError(ValueError):
    """A record does not match its hook's layout."""


@dataclass
class HookInfo:
    """What user space knows of one loaded hook (``func_id`` in its records)."""

    policy_name: str
    subsys: str
    event: str
    args: list[A.ResolvedArg]
    message: str = ""
    tags: list[str] = field(default_factory=list)


def _int_arg(spec: ArgSpec, raw: int) -> KprobeArgument:
    t = spec.type
    if t in (A.T_INT, A.T_S32, A.T_S16, A.T_S8, A.T_FD):
        v = raw & 0xFFFFFFFF
        return KprobeArgument(int_arg=v - (1 << 32) if v >= 1 << 31 else v)
    if t in (A.T_U32, A.T_U16, A.T_U8):
        return KprobeArgument(uint_arg=raw & 0xFFFFFFFF)
    if t == A.T_S64:
        return KprobeArgument(long_arg=str(raw - (1 << 64) if raw >= 1 << 63 else raw))
    if t == A.T_SYSCALL64:
        return KprobeArgument(syscall_id=SyscallId(id=raw & 0xFFFFFFFF, abi="x64"))
    return KprobeArgument(size_arg=str(raw))


def decode_args(info: HookInfo, data: memoryview) -> list[KprobeArgument]:
    """The arguments encoded after the header (see read_arg_step in the BPF program)."""
    out: list[KprobeArgument] = []
    off = 0
    n = len(data)
    for ra in info.args:
        spec = ra.spec
        if spec.type in _STRINGS:
            if off + 4 > n:
                raise DecodeError(f"{info.subsys}/{info.event}: record ends inside a string argument")
            (ln,) = _I32.unpack_from(data, off)
            off += 4
            ln = max(ln, 0)
            arg = KprobeArgument(string_arg=bytes(data[off : off + ln]).decode("utf-8", "replace"))
            off += ln
        elif spec.type == A.T_CHAR_BUF:
            if off + 8 > n:
                raise DecodeError(f"{info.subsys}/{info.event}: record ends inside a char_buf argument")
            orig, got = _CHARBUF.unpack_from(data, off)
            off += 8
            buf = bytes(data[off : off + got])
            off += got
            if orig > got:
                arg = KprobeArgument(
                    truncated_bytes_arg=KprobeTruncatedBytes(bytes_arg=buf, orig_size=str(orig))
                )
            else:
                arg = KprobeArgument(bytes_arg=buf)
        else:
            if off + 8 > n:
                raise DecodeError(f"{info.subsys}/{info.event}: record ends inside an integer argument")
            (raw,) = _U64.unpack_from(data, off)
            off += 8
            arg = _int_arg(spec, raw)
        if ra.label:
            arg.label = ra.label
        out.append(arg)
    return out


def decode_record(rec: bytes, hooks: dict[int, HookInfo]) -> HookMessage:
    """One ring record → HookMessage carrying a ProcessTracepoint without process info."""
    if len(rec) < HEADER.size:
        raise DecodeError(f"generic tracepoint record of {len(rec)} bytes is shorter than its header")
    f = HEADER.unpack_from(rec)
    ktime, pid, exec_ktime, func_id, action = f[3], f[4], f[5], f[19], f[21]
    info = hooks.get(func_id)
    if info is None:
        raise DecodeError(f"generic tracepoint record for unknown hook {func_id} (policy deleted?)")
    args = decode_args(info, memoryview(rec)[HEADER.size :])
    ev = ProcessTracepoint(
        subsys=info.subsys,
        event=info.event,
        args=args,
        policy_name=info.policy_name,
        action=_ACTIONS[action] if action < len(_ACTIONS) else "KPROBE_ACTION_UNKNOWN",
        message=info.message,
        tags=list(info.tags),
    )
    return HookMessage(ExecKey(pid, exec_ktime), ktime, "process_tracepoint", ev)
