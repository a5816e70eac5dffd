"""Where a kprobe hook runs and where its arguments are, on kernels with and without kprobes."""

from __future__ import annotations

import pytest
from tetragon_sensor_kprobe import args as K

from tetragon_core.policy import PolicyError, argtypes as A, parse_policy
from tetragon_core.policy.model import KProbeSpec
from tetragon_core.tracefs import Field

WRITE = [
    Field("common_type", "unsigned short", 0, 2, False),
    Field("common_flags", "unsigned char", 2, 1, False),
    Field("common_preempt_count", "unsigned char", 3, 1, False),
    Field("common_pid", "int", 4, 4, True),
    Field("__syscall_nr", "int", 8, 4, True),
    Field("fd", "unsigned int", 16, 8, False),
    Field("buf", "const char *", 24, 8, False),
    Field("count", "size_t", 32, 8, False),
]


def kprobe(body: str) -> KProbeSpec:
    head = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: t}\n"
    text = f"{head}spec:\n  kprobes:\n{body}"
    return parse_policy(text).spec.kprobes[0]


WRITE_HOOK = """  - call: sys_write
    syscall: true
    return: true
    returnArg: {index: 0, type: long}
    args: [{index: 0, type: int}, {index: 1, type: char_buf, sizeArgIndex: 3}, {index: 2, type: size_t}]
"""


@pytest.fixture
def no_kprobes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(K.probes, "has_kprobes", lambda: False)

    def fmt(subsys: str, event: str) -> list[Field]:
        if (subsys, event) == ("syscalls", "sys_enter_write"):
            return WRITE
        raise LookupError(f"no tracepoint {subsys}/{event}")

    monkeypatch.setattr(K, "read_format", fmt)


@pytest.fixture
def with_kprobes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(K.probes, "has_kprobes", lambda: True)


def test_syscall_hook_on_the_syscall_tracepoints_without_kprobes(no_kprobes: None) -> None:
    kp = kprobe(WRITE_HOOK)
    pl = K.place("spec.kprobes[0]", kp)
    assert pl == K.Placement(
        "syscall_tp",
        "__x64_sys_write",
        "generic_sys_40",
        "sys_enter_write",
        "generic_sys_exit",
        "sys_exit_write",
        3,
    )
    args = [r.spec for r in K.resolve_args("spec.kprobes[0]", kp, pl)]
    assert [(a.type, a.offset, a.size, a.user) for a in args] == [
        (A.T_INT, 16, 4, A.USER_BY_ADDRESS),
        (A.T_CHAR_BUF, 24, 8, A.USER_USER),
        (A.T_SIZE_T, 32, 8, A.USER_BY_ADDRESS),
    ]
    assert args[1].size_arg == 3
    ret = K.return_spec("spec.kprobes[0]", kp, [])
    assert ret is not None and ret.arg.type == A.T_S64 and ret.arg.is_signed and not ret.copy


def test_syscall_hook_as_a_kprobe_on_the_wrapper(with_kprobes: None) -> None:
    kp = kprobe(WRITE_HOOK.replace("sys_write", "__x64_sys_write"))
    pl = K.place("p", kp)
    assert (pl.method, pl.function_name, pl.entry, pl.target, pl.ret) == (
        "syscall",
        "__x64_sys_write",
        "generic_kprobe_sys",
        "__x64_sys_write",
        "generic_kretprobe",
    )
    # di, si, dx of the user pt_regs; the 4th syscall argument would be r10
    assert [r.spec.offset for r in K.resolve_args("p", kp, pl)] == [112, 104, 96]
    four = kprobe("  - call: sys_pwrite64\n    args: [{index: 3, type: long}]\n")
    assert K.resolve_args("p", four, K.place("p", four))[0].spec.offset == 56


def test_a_kernel_function_hook(with_kprobes: None) -> None:
    kp = kprobe(
        "  - call: fd_install\n    syscall: false\n"
        "    args: [{index: 0, type: int}, {index: 1, type: uint64}]\n"
    )
    pl = K.place("p", kp)
    assert (pl.method, pl.function_name, pl.entry, pl.ret) == ("kprobe", "fd_install", "generic_kprobe", "")
    assert [r.spec.offset for r in K.resolve_args("p", kp, pl)] == [112, 104]


def test_refusals_name_the_path_and_the_reason(no_kprobes: None) -> None:
    fd = kprobe("  - call: fd_install\n    syscall: false\n")
    with pytest.raises(PolicyError, match=r"spec.kprobes\[0\].call: 'fd_install' requires kprobes"):
        K.place("spec.kprobes[0]", fd)
    nope = kprobe("  - call: sys_nosuch\n")
    with pytest.raises(PolicyError, match="no syscalls/sys_enter_nosuch tracepoint"):
        K.place("spec.kprobes[0]", nope)
    kp = kprobe("  - call: sys_write\n    args: [{index: 0, type: file}]\n")
    pl = K.place("spec.kprobes[0]", kp)
    with pytest.raises(PolicyError, match=r"args\[0\].type: type 'file' is a kernel object"):
        K.resolve_args("spec.kprobes[0]", kp, pl)
    kp = kprobe("  - call: sys_write\n    args: [{index: 3, type: int}]\n")
    with pytest.raises(PolicyError, match=r"args\[0\].index: __x64_sys_write has 3 arguments"):
        K.resolve_args("spec.kprobes[0]", kp, pl)
    kp = kprobe("  - call: sys_write\n    returnArg: {index: 0, type: int}\n")
    with pytest.raises(PolicyError, match="returnArg needs return: true"):
        K.return_spec("spec.kprobes[0]", kp, [])


