"""Realistic ``tetragon_core.events`` samples, shared by ``test_api_convert`` and ``test_protojson_golden``.

Plain builders: every call returns fresh Structs, so a test may change what it gets. Where the two
test modules want slightly different events, each variant has its own function.
"""

from __future__ import annotations

import msgspec

from tetragon_core import events as ev

NODE = "gke-john-632-default-pool-7041cac0-9s95"
EXEC_ID = "Z2tlLWpvaG4tNjMyLWRlZmF1bHQtcG9vbC03MDQxY2FjMC05czk1OjEzNTQ4Njc0MzIxMzczOjUyNjk5"
PARENT_EXEC_ID = "Z2tlLWpvaG4tNjMyLWRlZmF1bHQtcG9vbC03MDQxY2FjMC05czk1OjEzNTQ4NjcwOTg2OTQ4OjUyNjgz"
CAPS = [
    "CAP_CHOWN",
    "DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_ADMIN",
    "CAP_SYS_ADMIN",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]
_NS_INUMS = {
    "uts": 4026531838,
    "ipc": 4026531839,
    "mnt": 4026531841,
    "pid": 4026531836,
    "pid_for_children": 4026531836,
    "net": 4026531840,
    "time": 4026531834,
    "time_for_children": 4026531834,
    "cgroup": 4026531835,
    "user": 4026531837,
}


def host_namespaces() -> ev.Namespaces:
    """All ten namespaces of the host, each with its inode number and ``is_host``."""
    return ev.Namespaces(**{k: ev.Namespace(inum=v, is_host=True) for k, v in _NS_INUMS.items()})


def root_credentials() -> ev.ProcessCredentials:
    """Root: ids all 0, three securebits, every one of ``CAPS`` permitted and effective, host user ns."""
    return ev.ProcessCredentials(
        uid=0,
        gid=0,
        euid=0,
        egid=0,
        suid=0,
        sgid=0,
        fsuid=0,
        fsgid=0,
        securebits=["SecBitNoRoot", "SecBitNoRootLocked", "SecBitKeepCaps"],
        caps=ev.Capabilities(permitted=CAPS, effective=CAPS, inheritable=[]),
        user_ns=ev.UserNamespace(level=0, uid=0, gid=0, ns=ev.Namespace(inum=4026531837, is_host=True)),
    )


def sudo_process(*, full: bool) -> ev.Process:
    """A setuid-root exec on the host; ``full`` adds cap, ns, credentials and binary properties."""
    p = ev.Process(
        exec_id=EXEC_ID,
        pid=52699,
        uid=0,
        cwd="/home/user",
        binary="/usr/bin/sudo",
        arguments="cat /etc/shadow",
        flags="execve clone",
        start_time="2023-09-09T23:27:42.751301124Z",
        auid=4294967295,
        parent_exec_id=PARENT_EXEC_ID,
        refcnt=1,
        tid=52699,
        user=ev.UserRecord(name="root"),
        in_init_tree=False,
        environment_variables=[
            ev.EnvVar(key="PATH", value="/usr/sbin:/usr/bin"),
            ev.EnvVar(key="LANG", value=""),
        ],
    )
    if full:
        p.cap = ev.Capabilities(permitted=CAPS, effective=["CAP_SETUID", "CAP_SETGID"])
        p.ns = host_namespaces()
        p.process_credentials = root_credentials()
        p.binary_properties = ev.BinaryProperties(
            setuid=0,
            privileges_changed=["PRIVILEGES_RAISED_EXEC_FILE_SETUID"],
            file=ev.FileProperties(
                inode=ev.InodeProperties(number=str(2**32 + 40_000_123), links=1),
                path="/usr/bin/sudo",
            ),
        )
    return p


