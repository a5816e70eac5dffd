"""``render_compact``: golden lines from Tetragon's docs and its ``pkg/encoder`` tests."""

from __future__ import annotations

import pytest

from tetragon_core import events as ev
from tetragon_core.export.compact import go_quote, maybe_quote, render_compact

BLUE, GREEN, MAGENTA, CYAN, RED, RESET = (f"\x1b[{c}m" for c in (34, 32, 35, 36, 31, 0))


def exec_event(
    binary: str, args: str, *, pod: tuple[str, str] | None = None, node: str = "", time: str | None = None
) -> ev.GetEventsResponse:
    p = ev.Pod(namespace=pod[0], name=pod[1]) if pod else None
    return ev.GetEventsResponse(
        process_exec=ev.ProcessExec(process=ev.Process(binary=binary, arguments=args, pod=p)),
        node_name=node,
        time=time,
    )


def exit_event(
    binary: str, args: str, *, pod: tuple[str, str] | None = None, signal: str = "", status: int = 0
) -> ev.GetEventsResponse:
    p = ev.Pod(namespace=pod[0], name=pod[1]) if pod else None
    return ev.GetEventsResponse(
        process_exit=ev.ProcessExit(
            process=ev.Process(binary=binary, arguments=args, pod=p), signal=signal, status=status
        ),
        node_name="my-node",
    )


APPENDIX_A_EXEC = ev.GetEventsResponse(
    process_exec=ev.ProcessExec(
        process=ev.Process(
            exec_id="a2luZC1jb250cm9sLXBsYW5lOjQxMjc1NTI0MjYzMjIxOjEzMDg3Nw==",
            pid=130877,
            uid=0,
            cwd="/",
            binary="/sbin/modprobe",
            arguments="-q -- fs-xfs",
            flags="execve rootcwd clone",
            start_time="2023-09-09T23:27:42.751301124Z",
            auid=4294967295,
            parent_exec_id="a2luZC1jb250cm9sLXBsYW5lOjE6MA==",
            tid=130877,
        ),
        parent=ev.Process(binary="<kernel>", pid=0, flags="procFS"),
    ),
    node_name="kind-control-plane",
    time="2023-09-09T23:27:42.751300984Z",
)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        # pkg/encoder/encoder_test.go
        (
            exec_event("/usr/bin/curl", "cilium.io", node="my-node"),
            "🚀 process my-node /usr/bin/curl cilium.io",
        ),
        (
            exec_event("/usr/bin/curl", "cilium.io", pod=("kube-system", "tetragon")),
            "🚀 process kube-system/tetragon /usr/bin/curl cilium.io",
        ),
        (
            exit_event("/usr/bin/curl", "cilium.io", pod=("kube-system", "tetragon"), status=1),
            "💥 exit    kube-system/tetragon /usr/bin/curl cilium.io 1",
        ),
        (
            exit_event("/usr/bin/curl", "cilium.io", pod=("kube-system", "tetragon"), signal="SIGKILL"),
            "💥 exit    kube-system/tetragon /usr/bin/curl cilium.io SIGKILL",
        ),
        # docs (use-cases/filename-access): the exit line of the vi example
        (
            exit_event("/bin/vi", "/etc/passwd", pod=("default", "file-access")),
            "💥 exit    default/file-access /bin/vi /etc/passwd 0",
        ),
        # Appendix A's exec, on the host
        (APPENDIX_A_EXEC, "🚀 process kind-control-plane /sbin/modprobe -q -- fs-xfs"),
        # A signal wins over the status
        (
            exit_event("/bin/sleep", "60", signal="SIGTERM", status=143),
            "💥 exit    my-node /bin/sleep 60 SIGTERM",
        ),
        # No arguments: the separator stays, as in Go's "%s %s %s"
        (exec_event("/bin/ls", "", node="n"), "🚀 process n /bin/ls "),
    ],
)
def test_golden_lines(event: ev.GetEventsResponse, expected: str) -> None:
    assert render_compact(event, color=False, timestamps=False) == expected


def test_timestamps_use_nine_digits_utc() -> None:
    assert (
        render_compact(APPENDIX_A_EXEC, color=False, timestamps=True)
        == "2023-09-09T23:27:42.751300984Z 🚀 process kind-control-plane /sbin/modprobe -q -- fs-xfs"
    )
    e = exec_event("/usr/bin/curl", "cilium.io", pod=("kube-system", "tetragon"), time="2024-04-14T02:17:46Z")
    assert render_compact(e, color=False, timestamps=True) == (
        "2024-04-14T02:17:46.000000000Z 🚀 process kube-system/tetragon /usr/bin/curl cilium.io"
    )
    # encoder_test.go: a zero Timestamp prints the epoch; a missing one does too (nil AsTime).
    for t in ("1970-01-01T00:00:00Z", None):
        e = exec_event("/usr/bin/curl", "cilium.io", pod=("kube-system", "tetragon"), time=t)
        assert render_compact(e, color=False, timestamps=True) == (
            "1970-01-01T00:00:00.000000000Z 🚀 process kube-system/tetragon /usr/bin/curl cilium.io"
        )


