"""Names for capability sets, securebits, privilege changes and signals, as Tetragon prints them.

The lists returned here are memoized and shared between every process that has the same bitmask:
callers must treat them as read-only.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CAPABILITY_NAMES",
    "EXEC_FILE_CAPS",
    "EXEC_SETGID",
    "EXEC_SETGID_ROOT",
    "EXEC_SETUID",
    "EXEC_SETUID_ROOT",
    "SECUREBIT_NAMES",
    "SIGNAL_NAMES",
    "capability_names",
    "privileges_changed",
    "securebits_names",
    "signal_name",
]

# Tetragon's CapabilitiesType enum (capabilities.proto). Value 1 really is "DAC_OVERRIDE", without
# the CAP_ prefix: protojson prints enum names, so the quirk is part of the output.
CAPABILITY_NAMES: Final[tuple[str, ...]] = (
    "CAP_CHOWN",
    "DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

# SecureBitsType enum: (bit value, name), in the order Tetragon appends them.
SECUREBIT_NAMES: Final[tuple[tuple[int, str], ...]] = (
    (1, "SecBitNoRoot"),
    (2, "SecBitNoRootLocked"),
    (4, "SecBitNoSetUidFixup"),
    (8, "SecBitNoSetUidFixupLocked"),
    (16, "SecBitKeepCaps"),
    (32, "SecBitKeepCapsLocked"),
    (64, "SecBitNoCapAmbientRaise"),
    (128, "SecBitNoCapAmbientRaiseLocked"),
)

# msg_process.secureexec bits, computed at security_bprm_committing_creds.
EXEC_SETUID: Final = 0x01
EXEC_SETGID: Final = 0x02
EXEC_FILE_CAPS: Final = 0x04
EXEC_SETUID_ROOT: Final = 0x08
EXEC_SETGID_ROOT: Final = 0x10

_PRIVILEGE_REASONS: Final[tuple[tuple[int, str], ...]] = (
    (EXEC_FILE_CAPS, "PRIVILEGES_RAISED_EXEC_FILE_CAP"),
    (EXEC_SETUID_ROOT, "PRIVILEGES_RAISED_EXEC_FILE_SETUID"),
    (EXEC_SETGID_ROOT, "PRIVILEGES_RAISED_EXEC_FILE_SETGID"),
)

# Linux x86-64 numbering, names as golang.org/x/sys/unix.SignalName gives them (it knows no
# real-time signals, so those map to "").
SIGNAL_NAMES: Final[dict[int, str]] = {
    1: "SIGHUP",
    2: "SIGINT",
    3: "SIGQUIT",
    4: "SIGILL",
    5: "SIGTRAP",
    6: "SIGABRT",
    7: "SIGBUS",
    8: "SIGFPE",
    9: "SIGKILL",
    10: "SIGUSR1",
    11: "SIGSEGV",
    12: "SIGUSR2",
    13: "SIGPIPE",
    14: "SIGALRM",
    15: "SIGTERM",
    16: "SIGSTKFLT",
    17: "SIGCHLD",
    18: "SIGCONT",
    19: "SIGSTOP",
    20: "SIGTSTP",
    21: "SIGTTIN",
    22: "SIGTTOU",
    23: "SIGURG",
    24: "SIGXCPU",
    25: "SIGXFSZ",
    26: "SIGVTALRM",
    27: "SIGPROF",
    28: "SIGWINCH",
    29: "SIGIO",
    30: "SIGPWR",
    31: "SIGSYS",
}

_VALID_CAPS_MASK: Final = (1 << len(CAPABILITY_NAMES)) - 1
_MEMO_LIMIT: Final = 4096
_caps_memo: dict[int, list[str]] = {0: []}
_securebits_memo: dict[int, list[str]] = {0: []}


def capability_names(mask: int) -> list[str]:
    """CapabilitiesType names of the bits set in a capability set, lowest bit first (shared list).

    Bits above CAP_CHECKPOINT_RESTORE (40) have no enum name and are left out.
    """
    mask &= _VALID_CAPS_MASK
    names = _caps_memo.get(mask)
    if names is None:
        names = [name for i, name in enumerate(CAPABILITY_NAMES) if mask >> i & 1]
        if len(_caps_memo) < _MEMO_LIMIT:
            _caps_memo[mask] = names
    return names


def securebits_names(securebits: int) -> list[str]:
    """SecureBitsType names of the bits set in a task's securebits (shared list)."""
    names = _securebits_memo.get(securebits)
    if names is None:
        names = [name for bit, name in SECUREBIT_NAMES if securebits & bit]
        if len(_securebits_memo) < _MEMO_LIMIT:
            _securebits_memo[securebits] = names
    return names


def privileges_changed(secureexec: int) -> list[str]:
    """ProcessPrivilegesChanged names for an exec's secureexec bits (new list, may be empty)."""
    return [name for bit, name in _PRIVILEGE_REASONS if secureexec & bit]


def signal_name(signo: int) -> str:
    """The name of a signal number ("SIGKILL"), or "" for 0 and unknown numbers."""
    return SIGNAL_NAMES.get(signo, "")
