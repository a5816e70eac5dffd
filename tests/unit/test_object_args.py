"""Kernel-object arguments without a kernel: the layouts of bpf/lib/structargs.h decoded into
Tetragon's messages, and the network operators compiled for match_net."""

from __future__ import annotations

import socket
import struct

import pytest

from tetragon_core.events import encode_json
from tetragon_core.policy import PolicyError, argtypes as A
from tetragon_core.policy.kernel import ArgSpec
from tetragon_core.policy.netfilter import compile_net
from tetragon_core.sensors import structdecode as S
from tetragon_core.sensors.hookdecode import DecodeError, decode_args


def _net(saddr: bytes, daddr: bytes, sport: int, dport: int, proto: int, family: int, tail: bytes) -> bytes:
    return struct.pack("<16s16sHHHH", saddr, daddr, sport, dport, proto, family) + tail


def _arg(tid: int, label: str = "") -> A.ResolvedArg:
    return A.ResolvedArg(ArgSpec(tid, 0, 8, user=0), label)


def _json(arg: object) -> bytes:
    return encode_json(arg)


def test_sock_decodes_as_tetragon_reports_it() -> None:
    tail = struct.pack("<QIIHB5x", 0xFFFF888012345678, 7, 6, 1, 2)
    rec = _net(socket.inet_aton("10.0.0.1"), socket.inet_aton("127.0.0.1"), 40000, 8080, 6, 2, tail)
    (a,) = decode_args("t", [_arg(A.T_SOCK, "sk")], memoryview(rec))
    assert a.sock_arg is not None and a.label == "sk"
    assert _json(a.sock_arg) == (
        b'{"family":"AF_INET","type":"SOCK_STREAM","protocol":"IPPROTO_TCP","mark":7,"priority":6,'
        b'"saddr":"10.0.0.1","daddr":"127.0.0.1","sport":40000,"dport":8080,'
        b'"cookie":"18446612682375452280","state":"TCP_SYN_SENT"}'
    )


def test_ipv6_skb_and_sockaddr() -> None:
    v6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    lo6 = socket.inet_pton(socket.AF_INET6, "::1")
    skb = _net(v6, lo6, 53, 5353, 17, 10, struct.pack("<6I", 0xABC, 120, 0, 3, 0, 0))
    (a,) = decode_args("t", [_arg(A.T_SKB)], memoryview(skb))
    assert _json(a.skb_arg) == (
        b'{"hash":2748,"len":120,"mark":3,"saddr":"2001:db8::1","daddr":"::1","sport":53,"dport":5353,'
        b'"proto":17,"protocol":"IPPROTO_UDP","family":"AF_INET6"}'
    )
    sa = _net(socket.inet_aton("192.168.1.1"), bytes(16), 80, 0, 0, 2, bytes(24))
    (b,) = decode_args("t", [_arg(A.T_SOCKADDR)], memoryview(sa))
    assert _json(b) == b'{"sockaddr_arg":{"family":"AF_INET","addr":"192.168.1.1","port":80}}'


def test_cred_module_bpf_attr_and_capability_sets() -> None:
    cred = struct.pack(
        "<10I3QiIII", 1000, 1000, 0, 0, 1000, 1000, 1000, 1000, 0, 0, 1 << 21, 1 << 21, 0, 0, 0, 0, 4026531837
    )
    mod = struct.pack("<56sQI4x", b"dummy", 4096 | 8192, 2)
    attr = struct.pack("<II16s", 2, 12, b"probe")
    caps = struct.pack("<Q", 0x1FFFFFFFFFF)
    args = [_arg(A.T_CRED), _arg(A.T_MODULE), _arg(A.T_BPF_ATTR), _arg(A.T_CAP_EFF)]
    c, m, b, e = decode_args("t", args, memoryview(cred + mod + attr + caps))
    assert _json(c) == (
        b'{"process_credentials_arg":{"uid":1000,"gid":1000,"euid":1000,"egid":1000,"suid":0,"sgid":0,'
        b'"fsuid":1000,"fsgid":1000,"caps":{"permitted":["CAP_SYS_ADMIN"],"effective":["CAP_SYS_ADMIN"]},'
        b'"user_ns":{"level":0,"uid":0,"gid":0,"ns":{"inum":4026531837,"is_host":true}}}}'
    )
    assert _json(m) == (
        b'{"module_arg":{"name":"dummy","tainted":["TAINT_OUT_OF_TREE_MODULE","TAINT_UNSIGNED_MODULE"]}}'
    )
    assert _json(b) == b'{"bpf_attr_arg":{"ProgType":"BPF_PROG_TYPE_KPROBE","InsnCnt":12,"ProgName":"probe"}}'
    assert _json(e) == b'{"cap_effective_arg":"000001ffffffffff"}'
    (li,) = decode_args("t", [_arg(A.T_LOAD_INFO)], memoryview(struct.pack("<56sQI4x", b"m", 0, 1)))
    assert li.module_arg is not None and li.module_arg.signature_ok is True


