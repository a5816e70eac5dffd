"""Decoding kernel-object arguments: the fixed layouts of ``bpf/lib/structargs.h`` and the path
arguments of ``bpf/lib/args.h`` (file, path, linux_binprm), into Tetragon's argument messages."""

from __future__ import annotations

import ipaddress
import struct

from tetragon_core.events import (
    Capabilities,
    KernelModule,
    KprobeArgument,
    KprobeBpfAttr,
    KprobeCapability,
    KprobeFile,
    KprobeLinuxBinprm,
    KprobePath,
    KprobeSkb,
    KprobeSock,
    KprobeSockaddr,
    Namespace,
    ProcessCredentials,
    UserNamespace,
)
from tetragon_core.policy import argtypes as A, netnames as N
from tetragon_core.process.caps import CAPABILITY_NAMES, capability_names, securebits_names

__all__ = ["SIZES", "capability", "net", "object_arg", "path_arg", "permission"]

_NET = struct.Struct("<16s16sHHHH8s8s8s")  # struct tg_net: tuple + 24 type-specific bytes
_SOCK_TAIL = struct.Struct("<QIIHB5x")
_SKB_TAIL = struct.Struct("<6I")
_CRED = struct.Struct("<10I3QiIII")  # struct msg_cred
_MODULE = struct.Struct("<56sQI4x")  # struct tg_module
_BPF_ATTR = struct.Struct("<II16s")  # struct tg_bpf_attr
_PATH_TAIL = struct.Struct("<II")  # flags, mode
#: bytes each object takes in a record
SIZES = {
    **dict.fromkeys(A.NET_IDS, _NET.size),
    A.T_CRED: _CRED.size,
    A.T_MODULE: _MODULE.size,
    A.T_LOAD_INFO: _MODULE.size,
    A.T_BPF_ATTR: _BPF_ATTR.size,
    **dict.fromkeys(A.CAP_SET_IDS, 8),
}
_AF_INET, _AF_INET6 = 2, 10
_PATH_CUT = 1  # the path's flags: components were cut (Tetragon's unresolvedPathComponents)


def _addr(family: int, raw: bytes) -> str:
    if family == _AF_INET:
        return str(ipaddress.IPv4Address(raw[:4]))
    if family == _AF_INET6:
        return str(ipaddress.IPv6Address(raw))
    return ""


def net(tid: int, data: memoryview, off: int) -> KprobeArgument:
    """A sock, socket, skb or sockaddr argument (64 bytes at ``off``)."""
    saddr, daddr, sport, dport, proto, family, t1, t2, t3 = _NET.unpack_from(data, off)
    tail = t1 + t2 + t3
    fam = N.FAMILIES.get(family, "") if family else ""
    if tid == A.T_SOCKADDR:
        return KprobeArgument(sockaddr_arg=KprobeSockaddr(family=fam, addr=_addr(family, saddr), port=sport))
    if tid == A.T_SKB:
        h, ln, prio, mark, sp_len, sp_olen = _SKB_TAIL.unpack(tail)
        return KprobeArgument(
            skb_arg=KprobeSkb(
                hash=h,
                len=ln,
                priority=prio,
                mark=mark,
                saddr=_addr(family, saddr),
                daddr=_addr(family, daddr),
                sport=sport,
                dport=dport,
                proto=proto,
                sec_path_len=sp_len,
                sec_path_olen=sp_olen,
                protocol=N.name(N.PROTOCOLS, proto) if family else "",
                family=fam,
            )
        )
    cookie, mark, prio, stype, state = _SOCK_TAIL.unpack(tail)
    return KprobeArgument(
        sock_arg=KprobeSock(
            family=fam,
            type=N.SOCK_TYPES.get(stype, "") if stype else "",
            protocol=N.name(N.PROTOCOLS, proto) if family else "",
            mark=mark,
            priority=prio,
            saddr=_addr(family, saddr),
            daddr=_addr(family, daddr),
            sport=sport,
            dport=dport,
            cookie=str(cookie),
            state=N.TCP_STATES[state] if state < len(N.TCP_STATES) else str(state),
        )
    )