def test_syscall_base_names() -> None:
    assert {K.syscall_base(c) for c in ("sys_write", "__x64_sys_write", "write")} == {"write"}


OVERRIDE_HOOK = """  - call: security_inode_mkdir
    syscall: false
    args: [{index: 1, type: int}]
    selectors:
    - matchActions: [{action: Override, argError: -1}]
"""


def test_override_on_a_security_function_is_fmod_ret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(K.probes, "has_fmod_ret", lambda: True)
    kp = kprobe(OVERRIDE_HOOK)
    pl = K.place("p", kp)
    # security_inode_mkdir(struct inode *dir, struct dentry *dentry, umode_t mode): 3 slots
    assert (pl.method, pl.entry, pl.target, pl.override) == (
        "fmod_ret",
        "generic_fmodret_24",
        "security_inode_mkdir",
        "fmod_ret",
    )
    assert K.resolve_args("p", kp, pl)[0].spec.offset == 8


def test_override_refusals_name_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(K.probes, "has_fmod_ret", lambda: False)
    with pytest.raises(PolicyError, match="requires fmod_ret programs, which this kernel lacks"):
        K.place("spec.kprobes[0]", kprobe(OVERRIDE_HOOK))
    other = kprobe(OVERRIDE_HOOK.replace("security_inode_mkdir", "vfs_mkdir"))
    with pytest.raises(PolicyError, match=r"requires bpf_override_return \(CONFIG_BPF_KPROBE_OVERRIDE\)"):
        K.place("spec.kprobes[0]", other)
    sys_hook = kprobe(
        OVERRIDE_HOOK.replace("security_inode_mkdir", "sys_mkdir").replace("syscall: false", "syscall: true")
    )
    with pytest.raises(PolicyError, match=r"selectors: Override on a syscall requires bpf_override_return"):
        K.place("spec.kprobes[0]", sys_hook)


def test_a_nop_argument_is_neither_read_nor_reported(with_kprobes: None) -> None:
    from tetragon_core.sensors.hookdecode import decode_args

    kp = kprobe(
        "  - call: security_mmap_file\n    syscall: false\n"
        "    args: [{index: 2, type: nop}, {index: 1, type: uint32}]\n"
    )
    args = K.resolve_args("p", kp, K.place("p", kp))
    assert [a.spec.type for a in args] == [A.T_NOP, A.T_U32]
    # the kernel wrote only the uint32 (8 bytes): the nop has no bytes and no event entry
    got = decode_args("security_mmap_file", args, memoryview((5).to_bytes(8, "little")))
    assert [a.uint_arg for a in got] == [5]


def test_call_lists_expand_to_a_hook_per_function(tmp_path, monkeypatch) -> None:
    from tetragon_sensor_kprobe import calllists as L

    from tetragon_core import probes, tracefs
    from tetragon_core.policy.model import ListSpec

    events = tmp_path / "events" / "syscalls"
    events.mkdir(parents=True)
    for n in range(40):
        (events / f"sys_enter_call{n}").mkdir()
    (tmp_path / "available_filter_functions").write_text("ksys_read\nksys_write [m]\nvfs_read\nksys_x.cold\n")
    monkeypatch.setattr(tracefs, "events_dir", lambda: str(tmp_path / "events"))
    monkeypatch.setattr(probes, "has_kprobe_multi", lambda: False)
    lists = [
        ListSpec(name="dups", type="syscalls", values=["sys_dup", "sys_dup2"]),
        ListSpec(name="ksys", type="generated_ftrace", pattern="^ksys_*"),
        ListSpec(name="all", type="generated_syscalls"),
        ListSpec(name="nums", values=["1"]),
    ]
    got = L.expand("p", K.KProbeSpec(call="list:dups", syscall=False), lists)
    assert [(k.call, k.syscall) for k in got] == [("sys_dup", True), ("sys_dup2", True)]
    got = L.expand("p", K.KProbeSpec(call="list:ksys"), lists)
    assert [(k.call, k.syscall) for k in got] == [("ksys_read", False), ("ksys_write", False)]
    assert L.expand("p", K.KProbeSpec(call="fd_install"), lists) == [K.KProbeSpec(call="fd_install")]
    for name, msg in (
        (
            "all",
            r"p.call: list 'all' has 40 functions; more than 32 in one hook requires kprobe.multi, which",
        ),
        ("nums", r"spec.lists\[3\].type: a list of type 'values' names no functions"),
        ("nope", r"p.call: list 'nope' is not defined"),
    ):
        with pytest.raises(PolicyError, match=msg):
            L.expand("p", K.KProbeSpec(call=f"list:{name}"), lists)


def test_function_exists_reads_the_kernel_symbols(tmp_path, monkeypatch) -> None:
    from tetragon_core import stacks

    ks = tmp_path / "kallsyms"
    ks.write_text("0 T tcp_connect\n0 t fd_install\n0 D some_data\n0 t x.cold [m]\n")
    read = stacks.kernel_functions.__wrapped__
    monkeypatch.setattr(stacks, "kernel_functions", lambda: read(str(ks)))
    assert K.function_exists("tcp_connect") and K.function_exists("fd_install")
    assert not K.function_exists("dev_queue_xmit") and not K.function_exists("some_data")
