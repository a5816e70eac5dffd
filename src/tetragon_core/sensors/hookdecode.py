"""Decoding the records of generic hooks: ``struct msg_generic_hdr`` + the argument bytes.

Every hook sensor's BPF program writes the same layout (bpf/lib/generic_run.h); each plugin
turns the decoded header and arguments into its own event (ProcessTracepoint, ProcessKprobe).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from tetragon_core.events import KprobeArgument, KprobeTruncatedBytes, SyscallId
from tetragon_core.exceptions import DecodeError
from tetragon_core.policy import argtypes as A
from tetragon_core.policy.kernel import ArgSpec
from tetragon_core.sensors import structdecode as S
from tetragon_core.sensors.useractions import DNSLOOKUP, GETURL, UserActions

__all__ = [
    "ACTIONS",
    "HEADER",
    "MSG_RETURN",
    "MSG_RETURN_FILTERED",
    "DecodeError",
    "Header",
    "action_name",
    "decode_args",
    "decode_args_end",
    "header",
    "int_arg",
    "user_action",
]

# msg_common(op, flags, pad, size, ktime) + current(pid, pad, ktime) + ns[10] + caps[3]
# + func_id, retprobe_id, action, action_arg_id, tid, kernel_stack_id, user_stack_id
HEADER = struct.Struct("<BB2xIQ I4xQ 10I 3Q QQQ II qq")
ACTIONS = (
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
MSG_RETURN = 0x1  # msg_common.flags: the return half of an entry/return pair
MSG_RETURN_FILTERED = 0x40  # ... which matchReturnArgs rejected: its entry is dropped
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_CHARBUF = struct.Struct("<iI")


class Header:
    """The fields of a record's header that user space uses."""

    __slots__ = (
        "action",
        "action_arg_id",
        "exec_ktime",
        "flags",
        "func_id",
        "kernel_stack_id",
        "ktime",
        "pid",
        "retprobe_id",
        "tid",
        "user_stack_id",
    )

    def __init__(self, f: tuple[int, ...]) -> None:
        self.flags, self.ktime, self.pid, self.exec_ktime = f[1], f[3], f[4], f[5]
        self.func_id, self.retprobe_id, self.action, self.tid = f[19], f[20], f[21], f[23]
        self.action_arg_id = f[22]
        self.kernel_stack_id, self.user_stack_id = f[24], f[25]


def header(rec: bytes, what: str) -> Header:
    """Unpack a record's header; DecodeError when the record is too short."""
    if len(rec) < HEADER.size:
        raise DecodeError(f"{what} record of {len(rec)} bytes is shorter than its header")
    return Header(HEADER.unpack_from(rec))


def user_action(h: Header, action_args: Sequence[tuple[str, str]], actions: UserActions | None) -> None:
    """Start the GetUrl/DnsLookup the kernel marked this event for (``action_arg_id``)."""
    if actions is not None and h.action in (GETURL, DNSLOOKUP) and h.action_arg_id < len(action_args):
        actions.perform(h.action, action_args[h.action_arg_id][1])


def action_name(action: int) -> str:
    return ACTIONS[action] if action < len(ACTIONS) else "KPROBE_ACTION_UNKNOWN"


def int_arg(spec: ArgSpec, raw: int) -> KprobeArgument:
    """An integer argument as Tetragon reports its type."""
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
    if t == A.T_CAPABILITY:
        return S.capability(raw)
    return KprobeArgument(size_arg=str(raw))


def decode_args(what: str, args: Sequence[A.ResolvedArg], data: memoryview) -> list[KprobeArgument]:
    """The arguments encoded after the header (see read_arg_step in bpf/lib/args.h)."""
    return decode_args_end(what, args, data)[0]


def decode_args_end(
    what: str, args: Sequence[A.ResolvedArg], data: memoryview
) -> tuple[list[KprobeArgument], int]:
    """``decode_args``, and the offset where the arguments end."""
    out: list[KprobeArgument] = []
    off = 0
    n = len(data)
    for ra in args:
        spec = ra.spec
        if spec.type == A.T_NOP:  # not read by the kernel, not reported
            continue
        if spec.type in A.STRING_IDS or spec.type in A.PATH_IDS:
            if off + 4 > n:
                raise DecodeError(f"{what}: record ends inside a string argument")
            (ln,) = _I32.unpack_from(data, off)
            off += 4
            ln = max(ln, 0)
            text = bytes(data[off : off + ln]).decode("utf-8", "replace")
            off += ln
            if spec.type in A.PATH_IDS:
                if off + 8 > n:
                    raise DecodeError(f"{what}: record ends inside a path argument")
                arg = S.path_arg(spec.type, text, data, off)
                off += 8
            else:
                arg = KprobeArgument(string_arg=text)
        elif spec.type in S.SIZES:
            size = S.SIZES[spec.type]
            if off + size > n:
                raise DecodeError(f"{what}: record ends inside a {size}-byte kernel object argument")
            arg = S.object_arg(spec.type, data, off)
            off += size
        elif spec.type in (A.T_CHAR_BUF, A.T_CHAR_IOVEC):
            if off + 8 > n:
                raise DecodeError(f"{what}: record ends inside a char_buf argument")
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
                raise DecodeError(f"{what}: record ends inside an integer argument")
            (raw,) = _U64.unpack_from(data, off)
            off += 8
            arg = int_arg(spec, raw)
        if ra.label:
            arg.label = ra.label
        out.append(arg)
    return out, off
