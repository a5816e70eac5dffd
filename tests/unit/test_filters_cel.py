"""The ``cel_expression`` filter: proto-shaped event view, functions, errors."""

from __future__ import annotations

import pytest

from tetragon_core import events as ev
from tetragon_core.api.tetragon import events_pb2
from tetragon_core.exceptions import ConfigError
from tetragon_core.filters import compile_filter
from tetragon_core.filters.cel import compile_cel

HOST_EXEC = ev.GetEventsResponse(
    process_exec=ev.ProcessExec(
        process=ev.Process(
            binary="/usr/bin/curl",
            pid=4242,
            uid=0,
            arguments="-s https://example.com",
            start_time="2024-04-14T02:18:14.376304204Z",
            in_init_tree=False,
            cap=ev.Capabilities(effective=["CAP_NET_RAW"]),
            binary_properties=ev.BinaryProperties(
                file=ev.FileProperties(inode=ev.InodeProperties(number="123456789012", links=1))
            ),
        ),
        parent=ev.Process(binary="/bin/bash", pid=1000),
        ancestors=[ev.Process(binary="/bin/bash", pid=1000), ev.Process(binary="/sbin/init", pid=1)],
    ),
    node_name="node1",
)
POD_EXIT = ev.GetEventsResponse(
    process_exit=ev.ProcessExit(
        process=ev.Process(
            binary="/bin/sh",
            pid=7,
            pod=ev.Pod(namespace="default", name="web-1", pod_labels={"app": "web"}),
        ),
        status=1,
        signal="SIGKILL",
    )
)


@pytest.mark.parametrize(
    ("expr", "on_exec", "on_exit"),
    [
        ('process_exec.process.binary == "/usr/bin/curl"', True, False),
        ('process_exit.process.binary == "/bin/sh"', False, True),
        # unsigned fields compare with int and uint literals
        ("process_exec.process.pid == 4242", True, False),
        ("process_exec.process.pid == 4242u", True, False),
        ("process_exec.process.pid > 4000 && process_exec.process.pid < 5000u", True, False),
        ("process_exec.process.uid == 0u", True, False),
        ("process_exit.status == 1u", False, True),
        # unset fields read as their proto3 defaults ...
        ('process_exec.process.pod.namespace == ""', True, False),
        ('process_exec.process.pod.namespace != "kube-system"', True, False),
        ('process_exec.process.docker == ""', True, False),
        ("process_exec.process.refcnt == 0u", True, False),
        ("size(process_exec.process.environment_variables) == 0", True, False),
        ("process_exec.process.process_credentials.uid == null", True, False),  # wrapper: null
        # ... and has() follows proto3 presence
        ("has(process_exec.process.pod)", False, False),
        ("!has(process_exec.process.pod)", True, False),
        ("has(process_exit.process.pod)", False, True),
        ("has(process_exec.process.uid)", True, False),  # wrapper set to 0 is present
        ("has(process_exec.process.docker)", False, False),
        ("has(process_exec.process.pod.pod_labels)", False, False),
        ('process_exit.process.pod.pod_labels["app"] == "web"', False, True),
        ('"app" in process_exit.process.pod.pod_labels', False, True),
        ('process_exit.signal == "SIGKILL"', False, True),
        ("process_exec.process.in_init_tree == false", True, False),
        # enums are numbers, and the enum constants are bound
        ("tetragon.CapabilitiesType.CAP_NET_RAW in process_exec.process.cap.effective", True, False),
        ("CapabilitiesType.CAP_SYS_ADMIN in process_exec.process.cap.effective", False, False),
        # 64-bit integers are numbers, not the JSON strings
        ("process_exec.process.binary_properties.file.inode.number == 123456789012u", True, False),
        ('process_exec.process.start_time > timestamp("2024-01-01T00:00:00Z")', True, False),
        ('process_exec.ancestors.exists(a, a.binary == "/sbin/init")', True, False),
        ("process_exec.ancestors.all(a, a.pid >= 1)", True, False),
        ("size(process_exec.ancestors) == 2", True, False),
        ('process_exec.process.arguments.matches("^-s ")', True, False),
        ('process_exec.process.binary.startsWith("/usr/") || process_exit.status > 0u', True, True),
        ("process_exec.process.binary", False, False),  # not a bool: no match
        ("tetragon.EventType.PROCESS_EXEC == 1", True, True),
        # Kubernetes IP/CIDR library
        ('cidr("10.0.0.0/8").containsIP(ip("10.1.2.3"))', True, True),
        ('cidr("10.0.0.0/8").containsIP("192.168.0.1")', False, False),
        ('cidr("10.0.0.0/8").containsCIDR("10.1.0.0/16")', True, True),
        ('ip("fe80::1").isLinkLocalUnicast() && ip("::1").isLoopback()', True, True),
        ('ip("10.0.0.1").family() == 4 && isIP("::1") && !isIP("nope")', True, True),
        ('string(cidr("10.1.2.3/8").masked()) == "10.0.0.0/8"', True, True),
        ('cidr("10.1.2.3/8").prefixLength() == 8 && cidr("10.1.2.3/8").ip() == ip("10.1.2.3")', True, True),
        ('ip("bad") == ip("bad")', False, False),  # evaluation error: no match
    ],
)
def test_cel_expressions(expr: str, on_exec: bool, on_exit: bool) -> None:
    f = compile_filter(events_pb2.Filter(cel_expression=[expr]))
    assert (f(HOST_EXEC), f(POD_EXIT)) == (on_exec, on_exit)


