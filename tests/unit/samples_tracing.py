"""Realistic tracing-sensor events (kprobe, tracepoint, uprobe, LSM, USDT, loader, throttle).

Shared by ``test_protojson_golden``, ``test_api_convert``, ``test_filters`` and the compact
renderings. Plain builders: every call returns fresh Structs.
"""

from __future__ import annotations

from tests.unit.samples import NODE, PARENT_EXEC_ID, host_namespaces, kernel_parent, root_credentials
from tetragon_core import events as ev

TIME = "2024-05-06T07:08:09.123456789Z"
POD_EXEC_ID = "a2luZC1jb250cm9sLXBsYW5lOjE5ODc2NTQzMjEwOjQyNDI="


def cat_process(*, pod: bool = False) -> ev.Process:
    """``cat /etc/passwd`` run from a shell; in the ``default/file-access`` pod with ``pod``."""
    return ev.Process(
        exec_id=POD_EXEC_ID,
        pid=4242,
        uid=1000,
        cwd="/home/user",
        binary="/usr/bin/cat",
        arguments="/etc/passwd",
        flags="execve clone",
        start_time="2024-05-06T07:08:09.100Z",
        auid=1000,
        pod=ev.Pod(namespace="default", name="file-access", container=ev.Container(id="cri-o://7a1c"))
        if pod
        else None,
        parent_exec_id=PARENT_EXEC_ID,
        refcnt=1,
        tid=4242,
        in_init_tree=False,
    )


def bash_parent() -> ev.Process:
    return ev.Process(exec_id=PARENT_EXEC_ID, pid=4200, uid=1000, binary="/bin/bash", tid=4200)


def _response(**event: object) -> ev.GetEventsResponse:
    return ev.GetEventsResponse(**event, node_name=NODE, time=TIME)


def kprobe_write() -> ev.GetEventsResponse:
    """``__x64_sys_write`` of 6 bytes to a file: file, bytes and size args, return, stack traces."""
    return _response(
        process_kprobe=ev.ProcessKprobe(
            process=cat_process(pod=True),
            parent=bash_parent(),
            function_name="__x64_sys_write",
            args=[
                ev.KprobeArgument(
                    file_arg=ev.KprobeFile(path="/tmp/out.txt", flags="O_WRONLY", permission="-rw-r--r--")
                ),
                ev.KprobeArgument(bytes_arg=b"hello\n\xff\x00", label="buf"),
                ev.KprobeArgument(size_arg="6"),
            ],
            return_=ev.KprobeArgument(int_arg=6),
            action="KPROBE_ACTION_POST",
            kernel_stack_trace=[
                ev.StackTraceEntry(address="18446744072414807056", offset="16", symbol="ksys_write"),
                ev.StackTraceEntry(address="18446744072414807296", offset="0", symbol="__x64_sys_write"),
            ],
            policy_name="file-write",
            return_action="KPROBE_ACTION_POST",
            message="write to a watched file",
            tags=["observability.filesystem", "demo"],
            user_stack_trace=[
                ev.StackTraceEntry(
                    address="140737354006528",
                    offset="1234",
                    symbol="__GI___libc_write",
                    module="/usr/lib/libc.so.6",
                ),
                ev.StackTraceEntry(address="93824992235520", offset="4096", module="/usr/bin/cat"),
            ],
            ancestors=[bash_parent()],
        )
    )


def kprobe_tcp_connect() -> ev.GetEventsResponse:
    """``tcp_connect`` on a socket: a sock arg with a 64-bit cookie."""
    return _response(
        process_kprobe=ev.ProcessKprobe(
            process=ev.Process(
                exec_id=POD_EXEC_ID, pid=777, uid=0, binary="/usr/bin/curl", arguments="cilium.io"
            ),
            parent=bash_parent(),
            function_name="tcp_connect",
            args=[
                ev.KprobeArgument(
                    sock_arg=ev.KprobeSock(
                        family="AF_INET",
                        type="SOCK_STREAM",
                        protocol="IPPROTO_TCP",
                        mark=0,
                        priority=0,
                        saddr="10.244.0.12",
                        daddr="104.198.14.52",
                        sport=41364,
                        dport=443,
                        cookie="18446619620371529472",
                        state="TCP_SYN_SENT",
                    )
                )
            ],
            action="KPROBE_ACTION_POST",
            policy_name="connect",
        )
    )