def kernel_parent(*, full: bool) -> ev.Process:
    """pid 0 and auid 0: wrappers present at zero; in_init_tree True; ``full`` adds cap, ns, credentials."""
    p = ev.Process(
        exec_id=PARENT_EXEC_ID,
        pid=0,
        uid=0,
        cwd="/",
        binary="<kernel>",
        flags="procFS auid rootcwd",
        start_time="2023-09-09T23:00:00Z",
        auid=0,
        refcnt=3,
        tid=0,
        in_init_tree=True,
    )
    if full:
        p.cap = ev.Capabilities(permitted=CAPS, effective=CAPS, inheritable=CAPS[:2])
        p.ns = host_namespaces()
        p.process_credentials = root_credentials()
    return p


def exec_with_parent(full: bool = True) -> ev.GetEventsResponse:
    """``sudo_process`` exec'd under ``kernel_parent``, both ``full`` or both lean; no ancestors."""
    return ev.GetEventsResponse(
        process_exec=ev.ProcessExec(process=sudo_process(full=full), parent=kernel_parent(full=full)),
        node_name=NODE,
        time="2023-09-09T23:27:42.751301124Z",
    )


def exec_with_ancestors() -> ev.GetEventsResponse:
    """``exec_with_parent()`` with two ancestors: a lean and a full ``kernel_parent``."""
    event = exec_with_parent()
    assert event.process_exec is not None
    event.process_exec.ancestors = [kernel_parent(full=False), kernel_parent(full=True)]
    return event


def exec_on_host() -> ev.GetEventsResponse:
    """A setuid-root exec on the host, with a pid-0 (kernel) parent and full credentials.

    Unlike ``exec_with_parent()``: the process runs in ``/`` (flag ``rootcwd``) and is in the init
    tree; the parent is not, has flags ``procFS`` and only ``ns`` of the full extras, and is also the
    one ancestor. Process and parent share one ``Namespaces``.
    """
    ns = host_namespaces()
    process = msgspec.structs.replace(
        sudo_process(full=True), cwd="/", flags="execve rootcwd clone", ns=ns, in_init_tree=True
    )
    parent = msgspec.structs.replace(kernel_parent(full=False), flags="procFS", ns=ns, in_init_tree=False)
    return ev.GetEventsResponse(
        process_exec=ev.ProcessExec(process=process, parent=parent, ancestors=[parent]),
        node_name=NODE,
        time="2023-09-09T23:27:42.751301124Z",
    )


def _exec_in_pod(
    *,
    container_start_time: str,
    maybe_exec_probe: bool,
    pod_annotations: dict[str, str],
    user: ev.UserRecord | None,
) -> ev.GetEventsResponse:
    process = ev.Process(
        exec_id=EXEC_ID,
        pid=1,
        uid=1000,
        cwd="/app",
        binary="/usr/local/bin/python3",
        arguments="-m http.server 8080",
        flags="execve clone",
        start_time="2024-01-02T03:04:05.123Z",
        auid=4294967295,
        pod=ev.Pod(
            namespace="default",
            name="web-7d9c6f8b5-x2x4z",
            uid="a3c9ab0e-6f5b-4c1e-9c5a-0e1f6b1c2d3e",
            container=ev.Container(
                id="containerd://4b0d2c1d9e8f",
                name="web",
                image=ev.Image(id="docker.io/library/python@sha256:0123abcd", name="python:3.12"),
                start_time=container_start_time,
                pid=1,
                maybe_exec_probe=maybe_exec_probe,
            ),
            pod_labels={"app": "web", "pod-template-hash": "7d9c6f8b5"},
            workload="web",
            workload_kind="Deployment",
            pod_annotations=pod_annotations,
        ),
        docker="4b0d2c1d9e8f",
        parent_exec_id=PARENT_EXEC_ID,
        cap=ev.Capabilities(),  # present but empty: protojson writes {}
        ns=ev.Namespaces(uts=ev.Namespace(inum=4026532449), pid=ev.Namespace(inum=4026532452)),
        tid=1,
        process_credentials=ev.ProcessCredentials(
            uid=1000, gid=1000, euid=1000, egid=1000, suid=1000, sgid=1000, fsuid=1000, fsgid=1000
        ),
        binary_properties=ev.BinaryProperties(file=ev.FileProperties(inode=ev.InodeProperties())),
        user=user,
        in_init_tree=False,
    )
    return ev.GetEventsResponse(
        process_exec=ev.ProcessExec(process=process),
        node_name=NODE,
        time="2024-01-02T03:04:05.123456Z",
        cluster_name="prod-eu",
        node_labels={"kubernetes.io/hostname": NODE, "topology.kubernetes.io/zone": "europe-west1-b"},
    )