def test_paths_carry_flags_and_permission() -> None:
    rec = struct.pack("<i", 9) + b"/bin/true" + struct.pack("<II", 0, 0o104755)
    rec += struct.pack("<i", 2) + b"/x" + struct.pack("<II", 1, 0o040700)
    b, p = decode_args("t", [_arg(A.T_LINUX_BINPRM), _arg(A.T_PATH)], memoryview(rec))
    assert _json(b) == b'{"linux_binprm_arg":{"path":"/bin/true","permission":"-rwsr-xr-x"}}'
    assert (
        _json(p) == b'{"path_arg":{"path":"/x","flags":"unresolvedPathComponents","permission":"drwx------"}}'
    )
    assert S.permission(0o121777) == "lrwxrwxrwt" and S.permission(0o102640) == "-rw-r-S---"
    with pytest.raises(DecodeError, match="inside a path argument"):
        decode_args("t", [_arg(A.T_FILE)], memoryview(struct.pack("<i", 2) + b"/x"))
    with pytest.raises(DecodeError, match="64-byte kernel object"):
        decode_args("t", [_arg(A.T_SOCK)], memoryview(bytes(40)))


def test_capability_names() -> None:
    assert _json(S.capability(21)) == b'{"capability_arg":{"value":21,"name":"CAP_SYS_ADMIN"}}'
    assert _json(S.capability(0)) == b'{"capability_arg":{"value":0,"name":"CAP_CHOWN"}}'


def test_network_operators_compile_and_refuse() -> None:
    added: list[tuple[str, bytes]] = []

    def add(name: str, key: bytes) -> None:
        added.append((name, key))

    assert compile_net("p", "DAddr", ["127.0.0.1/8", "::1"], 7, add) == (0, [])
    (m4, k4), (m6, k6) = added
    assert m4 == m6 == "tg_addr_lpm"
    assert k4 == struct.pack("<IIB", 48, 7, 4) + bytes([127]) + bytes(15)  # strict=False: 127.0.0.0/8
    assert k6 == struct.pack("<IIB", 168, 7, 6) + socket.inet_pton(socket.AF_INET6, "::1")
    assert compile_net("p", "DPort", ["80", "8000:8080"], 0, add) == (4, [80, 80, 8000, 8080])
    assert compile_net("p", "Protocol", ["IPPROTO_UDP", "6"], 0, add) == (2, [17, 6])
    assert compile_net("p", "Family", ["AF_INET6"], 0, add) == (1, [10])
    assert compile_net("p", "State", ["TCP_SYN_SENT"], 0, add) == (1, [2])
    assert compile_net("p", "DPortPriv", [], 0, add) == (0, [])
    for op, values, msg in (
        ("SAddr", ["300.1.1.1"], r"p.values\[0\]: '300.1.1.1' is not an IP address or CIDR"),
        ("SPort", ["70000"], r"p.values\[0\]: '70000' is not a port"),
        ("SPort", ["1", "2", "3", "4", "5"], "at most 4 ports"),
        ("Protocol", ["IPPROTO_NOPE"], r"p.values\[0\]: expected a number"),
        ("SPortPriv", ["1"], "takes no values"),
        ("DAddr", [], "needs at least one value"),
    ):
        with pytest.raises(PolicyError, match=msg):
            compile_net("p", op, values, 0, add)


def test_selectors_name_kprobe_arguments_by_their_index() -> None:
    from tetragon_core.policy.kernel import _ARGF, compile_hook
    from tetragon_core.policy.model import ArgSelector, KProbeSelector

    sel = KProbeSelector(match_args=[ArgSelector(index=1, operator="Equal", values=["2"])])
    args = [ArgSpec(A.T_INT, 104, 4, is_signed=True)]  # args: [{index: 1, type: int}]
    out = compile_hook("p", 1, args, [sel], positions={1: 0})
    arg, op, n, _is_str, *vals = _ARGF.unpack_from(out.cfg, 16 + 12 * 5 + 4 + 40 + 44 * 4 + 28 * 10 + 24 * 8)
    assert (arg, op, n, vals[0]) == (0, 3, 1, 2)
    with pytest.raises(PolicyError, match="the hook has 1 args; index 1 names none"):
        compile_hook("p", 1, args, [sel])  # by position, there is no second argument


def test_stack_symbols(tmp_path) -> None:
    import ctypes
    import os

    from tetragon_core import stacks

    ks = tmp_path / "kallsyms"
    ks.write_text(
        "ffffffff81000000 T _stext\nffffffff81000100 t do_thing\nffffffffc0000000 t modfn\t[dummy]\n"
    )
    syms = stacks.KernelSymbols(str(ks))
    got = stacks.kernel_trace([0xFFFFFFFF81000110, 0xFFFFFFFFC0000004], expose=True, syms=syms)
    assert [(f.symbol, f.offset, f.module, f.address) for f in got] == [
        ("do_thing", "16", "", str(0xFFFFFFFF81000110)),
        ("modfn", "4", "dummy", str(0xFFFFFFFFC0000004)),
    ]
    assert stacks.parse_stack(struct.pack("<3Q", 1, 2, 0) + bytes(16)) == [1, 2]
    libc = ctypes.CDLL("libc.so.6")
    addr = ctypes.cast(libc.getppid, ctypes.c_void_p).value
    assert addr is not None
    (frame,) = stacks.user_trace(os.getpid(), [addr + 1])
    assert (
        frame.module.endswith("libc.so.6")
        and frame.symbol in ("getppid", "__getppid")
        and frame.offset == "1"
    )
    assert stacks.user_trace(os.getpid(), [8]) == []  # not mapped: left out