def kprobe_every_argument() -> ev.GetEventsResponse:
    """One kprobe with every ``KprobeArgument`` variant, most at or near their zero values."""
    args = [
        ev.KprobeArgument(string_arg=""),  # set, empty: protojson writes ""
        ev.KprobeArgument(int_arg=0),
        ev.KprobeArgument(
            skb_arg=ev.KprobeSkb(
                hash=3735928559,
                len=60,
                saddr="10.0.0.1",
                daddr="10.0.0.2",
                sport=53,
                dport=40000,
                proto=17,
                protocol="IPPROTO_UDP",
                family="AF_INET",
            )
        ),
        ev.KprobeArgument(size_arg="18446744073709551615"),
        ev.KprobeArgument(bytes_arg=b""),
        ev.KprobeArgument(path_arg=ev.KprobePath(mount="/", path="/etc/shadow", permission="-rw-r-----")),
        ev.KprobeArgument(file_arg=ev.KprobeFile()),
        ev.KprobeArgument(
            truncated_bytes_arg=ev.KprobeTruncatedBytes(bytes_arg=b"\x7fELF\x02\x01", orig_size="4096")
        ),
        ev.KprobeArgument(sock_arg=ev.KprobeSock(family="AF_INET6", saddr="::1", daddr="::1")),
        ev.KprobeArgument(
            cred_arg=ev.KprobeCred(permitted=["CAP_SYS_ADMIN", "CAP_BPF"], effective=["CAP_BPF"])
        ),
        ev.KprobeArgument(long_arg="-9223372036854775808"),
        ev.KprobeArgument(
            bpf_attr_arg=ev.KprobeBpfAttr(prog_type="BPF_PROG_TYPE_KPROBE", insn_cnt=212, prog_name="probe")
        ),
        ev.KprobeArgument(
            perf_event_arg=ev.KprobePerfEvent(
                kprobe_func="do_sys_open", type="PERF_TYPE_TRACEPOINT", config="4294967296", probe_offset="0"
            )
        ),
        ev.KprobeArgument(
            bpf_map_arg=ev.KprobeBpfMap(
                map_type="BPF_MAP_TYPE_HASH", key_size=4, value_size=8, max_entries=1024, map_name="pids"
            )
        ),
        ev.KprobeArgument(uint_arg=0),
        ev.KprobeArgument(
            user_namespace_arg=ev.KprobeUserNamespace(
                level=0, owner=0, group=0, ns=ev.Namespace(inum=4026531837, is_host=True)
            )
        ),
        ev.KprobeArgument(capability_arg=ev.KprobeCapability(value=0, name="CAP_CHOWN")),
        ev.KprobeArgument(process_credentials_arg=root_credentials()),
        ev.KprobeArgument(
            user_ns_arg=ev.UserNamespace(level=1, uid=1000, gid=1000, ns=ev.Namespace(inum=4026532500))
        ),
        ev.KprobeArgument(
            module_arg=ev.KernelModule(
                name="nf_tables",
                signature_ok=False,
                tainted=["TAINT_OUT_OF_TREE_MODULE", "TAINT_UNSIGNED_MODULE"],
            )
        ),
        ev.KprobeArgument(kernel_cap_t_arg="CAP_CHOWN DAC_OVERRIDE"),
        ev.KprobeArgument(cap_inheritable_arg=""),
        ev.KprobeArgument(cap_permitted_arg="CAP_SYS_ADMIN"),
        ev.KprobeArgument(cap_effective_arg="CAP_SYS_ADMIN"),
        ev.KprobeArgument(
            linux_binprm_arg=ev.KprobeLinuxBinprm(path="/usr/bin/sudo", permission="-rwsr-xr-x")
        ),
        ev.KprobeArgument(net_dev_arg=ev.KprobeNetDev(name="eth0")),
        ev.KprobeArgument(bpf_cmd_arg="BPF_MAP_CREATE"),  # the enum's zero, set: written
        ev.KprobeArgument(syscall_id=ev.SyscallId(id=59, abi="x64")),
        ev.KprobeArgument(sockaddr_arg=ev.KprobeSockaddr(family="AF_INET", addr="0.0.0.0", port=8080)),
        ev.KprobeArgument(bpf_prog_arg=ev.KprobeBpfProg(prog_type="BPF_PROG_TYPE_XDP", prog_name="xdp_drop")),
        ev.KprobeArgument(error_arg=ev.KprobeError(message="Bad address for basic type")),
        ev.KprobeArgument(sockaddrun_arg=ev.KprobeSockaddrUn(family="AF_UNIX", path="/run/containerd.sock")),
        ev.KprobeArgument(label="empty"),  # no member of the oneof set
    ]
    return _response(
        process_kprobe=ev.ProcessKprobe(
            process=cat_process(),
            function_name="security_bprm_check",
            args=args,
            return_=ev.KprobeArgument(int_arg=-1, label="ret"),
            action="KPROBE_ACTION_SIGKILL",
            return_action="KPROBE_ACTION_OVERRIDE",
            data=[ev.KprobeArgument(string_arg="/usr/bin/sudo")],
        )
    )


