"""The kernel's argument type ids (bpf/lib/generic.h's ``TG_T_*``, Tetragon's numbering) and the
groups the compiler and decoders treat alike. A leaf module: the selector compiler
(policy/kernel.py) and the type-name tables (policy/argtypes.py) both read it."""

from __future__ import annotations

# kernel type ids (bpf/lib/generic.h)
T_INT, T_CHAR_BUF, T_SIZE_T, T_STRING, T_S64, T_U64, T_S32, T_U32 = 1, 2, 4, 6, 10, 11, 12, 13
T_FILENAME, T_FD, T_SYSCALL64, T_S16, T_U16, T_S8, T_U8, T_DATA_LOC = 14, 17, 28, 29, 30, 31, 32, 38
T_PATH, T_FILE = 15, 16  # struct path *, struct file *: their path, sent as a string
T_NOP = 99  # nop: neither read nor reported
# kernel objects behind a pointer, read in the kernel (bpf/lib/structargs.h)
T_CHAR_IOVEC, T_SKB, T_SOCK, T_CRED, T_BPF_ATTR, T_CAPABILITY = 3, 5, 7, 8, 19, 23
T_LOAD_INFO, T_MODULE, T_KERNEL_CAP_T, T_CAP_INH, T_CAP_PRM, T_CAP_EFF = 26, 27, 33, 34, 35, 36
T_LINUX_BINPRM, T_SOCKADDR, T_SOCKET = 37, 40, 41
#: a kernel object read as its path (s32 length + path + u32 flags + u32 mode)
PATH_IDS = frozenset({T_PATH, T_FILE, T_LINUX_BINPRM})
#: network objects: a 64-byte tuple the network operators (SAddr, DPort, Protocol ...) compare
NET_IDS = frozenset({T_SOCK, T_SOCKET, T_SKB, T_SOCKADDR})
#: sock and socket: TrackSock applies, and State
SOCK_IDS = frozenset({T_SOCK, T_SOCKET})
#: kernel objects no operator applies to (their fields are reported, not filtered), by name
OPAQUE_IDS = {T_CRED: "cred", T_BPF_ATTR: "bpf_attr", T_LOAD_INFO: "load_info", T_MODULE: "module"}
