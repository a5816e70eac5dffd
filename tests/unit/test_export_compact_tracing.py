"""``render_compact`` of the tracing events: golden lines per kprobe function, tracepoints, uprobe,
LSM, USDT, loader and throttle, with and without colour; stack traces and IMA hash lines.

Lines from upstream's ``pkg/encoder/encoder_test.go`` and Tetragon's docs are marked so; the others
follow ``pkg/encoder/encoder.go`` (see the docstrings of ``tetragon_core.export.compact`` and
``compact_kprobe``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.unit.samples import NODE
from tests.unit.samples_tracing import (
    kprobe_write,
    loader_libc,
    lsm_file_open,
    throttle,
    tracepoint_openat,
    tracepoint_raw_syscall,
    uprobe_readline,
    usdt_python,
)
from tetragon_core import events as ev
from tetragon_core.export import _syscall_names, compact_kprobe
from tetragon_core.export._syscall_names import SYSCALL_NAMES
from tetragon_core.export.compact import render_compact
from tetragon_core.export.compact_kprobe import cut_syscall_prefix

BLUE, GREEN, YELLOW, MAGENTA, CYAN, RED, RESET = (f"\x1b[{c}m" for c in (34, 32, 33, 35, 36, 31, 0))
A = ev.KprobeArgument
SRC = "kube-system/tetragon /usr/bin/curl"


def kprobe(function: str, *args: ev.KprobeArgument, caps: int = 0) -> ev.GetEventsResponse:
    process = ev.Process(binary="/usr/bin/curl", pod=ev.Pod(namespace="kube-system", name="tetragon"))
    if caps:
        process.cap = ev.Capabilities(effective=[f"CAP_{i}" for i in range(caps)])
    return ev.GetEventsResponse(
        process_kprobe=ev.ProcessKprobe(process=process, function_name=function, args=list(args)),
        node_name=NODE,
    )


def file(path: str) -> ev.KprobeArgument:
    return A(file_arg=ev.KprobeFile(path=path))


SOCK = A(
    sock_arg=ev.KprobeSock(
        family="AF_INET", saddr="10.244.0.12", sport=41364, daddr="104.198.14.52", dport=443
    )
)


def plain(event: ev.GetEventsResponse) -> str | None:
    return render_compact(event, color=False, timestamps=False)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        # encoder_test.go (with today's ❓ for an unknown function)
        (kprobe("unhandled_function"), f"❓ syscall {SRC} unhandled_function"),
        (kprobe("fd_install"), f"📬 open    {SRC} "),
        (kprobe("fd_install", A(), file("/etc/password")), f"📬 open    {SRC} /etc/password"),
        (kprobe("__x64_sys_write"), f"📝 write   {SRC}  "),
        (
            kprobe("__x64_sys_write", file("/etc/password"), A(), A(size_arg="1234")),
            f"📝 write   {SRC} /etc/password 1234 bytes",
        ),
        (kprobe("__x64_sys_close"), f"📪 close   {SRC} "),
        (kprobe("__x64_sys_close", file("/etc/password")), f"📪 close   {SRC} /etc/password"),
        # the arch prefix is cut, whichever it is, and a bare name works too
        (
            kprobe("__arm64_sys_read", file("/etc/passwd"), A(bytes_arg=b"root"), A(size_arg="4")),
            f"📚 read    {SRC} /etc/passwd 4 bytes",
        ),
        (kprobe("sys_write", A(int_arg=1), A(), A(size_arg="5")), f"📝 write   {SRC}  5 bytes"),
        (kprobe("__x64_sys_write", file("/a"), A(), A(string_arg="x")), f"📝 write   {SRC} /a 0 bytes"),
        (
            kprobe("__x64_sys_openat", A(int_arg=-100), A(string_arg="/etc/shadow")),
            f"📬️ openat  {SRC} /etc/shadow",
        ),
        (kprobe("__ia32_sys_open", A(int_arg=3), A(string_arg="/etc/motd")), f"📬️ open    {SRC} /etc/motd"),
        (kprobe("__x64_sys_open", A(string_arg="/etc/motd")), f"📬️ open    {SRC} "),  # takes arg 1
        (
            kprobe("__x64_sys_mount", A(string_arg="/dev/sda1"), A(string_arg="/mnt")),
            f"💾 mount   {SRC} /dev/sda1 /mnt",
        ),
        (kprobe("__x64_sys_mount"), f"💾 mount   {SRC}  "),
        (kprobe("__x64_sys_setuid", A(int_arg=0)), f"🔑 setuid  {SRC} 0"),
        (kprobe("__x64_sys_clock_settime", A(int_arg=0)), f"⏰ clock_settime {SRC}"),
        (
            kprobe("__x64_sys_pivot_root", A(string_arg="/new"), A(string_arg="/new/old")),
            f"💾 pivot_root {SRC} /new /new/old",
        ),
        (kprobe("proc_exec_connector"), f"🔧 proc_exec_connector {SRC}"),
        (kprobe("__x64_sys_setns", A(int_arg=3), A(int_arg=0x40000000)), f"🔧 setns   {SRC} net"),
        (kprobe("__x64_sys_setns", A(int_arg=3), A(int_arg=0)), f"🔧 setns   {SRC} any"),
        (kprobe("__x64_sys_setns", A(int_arg=3), A(int_arg=7)), f"🔧 setns   {SRC} "),
        (kprobe("tcp_connect", SOCK), f"🔌 connect {SRC} tcp 10.244.0.12:41364 -> 104.198.14.52:443"),
        (kprobe("tcp_close", SOCK), f"🧹 close   {SRC} tcp 10.244.0.12:41364 -> 104.198.14.52:443"),
        (kprobe("tcp_connect", A(int_arg=1)), f"🔌 connect {SRC} tcp :0 -> :0"),  # upstream: a crash
        (kprobe("tcp_connect"), f"🔌 connect {SRC} "),
        (
            kprobe("tcp_sendmsg", SOCK, A(int_arg=517)),
            f"📤 sendmsg {SRC} tcp 10.244.0.12:41364 -> 104.198.14.52:443 bytes 517",
        ),
        (kprobe("tcp_sendmsg"), f"📤 sendmsg {SRC}  bytes 0"),
        (
            kprobe(
                "bpf_check",
                A(
                    bpf_attr_arg=ev.KprobeBpfAttr(
                        prog_type="BPF_PROG_TYPE_KPROBE", insn_cnt=212, prog_name="probe"
                    )
                ),
            ),
            f"🐝 bpf_load {SRC} BPF_PROG_TYPE_KPROBE probe instruction count 212",
        ),
        (
            kprobe(
                "security_perf_event_alloc",
                A(perf_event_arg=ev.KprobePerfEvent(kprobe_func="do_sys_open", type="PERF_TYPE_TRACEPOINT")),
            ),
            f"🐝 perf_event_alloc {SRC} PERF_TYPE_TRACEPOINT do_sys_open",
        ),
        *[
            (
                kprobe(
                    fn,
                    A(
                        bpf_map_arg=ev.KprobeBpfMap(
                            map_type="BPF_MAP_TYPE_HASH",
                            key_size=4,
                            value_size=8,
                            max_entries=1024,
                            map_name="pids",
                        )
                    ),
                ),
                f"🗺 bpf_map_create {SRC} BPF_MAP_TYPE_HASH pids key size 4 value size 8 max entries 1024",
            )
            for fn in ("security_bpf_map_alloc", "security_bpf_map_create")
        ],
        (
            kprobe("security_file_permission", file("/etc/shadow"), A(int_arg=2)),
            f"📝 write   {SRC} /etc/shadow",
        ),
        (
            kprobe("security_file_permission", file("/etc/shadow"), A(int_arg=4)),
            f"📚 read    {SRC} /etc/shadow",
        ),
        (
            kprobe("security_file_permission", file("/etc/shadow"), A(int_arg=0x10)),
            f"❓ security_file_permission {SRC} /etc/shadow",
        ),
        (kprobe("security_file_permission", file("/etc/shadow")), f"❓ security_file_permission {SRC} "),
        (
            kprobe("security_mmap_file", file("/lib/libc.so.6"), A(uint_arg=5)),
            f"📝 mmap-rx {SRC} /lib/libc.so.6",
        ),
        (
            kprobe("security_mmap_file", file("/lib/libc.so.6"), A(uint_arg=7)),
            f"📝 mmap-rwx {SRC} /lib/libc.so.6",
        ),
        (kprobe("security_mmap_file", file("/dev/zero"), A(uint_arg=0)), f"📝 mmap-   {SRC} /dev/zero"),
        (kprobe("security_mmap_file"), f"❓ security_mmap_file {SRC} "),
        (
            kprobe("security_path_truncate", A(path_arg=ev.KprobePath(path="/tmp/log"))),
            f"📝 truncate {SRC} /tmp/log",
        ),
        (kprobe("security_file_truncate", file("/tmp/log")), f"📝 truncate {SRC} /tmp/log"),
        (kprobe("security_path_truncate"), f"❓ security_path_truncate {SRC} "),
        (kprobe("security_file_truncate"), f"❓ security_file_truncate {SRC} "),
        # an unknown function keeps its prefix
        (kprobe("__x64_sys_unlinkat", A(int_arg=1)), f"❓ syscall {SRC} __x64_sys_unlinkat"),
    ],
)
def test_kprobe_golden_lines(event: ev.GetEventsResponse, expected: str) -> None:
    assert plain(event) == expected


def test_docs_sample_read_line() -> None:
    """docs (use-cases/filename-access): ``📚 read    default/file-access /bin/vi /etc/passwd``."""
    event = ev.GetEventsResponse(
        process_kprobe=ev.ProcessKprobe(
            process=ev.Process(binary="/bin/vi", pod=ev.Pod(namespace="default", name="file-access")),
            function_name="security_file_permission",
            args=[file("/etc/passwd"), A(int_arg=4)],
        )
    )
    assert plain(event) == "📚 read    default/file-access /bin/vi /etc/passwd"


@pytest.mark.parametrize(
    ("name", "cut"),
    [
        ("__x64_sys_write", "sys_write"),
        ("__arm64_sys_write", "sys_write"),
        ("__ia32_sys_write", "sys_write"),
        ("sys_write", "sys_write"),
        ("__x32_sys_write", "__x32_sys_write"),
        ("x__x64_sys_write", "x__x64_sys_write"),
    ],
)
def test_cut_syscall_prefix(name: str, cut: str) -> None:
    assert cut_syscall_prefix(name) == cut


def test_kprobe_colors_and_caps_trailer() -> None:
    event = kprobe("__x64_sys_write", file("/etc/password"), A(), A(size_arg="1234"))
    line = (
        f"{BLUE}📝 write  {RESET} {GREEN}kube-system/tetragon{RESET} {MAGENTA}/usr/bin/curl{RESET} "
        f"{CYAN}/etc/password{RESET} {CYAN}1234 bytes{RESET}"
    )
    trailer = f"{MAGENTA}{RESET}"
    assert (
        render_compact(event, color=True, timestamps=False)
        == f"{line} {trailer.rjust(120 - len(line.encode()))}"
    )
    # fallback: the function name is not painted
    line = f"{BLUE}❓ syscall{RESET} {GREEN}kube-system/tetragon{RESET} {MAGENTA}/usr/bin/curl{RESET} x"
    got = render_compact(kprobe("x"), color=True, timestamps=False)
    assert got == f"{line} {trailer.rjust(120 - len(line.encode()))}"
    # setns's namespace name is not painted either, sendmsg's byte count neither
    got = render_compact(kprobe("__x64_sys_setns", A(), A(int_arg=0x20000)), color=True, timestamps=False)
    assert got is not None and got.startswith(f"{BLUE}🔧 setns  {RESET} ") and f"{RESET} mnt " in got
    got = render_compact(kprobe("tcp_sendmsg", SOCK, A(int_arg=9)), color=True, timestamps=False)
    assert got is not None and f"{CYAN}tcp 10.244.0.12:41364 -> 104.198.14.52:443{RESET} bytes 9 " in got
    # the caps trailer, without colour
    line = f"📪 close   {SRC} /etc/password"
    got = plain(kprobe("__x64_sys_close", file("/etc/password"), caps=22))
    assert got == f"{line} {'🛑 CAP_SYS_ADMIN'.rjust(120 - len(line.encode()))}"


def test_kprobe_with_timestamp() -> None:
    got = render_compact(kprobe_write(), color=False, timestamps=True)
    assert got == (
        "2024-05-06T07:08:09.123456789Z 📝 write   default/file-access /usr/bin/cat /tmp/out.txt 6 bytes"
    )


# --- tracepoints ----------------------------------------------------------------------------------


@pytest.fixture
def x86_64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compact_kprobe, "_DEFAULT_ABI", "x64")


CAT = f"{NODE} /usr/bin/cat"
CGROUP = "/sys/fs/cgroup/kubepods.slice/kubepods-pod1234.slice/cri-containerd-7a1c.scope"


@pytest.mark.usefixtures("x86_64")
@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (tracepoint_raw_syscall(1), f"☎  syscall {CAT} write"),
        (tracepoint_raw_syscall(59), f"☎  syscall {CAT} execve"),
        (tracepoint_raw_syscall(435), f"☎  syscall {CAT} clone3"),
        (tracepoint_raw_syscall(462), f"☎  syscall {CAT} mseal"),
        (tracepoint_raw_syscall(59, syscall_id=True), f"☎  syscall {CAT} execve"),
        (tracepoint_raw_syscall(11, syscall_id=True, abi="i386"), f"☎  syscall {CAT} i386/execve"),
        (tracepoint_raw_syscall(221, syscall_id=True, abi="arm64"), f"☎  syscall {CAT} arm64/execve"),
        (tracepoint_raw_syscall(11, syscall_id=True, abi="arm32"), f"☎  syscall {CAT} unknown"),
        (tracepoint_raw_syscall(336), f"☎  syscall {CAT} unknown"),  # a gap in the x64 table
        (tracepoint_raw_syscall(100000), f"☎  syscall {CAT} unknown"),
        (tracepoint_raw_syscall(-1), f"☎  syscall {CAT} unknown"),
        (tracepoint_openat(), f"⁉️ tracepoint {CAT} syscalls sys_enter_openat"),
    ],
)
def test_tracepoint_golden_lines(event: ev.GetEventsResponse, expected: str) -> None:
    assert plain(event) == expected


def test_raw_syscall_argument_shapes(x86_64: None) -> None:
    event = tracepoint_raw_syscall(1)
    assert event.process_tracepoint is not None
    event.process_tracepoint.args = []
    assert plain(event) == f"☎  syscall {CAT} unknown"
    event.process_tracepoint.args = [A(int_arg=1)]  # upstream takes a long or a syscall_id only
    assert plain(event) == f"☎  syscall {CAT} unknown"


def test_raw_syscall_on_an_arch_without_default_abi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compact_kprobe, "_DEFAULT_ABI", "")
    assert plain(tracepoint_raw_syscall(1, syscall_id=True)) == f"☎  syscall {CAT} unknown"


def test_raw_syscall_on_arm64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compact_kprobe, "_DEFAULT_ABI", "arm64")
    assert plain(tracepoint_raw_syscall(64)) == f"☎  syscall {CAT} write"
    assert plain(tracepoint_raw_syscall(1, syscall_id=True)) == f"☎  syscall {CAT} x64/write"


def test_tracepoint_colors(x86_64: None) -> None:
    trailer = f"{MAGENTA}{RESET}"
    info = f"{GREEN}{NODE}{RESET} {MAGENTA}/usr/bin/cat{RESET}"
    line = f"{BLUE}☎  syscall{RESET} {info} write"
    got = render_compact(tracepoint_raw_syscall(1), color=True, timestamps=False)
    assert got == f"{line} {trailer.rjust(120 - len(line.encode()))}"
    line = f"{BLUE}⁉️ tracepoint{RESET} {info} syscalls sys_enter_openat"
    got = render_compact(tracepoint_openat(), color=True, timestamps=False)
    assert got == f"{line} {trailer.rjust(120 - len(line.encode()))}"


# --- uprobe, LSM, USDT, loader, throttle ----------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (uprobe_readline(), f"🕵️ uprobe  {NODE} /bin/bash /usr/bin/bash readline"),
        (lsm_file_open(), "🔒 LSM     default/file-access /usr/bin/cat file_open"),
        (usdt_python(), f"🕵️ usdt    {NODE} /usr/bin/python3.12 /usr/bin/python3.12 python function__entry"),
        (
            loader_libc(),
            f"🧬 loader  {CAT} 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567 /usr/lib/x86_64-linux-gnu/libc.so.6",
        ),
        (
            throttle(),
            f"🧬 throttle START {CGROUP}",
        ),
        (
            throttle("THROTTLE_STOP"),
            f"🧬 throttle STOP  {CGROUP}",
        ),
        (ev.GetEventsResponse(process_throttle=ev.ProcessThrottle(cgroup="/x")), "🧬 throttle  /x"),
    ],
)
def test_other_golden_lines(event: ev.GetEventsResponse, expected: str) -> None:
    assert plain(event) == expected


def test_loader_without_build_id() -> None:
    event = loader_libc()
    assert event.process_loader is not None
    event.process_loader.buildid = b""
    assert plain(event) == f"🧬 loader  {CAT} /usr/lib/x86_64-linux-gnu/libc.so.6"


def test_other_colors() -> None:
    trailer = f"{MAGENTA}{RESET}"
    cat = f"{GREEN}{NODE}{RESET} {MAGENTA}/usr/bin/cat{RESET}"
    line = (
        f"{BLUE}🧬 loader {RESET} {cat} 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567 "
        f"{YELLOW}/usr/lib/x86_64-linux-gnu/libc.so.6{RESET}"
    )
    assert render_compact(loader_libc(), color=True, timestamps=False) == (
        f"{line} {trailer.rjust(120 - len(line.encode()))}"
    )
    line = f"{BLUE}🔒 LSM    {RESET} {GREEN}default/file-access{RESET} {MAGENTA}/usr/bin/cat{RESET} file_open"
    assert render_compact(lsm_file_open(), color=True, timestamps=False) == (
        f"{line} {trailer.rjust(120 - len(line.encode()))}"
    )
    line = f"{BLUE}🕵️ uprobe {RESET} {GREEN}{NODE}{RESET} {MAGENTA}/bin/bash{RESET} /usr/bin/bash readline"
    assert render_compact(uprobe_readline(), color=True, timestamps=False) == (
        f"{line} {trailer.rjust(120 - len(line.encode()))}"
    )
    # throttle has no process, so no trailer; STOP keeps its padding space inside the colour
    cgroup = CGROUP
    assert render_compact(throttle(), color=True, timestamps=False) == (
        f"{RED}🧬 throttle{RESET} {RED}START{RESET} {cgroup}"
    )
    assert render_compact(throttle("THROTTLE_STOP"), color=True, timestamps=True) == (
        f"2024-05-06T07:08:09.123456789Z {RED}🧬 throttle{RESET} {GREEN}STOP {RESET} {cgroup}"
    )


# --- stack traces and IMA hashes ------------------------------------------------------------------

WRITE_LINE = "📝 write   default/file-access /usr/bin/cat /tmp/out.txt 6 bytes"
STACK = [
    "Kernel:",
    "   0xffffffffb2d3c410: ksys_write+0x10",
    "   0xffffffffb2d3c500: __x64_sys_write+0x0",
    "User:",
    "   0x7ffff7fe0000: __GI___libc_write (/usr/lib/libc.so.6+0x4d2)",
    "   0x555555555000: (/usr/bin/cat+0x1000)",
]


def test_stack_traces() -> None:
    event = kprobe_write()
    assert plain(event) == WRITE_LINE  # off by default
    got = render_compact(event, color=False, timestamps=False, stack_traces=True)
    assert got == "\n".join([WRITE_LINE, *STACK])
    # only kernel frames
    assert event.process_kprobe is not None
    event.process_kprobe.user_stack_trace = []
    got = render_compact(event, color=False, timestamps=False, stack_traces=True)
    assert got == "\n".join([WRITE_LINE, *STACK[:3]])
    # ima_hash alone adds nothing to a kprobe
    assert render_compact(kprobe_write(), color=False, timestamps=False, ima_hash=True) == WRITE_LINE


def test_stack_traces_in_color() -> None:
    got = render_compact(kprobe_write(), color=True, timestamps=False, stack_traces=True)
    assert got is not None
    lines = got.split("\n")
    assert lines[1:] == [
        "Kernel:",
        f"{GREEN}   0xffffffffb2d3c410:{RESET}{BLUE} ksys_write{RESET}+{YELLOW}0x10{RESET}",
        f"{GREEN}   0xffffffffb2d3c500:{RESET}{BLUE} __x64_sys_write{RESET}+{YELLOW}0x0{RESET}",
        "User:",
        f"{GREEN}   0x7ffff7fe0000:{RESET}{BLUE} __GI___libc_write{RESET}"
        f"{YELLOW} (/usr/lib/libc.so.6+0x4d2){RESET}",
        f"{GREEN}   0x555555555000:{RESET}{YELLOW} (/usr/bin/cat+0x1000){RESET}",
    ]


HASH = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
LSM_LINE = "🔒 LSM     default/file-access /usr/bin/cat file_open"


def test_ima_hash_lines() -> None:
    event = lsm_file_open()
    assert plain(event) == LSM_LINE
    assert (
        render_compact(event, color=False, timestamps=False, ima_hash=True)
        == f"{LSM_LINE}\n   /etc/passwd {HASH}"
    )
    colored = render_compact(event, color=True, timestamps=False, ima_hash=True)
    assert (
        colored is not None and colored.split("\n")[1] == f"{GREEN}   /etc/passwd{RESET}{BLUE} {HASH}{RESET}"
    )
    # bprm hooks take the path of the linux_binprm argument
    assert event.process_lsm is not None
    event.process_lsm.function_name = "bprm_check_security"
    event.process_lsm.args = [A(linux_binprm_arg=ev.KprobeLinuxBinprm(path="/usr/bin/sudo"))]
    got = render_compact(event, color=False, timestamps=False, ima_hash=True)
    assert got == f"🔒 LSM     default/file-access /usr/bin/cat bprm_check_security\n   /usr/bin/sudo {HASH}"
    # other hooks, a missing path, or no hash: no extra line
    for hook, args in [("inode_permission", [file("/etc/passwd")]), ("file_open", []), ("file_open", [A()])]:
        event.process_lsm.function_name, event.process_lsm.args = hook, args
        got = render_compact(event, color=False, timestamps=False, ima_hash=True)
        assert got == f"🔒 LSM     default/file-access /usr/bin/cat {hook}"
    no_hash = lsm_file_open()
    assert no_hash.process_lsm is not None
    no_hash.process_lsm.ima_hash = ""
    assert render_compact(no_hash, color=False, timestamps=False, ima_hash=True) == LSM_LINE


# --- events without a process ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        ev.GetEventsResponse(process_kprobe=ev.ProcessKprobe(function_name="unhandled_function")),
        ev.GetEventsResponse(
            process_tracepoint=ev.ProcessTracepoint(subsys="raw_syscalls", event="sys_enter")
        ),
        ev.GetEventsResponse(process_uprobe=ev.ProcessUprobe(path="/bin/bash", symbol="readline")),
        ev.GetEventsResponse(process_lsm=ev.ProcessLsm(function_name="file_open")),
        ev.GetEventsResponse(process_usdt=ev.ProcessUsdt(provider="python")),
        ev.GetEventsResponse(process_loader=ev.ProcessLoader(path="/lib/libc.so.6")),
    ],
)
def test_missing_process_renders_nothing(event: ev.GetEventsResponse) -> None:
    for color in (False, True):
        assert render_compact(event, color=color, timestamps=True, stack_traces=True, ima_hash=True) is None


# --- the syscall tables ---------------------------------------------------------------------------


def test_syscall_tables() -> None:
    x64, i386, arm64 = (SYSCALL_NAMES[abi] for abi in ("x64", "i386", "arm64"))
    assert (x64[0], x64[1], x64[59], x64[257], x64[334], x64[335], x64[424]) == (
        "read",
        "write",
        "execve",
        "openat",
        "rseq",
        "",
        "pidfd_send_signal",
    )
    assert (i386[0], i386[11], i386[295], i386[383]) == ("restart_syscall", "execve", "openat", "statx")
    assert (arm64[56], arm64[63], arm64[64], arm64[79], arm64[221]) == (
        "openat",
        "read",
        "write",
        "newfstatat",
        "execve",
    )
    for table in (x64, i386, arm64):
        assert table[435] == "clone3" and table[462] == "mseal"
        named = [n for n in table if n]
        assert len(named) == len(set(named)), "a name twice"


_HEADERS = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")


def test_syscall_table_module_is_generated() -> None:
    path = Path(__file__).resolve().parents[2] / "tools" / "gen_syscall_names.py"
    spec = importlib.util.spec_from_file_location("_tetragon_tools_gen_syscall_names", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = Path(_syscall_names.__file__).read_text()
    assert module.render() == generated, "run tools/gen_syscall_names.py"