def exec_in_pod() -> ev.GetEventsResponse:
    """A container exec: pod with labels and an annotation, a container start time with microseconds,
    a possible exec probe, cluster fields, and empty-but-present sub-messages (cap, user, inode)."""
    return _exec_in_pod(
        container_start_time="2024-01-02T03:04:00.000001Z",
        maybe_exec_probe=True,
        pod_annotations={"kubectl.kubernetes.io/default-container": "web"},
        user=ev.UserRecord(),
    )


def exec_in_pod_plain() -> ev.GetEventsResponse:
    """``exec_in_pod()`` without pod annotations or user record, the container started on a whole
    second and not an exec probe: empty-but-present cap and inode, cluster fields."""
    return _exec_in_pod(
        container_start_time="2024-01-02T03:04:00Z", maybe_exec_probe=False, pod_annotations={}, user=None
    )


def _killed(process: ev.Process) -> ev.GetEventsResponse:
    """``process`` exits on SIGKILL (at 1 ns past the second), its parent a bash."""
    return ev.GetEventsResponse(
        process_exit=ev.ProcessExit(
            process=process,
            parent=ev.Process(exec_id=PARENT_EXEC_ID, pid=52683, uid=0, binary="/bin/bash", tid=52683),
            signal="SIGKILL",
            time="2023-09-09T23:28:01.000000001Z",
        ),
        node_name=NODE,
        time="2023-09-09T23:28:01.000000001Z",
    )


def exit_signal() -> ev.GetEventsResponse:
    """The lean ``sudo_process`` killed by SIGKILL."""
    return _killed(sudo_process(full=False))


def exit_signal_sleep() -> ev.GetEventsResponse:
    """A ``sleep 1000`` (no cwd, start time or parent exec id) killed by SIGKILL."""
    return _killed(
        ev.Process(
            exec_id=EXEC_ID,
            pid=52699,
            uid=0,
            binary="/usr/bin/sleep",
            arguments="1000",
            flags="execve clone",
            auid=4294967295,
            tid=52699,
        )
    )


def exit_status() -> ev.GetEventsResponse:
    """``/usr/bin/false`` exits with status 3; one ancestor (init)."""
    return ev.GetEventsResponse(
        process_exit=ev.ProcessExit(
            process=ev.Process(exec_id=EXEC_ID, pid=4242, uid=1000, binary="/usr/bin/false", tid=4242),
            status=3,
            time="2023-09-09T23:28:02Z",
            ancestors=[ev.Process(exec_id=PARENT_EXEC_ID, pid=1, uid=0, binary="/sbin/init")],
        ),
        node_name=NODE,
        time="2023-09-09T23:28:02.500Z",
    )


def rate_limit_info() -> ev.GetEventsResponse:
    """Dropped events at the uint64 maximum (a 64-bit int: a string in protojson)."""
    return ev.GetEventsResponse(
        rate_limit_info=ev.RateLimitInfo(number_of_dropped_process_events="18446744073709551615"),
        node_name=NODE,
        time="2023-09-09T23:29:00Z",
    )


def rate_limit_info_zero() -> ev.GetEventsResponse:
    """Zero drops: the event key stays, its body is {} (uint64 "0" is the zero value)."""
    return ev.GetEventsResponse(rate_limit_info=ev.RateLimitInfo(), node_name=NODE)