def test_cel_rate_limit_and_empty_events() -> None:
    f = compile_cel(["true"])
    assert f(ev.GetEventsResponse(rate_limit_info=ev.RateLimitInfo()))
    assert not f(ev.GetEventsResponse())  # nothing set: nothing to bind
    assert compile_cel(["rate_limit_info.number_of_dropped_process_events == 0u"])(
        ev.GetEventsResponse(rate_limit_info=ev.RateLimitInfo())
    )


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("process_exec.process.pid ==", "syntax error at line 1, column 26"),
        ("foo == 1", "undeclared reference to 'foo'"),
        ("nosuch(process_exec)", "undeclared reference to 'nosuch'"),
        ("process_exec.process.binary.bogus()", "undeclared reference to 'bogus'"),
        ("process_exec.ancestors.exists(a.binary)", "exists() macro needs a variable name and an expression"),
        ('process_exec.process.binary.matches("a(")', "matches: invalid RE2 pattern 'a(': missing ): a("),
        ('matches(process_exec.process.binary, "[z-a]")', "matches: invalid RE2 pattern '[z-a]'"),
        ("has(process_exec)", "has() macro needs a field selection argument"),
    ],
)
def test_cel_compile_errors(expr: str, reason: str) -> None:
    with pytest.raises(ConfigError) as exc:
        compile_filter(events_pb2.Filter(cel_expression=["true", expr]))
    assert str(exc.value).startswith(f"cel_expression: invalid expression {expr!r}: {reason}")


def test_cel_macro_variables_are_scoped() -> None:
    compile_cel(["process_exec.ancestors.exists(a, a.pid == 1) && [1, 2].map(x, x * 2).size() == 2"])
    with pytest.raises(ConfigError, match="undeclared reference to 'a'"):
        compile_cel(["process_exec.ancestors.exists(a, true) && a.pid == 1"])


def test_cel_uses_transpiled_runner() -> None:
    import celpy

    from tetragon_core.filters import cel

    assert cel._RUNNERS[0] is celpy.CompiledRunner
    assert isinstance(cel._program('process_exec.process.binary == "x"'), celpy.CompiledRunner)


def test_cel_errors_do_not_log(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    f = compile_cel(['process_exit.process.binary == "x"', 'process_exec.process.binary.matches("." + "(")'])
    assert not f(HOST_EXEC)
    assert caplog.records == []
    _out, err = capfd.readouterr()
    assert err == ""
