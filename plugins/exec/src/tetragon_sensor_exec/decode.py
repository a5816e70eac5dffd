"""Decoders for the exec sensor's records (layouts in bpf/lib/process.h)."""

from __future__ import annotations

import struct

from tetragon_core.sdk import (
    CloneMessage,
    Creds,
    DecodeError,
    ExecKey,
    ExecMessage,
    ExitMessage,
    ThrottleMessage,
)

# msg_execve_event (320) + msg_process (64)
_EXEC = struct.Struct("<BB2xIQ QQ128s I4xQ Q 10I 3Q iIII 10I I4xQ 10IQQ4H")
_CLONE = struct.Struct("<BB2xIQ I4xQ IIIIQ")
_EXIT = struct.Struct("<BB2xIQ I4xQ II")

EVENT_ROOT_CWD = 0x1000
EVENT_ERROR_CWD = 0x2000
EVENT_NO_CWD_SUPPORT = 0x800

EXEC_HEAD = _EXEC.size
assert EXEC_HEAD == 384


def decode_exec(rec: bytes) -> ExecMessage:
    """One MSG_OP_EXECVE record → ExecMessage (argv[0] dropped, cwd resolved)."""
    if len(rec) < EXEC_HEAD:
        raise DecodeError(f"execve record of {len(rec)} bytes is shorter than its {EXEC_HEAD}-byte header")
    f = _EXEC.unpack_from(rec)
    (_op, _fl, _size, ktime, cgrpid, _tracker, cgname, ppid, pktime, pflags) = f[:10]
    creds = Creds(*f[10:19], *f[20:27])  # skipping msg_cred.pad
    ns = f[27:37]
    cpid, cktime = f[37], f[38]
    (_psize, pid, tid, nspid, secureexec, _uid, auid, flags, nlink, _pad, ino, _pktime) = f[39:51]
    size_path, size_args, size_cwd, _size_envs = f[51:55]
    end = EXEC_HEAD + size_path + size_args + size_cwd
    if end > len(rec):
        raise DecodeError(f"execve record of {len(rec)} bytes is shorter than its payload ({end})")
    p = EXEC_HEAD
    filename = rec[p : p + size_path].decode("utf-8", "replace")
    p += size_path
    args = rec[p : p + size_args].decode("utf-8", "replace").split("\0")[1:] if size_args else []
    p += size_args
    if flags & EVENT_ROOT_CWD:
        cwd = "/"
    else:
        cwd = rec[p : p + size_cwd].decode("utf-8", "replace")
    return ExecMessage(
        ktime=ktime,
        pid=pid,
        tid=tid,
        nspid=nspid,
        flags=flags,
        parent=ExecKey(ppid, pktime),
        parent_flags=pflags,
        cleanup_key=ExecKey(cpid, cktime) if cktime else None,
        filename=filename,
        args=args,
        cwd=cwd,
        auid=auid,
        creds=creds,
        ns=ns,
        cgroup_id=cgrpid,
        cgroup_name=cgname.split(b"\0", 1)[0].decode("utf-8", "replace"),
        secureexec=secureexec,
        ino=ino,
        nlink=nlink,
    )


def decode_clone(rec: bytes) -> CloneMessage:
    """One MSG_OP_CLONE record → CloneMessage."""
    if len(rec) < _CLONE.size:
        raise DecodeError(f"clone record of {len(rec)} bytes is shorter than {_CLONE.size}")
    _op, _fl, _size, _ktime, ppid, pktime, tgid, tid, nspid, flags, ktime = _CLONE.unpack_from(rec)
    return CloneMessage(
        ktime=ktime, parent=ExecKey(ppid, pktime), pid=tgid, tid=tid, nspid=nspid, flags=flags
    )


def decode_exit(rec: bytes) -> ExitMessage:
    """One MSG_OP_EXIT record → ExitMessage."""
    if len(rec) < _EXIT.size:
        raise DecodeError(f"exit record of {len(rec)} bytes is shorter than {_EXIT.size}")
    _op, _fl, _size, ktime, pid, pktime, code, tid = _EXIT.unpack_from(rec)
    return ExitMessage(ktime=ktime, key=ExecKey(pid, pktime), code=code, tid=tid)


# struct msg_throttle (bpf/lib/rate.h): header, cgroup id, kernfs name
_THROTTLE = struct.Struct("<BB2xIQ Q128s")


def decode_throttle(rec: bytes) -> ThrottleMessage:
    """One MSG_OP_THROTTLE record → ThrottleMessage."""
    if len(rec) < _THROTTLE.size:
        raise DecodeError(f"throttle record of {len(rec)} bytes is shorter than {_THROTTLE.size}")
    _op, _fl, _size, ktime, cgrpid, name = _THROTTLE.unpack_from(rec)
    return ThrottleMessage(
        ktime=ktime, cgrpid=cgrpid, name=name.split(b"\0", 1)[0].decode("utf-8", "replace")
    )
