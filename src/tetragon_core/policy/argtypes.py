"""Argument types of generic hooks: the policy's type names and the kernel's type ids.

The ids are bpf/lib/generic.h's ``TG_T_*`` (Tetragon's own numbering); every hook sensor
resolves ``args[].type`` through these tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.kernel import ArgSpec
from tetragon_core.policy.model import KProbeArg

# re-exported: the hook sensors name the ids as argtypes.T_INT ...
from tetragon_core.policy.typeids import (
    NET_IDS as NET_IDS,
    PATH_IDS as PATH_IDS,
    T_BPF_ATTR as T_BPF_ATTR,
    T_CAP_EFF as T_CAP_EFF,
    T_CAP_INH as T_CAP_INH,
    T_CAP_PRM as T_CAP_PRM,
    T_CAPABILITY as T_CAPABILITY,
    T_CHAR_BUF as T_CHAR_BUF,
    T_CHAR_IOVEC as T_CHAR_IOVEC,
    T_CRED as T_CRED,
    T_DATA_LOC as T_DATA_LOC,
    T_FD as T_FD,
    T_FILE as T_FILE,
    T_FILENAME as T_FILENAME,
    T_INT as T_INT,
    T_KERNEL_CAP_T as T_KERNEL_CAP_T,
    T_LINUX_BINPRM as T_LINUX_BINPRM,
    T_LOAD_INFO as T_LOAD_INFO,
    T_MODULE as T_MODULE,
    T_NOP as T_NOP,
    T_PATH as T_PATH,
    T_S8 as T_S8,
    T_S16 as T_S16,
    T_S32 as T_S32,
    T_S64 as T_S64,
    T_SIZE_T as T_SIZE_T,
    T_SKB as T_SKB,
    T_SOCK as T_SOCK,
    T_SOCKADDR as T_SOCKADDR,
    T_SOCKET as T_SOCKET,
    T_STRING as T_STRING,
    T_SYSCALL64 as T_SYSCALL64,
    T_U8 as T_U8,
    T_U16 as T_U16,
    T_U32 as T_U32,
    T_U64 as T_U64,
)

#: bytes of a string or buffer argument read into an event (bpf/lib/generic.h TG_STR_MAX)
TG_STR_MAX = 4096
#: where a pointer argument points (tg_arg_cfg.user)
USER_KERNEL, USER_USER, USER_BY_ADDRESS, USER_INLINE = 0, 1, 2, 3

#: integer type name → (kernel id, bytes, signed)
INTS: dict[str, tuple[int, int, bool]] = {
    "int": (T_INT, 4, True),
    "sint32": (T_S32, 4, True),
    "int32": (T_S32, 4, True),
    "uint32": (T_U32, 4, False),
    "sint8": (T_S8, 1, True),
    "int8": (T_S8, 1, True),
    "uint8": (T_U8, 1, False),
    "sint16": (T_S16, 2, True),
    "int16": (T_S16, 2, True),
    "uint16": (T_U16, 2, False),
    "size_t": (T_SIZE_T, 8, False),
    "uint64": (T_U64, 8, False),
    "ulong": (T_U64, 8, False),
    "unsigned long": (T_U64, 8, False),
    "long": (T_S64, 8, True),
    "sint64": (T_S64, 8, True),
    "int64": (T_S64, 8, True),
    "fd": (T_FD, 4, True),
    "syscall64": (T_SYSCALL64, 8, False),
    "capability": (T_CAPABILITY, 4, True),
}
STRINGS = {"string": T_STRING, "filename": T_FILENAME, "data_loc": T_DATA_LOC}
#: types encoded as s32 length + bytes
STRING_IDS = frozenset({T_STRING, T_FILENAME, T_DATA_LOC})
#: kernel objects read as their path (kprobe, LSM, raw tracepoints)
PATHS = {"file": T_FILE, "path": T_PATH, "linux_binprm": T_LINUX_BINPRM}
#: other kernel objects behind a pointer argument, read in the kernel (kprobe, LSM, raw tracepoints)
OBJECTS = {
    "sock": T_SOCK,
    "socket": T_SOCKET,
    "skb": T_SKB,
    "sockaddr": T_SOCKADDR,
    "cred": T_CRED,
    "bpf_attr": T_BPF_ATTR,
    "module": T_MODULE,
    "load_info": T_LOAD_INFO,
    "kernel_cap_t": T_KERNEL_CAP_T,
    "cap_inheritable": T_CAP_INH,
    "cap_permitted": T_CAP_PRM,
    "cap_effective": T_CAP_EFF,
}
#: kernel_cap_t pointers: the 64-bit set they point to, which integer operators compare
CAP_SET_IDS = frozenset({T_KERNEL_CAP_T, T_CAP_INH, T_CAP_PRM, T_CAP_EFF})
#: the kernel's struct behind a type, where the kernel's BTF may lack it
NEEDS_STRUCT = {T_LOAD_INFO: "load_info"}


@dataclass(frozen=True)
class ResolvedArg:
    """One argument: how the kernel reads it and how user space decodes it."""

    spec: ArgSpec
    label: str


def int_by_size(size: int, signed: bool) -> int:
    """The integer type id for a field of ``size`` bytes."""
    table = {1: (T_S8, T_U8), 2: (T_S16, T_U16), 4: (T_S32, T_U32), 8: (T_S64, T_U64)}
    return table.get(size, (T_S64, T_U64))[0 if signed else 1]


def object_arg(path: str, type_name: str, offset: int) -> ArgSpec | None:
    """A pointer argument to a kernel object (``file``, ``sock``, ``cred`` ...), or None when
    ``type_name`` names none. PolicyError when this kernel's BTF lacks the object's type."""
    tid = PATHS.get(type_name) or OBJECTS.get(type_name)
    if tid is None:
        return None
    struct_name = NEEDS_STRUCT.get(tid)
    if struct_name is not None:
        from tetragon_core.bpf import btf

        if struct_name not in btf.vmlinux().structs:
            raise PolicyError(
                f"{path}.type",
                f"type {type_name!r} requires struct {struct_name} in the kernel's BTF, "
                "which this kernel lacks",
            )
    return ArgSpec(tid, offset, 8, user=USER_KERNEL)


def refuse_unbuilt_fields(path: str, arg: KProbeArg, *, return_copy: bool = False) -> None:
    """Refuse the argument fields this agent parses but cannot act on, naming each; so none is
    silently ignored. ``return_copy`` is True where the sensor reads ``returnCopy`` (kprobes)."""
    if arg.max_data:
        raise PolicyError(
            f"{path}.maxData",
            f"maxData needs data events (arguments sent apart from their event), which this agent "
            f"does not have yet: buffers are read up to {TG_STR_MAX} bytes into the event",
        )
    if arg.resolve:
        raise PolicyError(f"{path}.resolve", "resolving a BTF field path of an argument is not built yet")
    if arg.btf_type or arg.btf_type_module:
        key = "btfType" if arg.btf_type else "btfTypeModule"
        raise PolicyError(f"{path}.{key}", "BTF-typed arguments are not built yet")
    if arg.source:
        raise PolicyError(f"{path}.source", "argument sources other than the hook's own are not built yet")
    if arg.return_copy and not return_copy:
        raise PolicyError(f"{path}.returnCopy", "returnCopy applies to kprobes with return: true")