def color_trailer(line: str) -> str:
    # fatih/color wraps even the empty caps string, so upstream always pads towards byte 120.
    caps = f"{MAGENTA}{RESET}"
    return f"{line} {caps.rjust(max(0, 120 - len(line.encode())))}"


def test_colors() -> None:
    line = (
        f"{BLUE}🚀 process{RESET} {GREEN}kind-control-plane{RESET} {MAGENTA}/sbin/modprobe{RESET} "
        f"{CYAN}-q -- fs-xfs{RESET}"
    )
    assert render_compact(APPENDIX_A_EXEC, color=True, timestamps=False) == color_trailer(line)
    e = exit_event("/bin/vi", "/etc/passwd", pod=("default", "file-access"), signal="SIGKILL")
    line = (
        f"{BLUE}💥 exit   {RESET} {GREEN}default/file-access{RESET} {MAGENTA}/bin/vi{RESET} "
        f"{CYAN}/etc/passwd{RESET} {RED}SIGKILL{RESET}"
    )
    got = render_compact(e, color=True, timestamps=True)
    assert got == "1970-01-01T00:00:00.000000000Z " + color_trailer(line)


def test_caps_trailer_follows_upstreams_index_quirk() -> None:
    caps = [f"CAP_{i}" for i in range(22)]  # 22 entries: index 21 (CAP_SYS_ADMIN) exists
    e = ev.GetEventsResponse(
        process_exec=ev.ProcessExec(
            process=ev.Process(binary="/bin/sh", arguments="-i", cap=ev.Capabilities(effective=caps))
        ),
        node_name="node",
    )
    line = "🚀 process node /bin/sh -i"
    trailer = "🛑 CAP_SYS_ADMIN".rjust(120 - len(line.encode()))
    assert render_compact(e, color=False, timestamps=False) == f"{line} {trailer}"
    assert e.process_exec is not None and e.process_exec.process is not None
    e.process_exec.process.cap = ev.Capabilities(effective=["CAP_SYS_ADMIN"])  # index 0 only
    assert render_compact(e, color=False, timestamps=False) == line


def test_quoting_of_source_and_binary() -> None:
    e = exec_event("/tmp/my prog", "a b", node="node one")
    assert render_compact(e, color=False, timestamps=False) == '🚀 process "node one" "/tmp/my prog" a b'
    e = exec_event("/tmp/tab\there", '"quoted args" kept', pod=("ns", "pod"))
    assert render_compact(e, color=False, timestamps=False) == (
        '🚀 process ns/pod "/tmp/tab\\there" "quoted args" kept'
    )


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [
        ("", '""'),
        ("plain", '"plain"'),
        ("with space", '"with space"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("\a\b\f\n\r\t\v", '"\\a\\b\\f\\n\\r\\t\\v"'),
        ("\x00\x1b\x7f", '"\\x00\\x1b\\x7f"'),
        ("café ☕ 😀", '"café ☕ 😀"'),
        ("\u00a0nbsp", '"\\u00a0nbsp"'),
        ("zw\u200bsp", '"zw\\u200bsp"'),
        ("\u2028", '"\\u2028"'),
        ("\U000e0001", '"\\U000e0001"'),
        ("\x85", '"\\u0085"'),
        ("bad\udcffbyte", '"bad\\xffbyte"'),  # surrogateescape'd 0xff, as Go prints invalid UTF-8
    ],
)
def test_go_quote_matches_strconv_quote(raw: str, quoted: str) -> None:
    assert go_quote(raw) == quoted


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/usr/bin/curl", "/usr/bin/curl"),
        ("kube-system/tetragon", "kube-system/tetragon"),
        ("<kernel>", "<kernel>"),
        ("", ""),
        ("é", "é"),
        ("a b", '"a b"'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("a\nb", '"a\\nb"'),
    ],
)
def test_maybe_quote(raw: str, expected: str) -> None:
    assert maybe_quote(raw) == expected


def test_unrendered_events_return_none() -> None:
    for e in (
        ev.GetEventsResponse(rate_limit_info=ev.RateLimitInfo(number_of_dropped_process_events="3")),
        ev.GetEventsResponse(),
        ev.GetEventsResponse(process_exec=ev.ProcessExec()),
        ev.GetEventsResponse(process_exit=ev.ProcessExit(signal="SIGKILL")),
    ):
        assert render_compact(e, color=False, timestamps=False) is None
        assert render_compact(e, color=True, timestamps=True) is None