def tracepoint_openat() -> ev.GetEventsResponse:
    """``syscalls/sys_enter_openat`` with int, string and size args."""
    return _response(
        process_tracepoint=ev.ProcessTracepoint(
            process=cat_process(),
            parent=bash_parent(),
            subsys="syscalls",
            event="sys_enter_openat",
            args=[
                ev.KprobeArgument(int_arg=-100),
                ev.KprobeArgument(string_arg="/etc/passwd"),
                ev.KprobeArgument(size_arg="524288"),
            ],
            policy_name="sys-openat",
            action="KPROBE_ACTION_POST",
            tags=["observability.filesystem"],
            ancestors=[bash_parent(), kernel_parent(full=False)],
        )
    )


def tracepoint_raw_syscall(
    sysno: int = 1, *, syscall_id: bool = False, abi: str = "x64"
) -> ev.GetEventsResponse:
    """``raw_syscalls/sys_enter``: the syscall number as a long arg (or a syscall_id), then args."""
    first = (
        ev.KprobeArgument(syscall_id=ev.SyscallId(id=sysno, abi=abi))
        if syscall_id
        else ev.KprobeArgument(long_arg=str(sysno))
    )
    return _response(
        process_tracepoint=ev.ProcessTracepoint(
            process=cat_process(),
            subsys="raw_syscalls",
            event="sys_enter",
            args=[first, ev.KprobeArgument(size_arg="1")],
            policy_name="raw-syscalls",
            action="KPROBE_ACTION_POST",
        )
    )


def lsm_file_open() -> ev.GetEventsResponse:
    """LSM ``file_open`` with a file arg and an IMA hash."""
    return _response(
        process_lsm=ev.ProcessLsm(
            process=cat_process(pod=True),
            parent=bash_parent(),
            function_name="file_open",
            policy_name="lsm-file-open",
            args=[ev.KprobeArgument(file_arg=ev.KprobeFile(path="/etc/passwd", permission="-rw-r--r--"))],
            action="KPROBE_ACTION_POST",
            ancestors=[bash_parent()],
            ima_hash="sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )
    )


def uprobe_readline() -> ev.GetEventsResponse:
    """A uprobe on bash's ``readline``, with offsets and a string arg."""
    return _response(
        process_uprobe=ev.ProcessUprobe(
            process=bash_parent(),
            parent=kernel_parent(full=False),
            path="/usr/bin/bash",
            symbol="readline",
            policy_name="bash-readline",
            message="readline called",
            args=[ev.KprobeArgument(string_arg="$ ")],
            tags=["shell"],
            offset="871520",
            ref_ctr_offset="0",
            action="KPROBE_ACTION_POST",
            data=[ev.KprobeArgument(uint_arg=3)],
        )
    )


def usdt_python() -> ev.GetEventsResponse:
    """A USDT probe ``python:function__entry`` in CPython."""
    return _response(
        process_usdt=ev.ProcessUsdt(
            process=ev.Process(exec_id=POD_EXEC_ID, pid=999, uid=1000, binary="/usr/bin/python3.12"),
            parent=bash_parent(),
            path="/usr/bin/python3.12",
            provider="python",
            name="function__entry",
            policy_name="py-calls",
            args=[
                ev.KprobeArgument(string_arg="app.py"),
                ev.KprobeArgument(string_arg="main"),
                ev.KprobeArgument(int_arg=12),
            ],
            tags=["python"],
            action="KPROBE_ACTION_POST",
        )
    )


BUILD_ID = bytes.fromhex("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567")


def loader_libc() -> ev.GetEventsResponse:
    """An executable mmap of libc, with its 20-byte build id."""
    return _response(
        process_loader=ev.ProcessLoader(
            process=cat_process(),
            path="/usr/lib/x86_64-linux-gnu/libc.so.6",
            buildid=BUILD_ID,
            parent=bash_parent(),
        )
    )


def throttle(kind: str = "THROTTLE_START") -> ev.GetEventsResponse:
    return _response(
        process_throttle=ev.ProcessThrottle(
            type=kind, cgroup="/sys/fs/cgroup/kubepods.slice/kubepods-pod1234.slice/cri-containerd-7a1c.scope"
        )
    )


def kprobe_with_host_namespaces() -> ev.GetEventsResponse:
    """A kprobe whose process carries namespaces and credentials (the memoized sub-messages)."""
    event = kprobe_tcp_connect()
    assert event.process_kprobe is not None and event.process_kprobe.process is not None
    event.process_kprobe.process.ns = host_namespaces()
    event.process_kprobe.process.process_credentials = root_credentials()
    return event


CASES = {
    "kprobe_write": kprobe_write,
    "kprobe_tcp_connect": kprobe_tcp_connect,
    "kprobe_every_argument": kprobe_every_argument,
    "kprobe_with_host_namespaces": kprobe_with_host_namespaces,
    "tracepoint_openat": tracepoint_openat,
    "tracepoint_raw_syscall": tracepoint_raw_syscall,
    "lsm_file_open": lsm_file_open,
    "uprobe_readline": uprobe_readline,
    "usdt_python": usdt_python,
    "loader_libc": loader_libc,
    "throttle_start": throttle,
    "throttle_stop": lambda: throttle("THROTTLE_STOP"),
}