def _cred(data: memoryview, off: int) -> KprobeArgument:
    f = _CRED.unpack_from(data, off)
    uid, gid, suid, sgid, euid, egid, fsuid, fsgid, securebits = f[:9]
    permitted, effective, inheritable, level, ns_uid, ns_gid, inum = f[10:]
    return KprobeArgument(
        process_credentials_arg=ProcessCredentials(
            uid=uid,
            gid=gid,
            euid=euid,
            egid=egid,
            suid=suid,
            sgid=sgid,
            fsuid=fsuid,
            fsgid=fsgid,
            securebits=securebits_names(securebits),
            caps=Capabilities(
                permitted=capability_names(permitted),
                effective=capability_names(effective),
                inheritable=capability_names(inheritable),
            ),
            user_ns=UserNamespace(
                level=level, uid=ns_uid, gid=ns_gid, ns=Namespace(inum=inum, is_host=level == 0)
            ),
        )
    )


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def object_arg(tid: int, data: memoryview, off: int) -> KprobeArgument:
    """A fixed-size kernel object at ``off`` (its size is ``SIZES[tid]``)."""
    if tid in A.NET_IDS:
        return net(tid, data, off)
    if tid == A.T_CRED:
        return _cred(data, off)
    if tid in (A.T_MODULE, A.T_LOAD_INFO):
        name, taints, sig_ok = _MODULE.unpack_from(data, off)
        return KprobeArgument(
            module_arg=KernelModule(
                name=_cstr(name),
                signature_ok=None if sig_ok > 1 or tid == A.T_MODULE else bool(sig_ok),
                tainted=[n for bit, n in N.TAINTS.items() if taints & bit],
            )
        )
    if tid == A.T_BPF_ATTR:
        ptype, insns, name = _BPF_ATTR.unpack_from(data, off)
        return KprobeArgument(
            bpf_attr_arg=KprobeBpfAttr(
                prog_type=N.name(dict(enumerate(N.BPF_PROG_TYPES)), ptype),
                insn_cnt=insns,
                prog_name=_cstr(name),
            )
        )
    (caps,) = struct.unpack_from("<Q", data, off)
    text = f"{caps:016x}"
    if tid == A.T_CAP_INH:
        return KprobeArgument(cap_inheritable_arg=text)
    if tid == A.T_CAP_PRM:
        return KprobeArgument(cap_permitted_arg=text)
    if tid == A.T_CAP_EFF:
        return KprobeArgument(cap_effective_arg=text)
    return KprobeArgument(kernel_cap_t_arg=text)


def capability(raw: int) -> KprobeArgument:
    """A ``capability`` (an int): its number and CAP_* name."""
    v = raw & 0xFFFFFFFF
    v = v - (1 << 32) if v >= 1 << 31 else v
    name = CAPABILITY_NAMES[v] if 0 <= v < len(CAPABILITY_NAMES) else ""
    return KprobeArgument(capability_arg=KprobeCapability(value=v, name=name))


def permission(mode: int) -> str:
    """``ls``-style permissions of an inode mode (``-rwxr-xr-x``), as Tetragon's FilePathModeToStr."""
    kind = {
        0o060000: "b",
        0o020000: "c",
        0o040000: "d",
        0o010000: "p",
        0o120000: "l",
        0o100000: "-",
        0o140000: "s",
    }
    out = [kind.get(mode & 0o170000, "")]
    for shift, special, ch in ((6, 0o4000, "s"), (3, 0o2000, "s"), (0, 0o1000, "t")):
        bits = (mode >> shift) & 7
        out.append("r" if bits & 4 else "-")
        out.append("w" if bits & 2 else "-")
        if mode & special:
            out.append(ch if bits & 1 else ch.upper())
        else:
            out.append("x" if bits & 1 else "-")
    return "".join(out)


def path_arg(tid: int, text: str, data: memoryview, off: int) -> KprobeArgument:
    """A file, path or linux_binprm argument: its path, then the flags and mode at ``off``."""
    flags, mode = _PATH_TAIL.unpack_from(data, off)
    fl = "unresolvedPathComponents" if flags & _PATH_CUT else ""
    perm = permission(mode) if mode else ""
    if tid == A.T_FILE:
        return KprobeArgument(file_arg=KprobeFile(path=text, flags=fl, permission=perm))
    if tid == A.T_PATH:
        return KprobeArgument(path_arg=KprobePath(path=text, flags=fl, permission=perm))
    return KprobeArgument(linux_binprm_arg=KprobeLinuxBinprm(path=text, flags=fl, permission=perm))
