"""``tetragon_core.filters``: every ``Filter`` field, allow/deny semantics, Helm defaults, errors."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest

from tetragon_core import events as ev
from tetragon_core.api.tetragon import events_pb2
from tetragon_core.exceptions import ConfigError
from tetragon_core.filters import (
    EventFilter,
    compile_filter,
    event_parts,
    event_type_name,
    parse_filter_lines,
)

# --- event builders ---------------------------------------------------------------------------------


def proc(
    binary: str = "/usr/bin/ls",
    pid: int = 100,
    *,
    arguments: str = "",
    pod: ev.Pod | None = None,
    docker: str = "",
    caps: ev.Capabilities | None = None,
    in_init_tree: bool | None = None,
) -> ev.Process:
    return ev.Process(
        binary=binary,
        pid=pid,
        arguments=arguments,
        pod=pod,
        docker=docker,
        cap=caps,
        in_init_tree=in_init_tree,
    )


def pod(
    namespace: str = "default",
    name: str = "web-7d4b9",
    *,
    labels: dict[str, str] | None = None,
    container: str = "nginx",
    probe: bool = False,
) -> ev.Pod:
    return ev.Pod(
        namespace=namespace,
        name=name,
        pod_labels=labels or {},
        container=ev.Container(id="cri-o://abc", name=container, maybe_exec_probe=probe),
    )


def exec_ev(
    process: ev.Process | None = None,
    parent: ev.Process | None = None,
    ancestors: list[ev.Process] | None = None,
) -> ev.GetEventsResponse:
    return ev.GetEventsResponse(
        process_exec=ev.ProcessExec(
            process=process if process is not None else proc(),
            parent=parent,
            ancestors=ancestors or [],
        ),
        node_name="node1",
    )


def exit_ev(process: ev.Process | None = None, parent: ev.Process | None = None) -> ev.GetEventsResponse:
    return ev.GetEventsResponse(
        process_exit=ev.ProcessExit(process=process if process is not None else proc(), parent=parent),
        node_name="node1",
    )


RATE_LIMIT = ev.GetEventsResponse(rate_limit_info=ev.RateLimitInfo(number_of_dropped_process_events="3"))


def flt(**fields: Any) -> events_pb2.Filter:
    return events_pb2.Filter(**fields)


def matches(f: events_pb2.Filter, event: ev.GetEventsResponse) -> bool:
    return compile_filter(f)(event)


# --- empty filter, AND/OR ---------------------------------------------------------------------------


def test_empty_filter_matches_everything() -> None:
    f = compile_filter(events_pb2.Filter())
    assert f(exec_ev()) and f(exit_ev()) and f(RATE_LIMIT) and f(ev.GetEventsResponse())


def test_fields_are_anded_and_values_ored() -> None:
    f = flt(binary_regex=["^/usr/bin/ls$", "^/bin/sh$"], namespace=["default"])
    assert matches(f, exec_ev(proc("/usr/bin/ls", pod=pod())))
    assert matches(f, exec_ev(proc("/bin/sh", pod=pod())))
    assert not matches(f, exec_ev(proc("/usr/bin/ls")))  # host, namespace fails
    assert not matches(f, exec_ev(proc("/usr/bin/cat", pod=pod())))  # binary fails


# --- per-field pass / fail --------------------------------------------------------------------------


def test_binary_regex() -> None:
    f = flt(binary_regex=["bin/(ba)?sh$"])
    assert matches(f, exec_ev(proc("/bin/bash")))
    assert matches(f, exit_ev(proc("/usr/bin/sh")))
    assert not matches(f, exec_ev(proc("/bin/bash-completion")))
    assert not matches(f, RATE_LIMIT)  # no process
    # unanchored search, as Go's MatchString
    assert matches(flt(binary_regex=["ls"]), exec_ev(proc("/usr/bin/ls")))
    # RE2 syntax: POSIX classes and \pL work
    assert matches(flt(binary_regex=[r"^/usr/[[:alpha:]]+/\pL+$"]), exec_ev(proc("/usr/bin/ls")))


def test_regex_alternatives_memo_and_odd_strings() -> None:
    # the same named group in two patterns cannot be joined into one regex: matched one by one
    f = compile_filter(flt(binary_regex=["(?P<x>sh)$", "(?P<x>ls)$"]))
    assert f(exec_ev(proc("/bin/sh"))) and f(exec_ev(proc("/bin/ls"))) and not f(exec_ev(proc("/bin/cat")))
    # answers are memoized per string: repeated calls agree
    assert [f(exec_ev(proc(b))) for b in ["/bin/sh", "/bin/cat"] * 3] == [True, False] * 3
    # non-UTF-8 bytes decoded with surrogateescape, and stray surrogates, do not break matching
    odd = b"/tmp/\xff\xfesh".decode("utf-8", "surrogateescape")
    assert f(exec_ev(proc(odd)))
    assert compile_filter(flt(arguments_regex=["x"]))(exec_ev(proc(arguments="\ud800x")))
    assert compile_filter(flt(binary_regex=["^/tmp/.+sh$"]))(exec_ev(proc("/tmp/\u00e9sh")))


def test_parent_binary_regex() -> None:
    f = flt(parent_binary_regex=["^/usr/bin/bash$"])
    assert matches(f, exec_ev(proc(), parent=proc("/usr/bin/bash", 1)))
    assert not matches(f, exec_ev(proc("/usr/bin/bash"), parent=proc("/usr/bin/zsh", 1)))
    assert not matches(f, exec_ev(proc("/usr/bin/bash"), parent=None))


def test_ancestor_binary_regex() -> None:
    f = flt(ancestor_binary_regex=["systemd$"])
    chain = [proc("/usr/bin/bash", 50), proc("/usr/lib/systemd/systemd", 1)]
    assert matches(f, exec_ev(proc(), proc("/usr/bin/bash", 50), ancestors=chain))
    assert not matches(f, exec_ev(proc(), proc("/usr/lib/systemd/systemd", 1), ancestors=[]))
    assert not matches(f, exec_ev(proc("/usr/lib/systemd/systemd"), ancestors=[proc("/sbin/init", 1)]))


def test_namespace_exact_and_host() -> None:
    f = flt(namespace=["kube-system"])
    assert matches(f, exec_ev(proc(pod=pod("kube-system"))))
    assert not matches(f, exec_ev(proc(pod=pod("kube-system-2"))))
    assert not matches(f, exec_ev(proc()))
    host = flt(namespace=[""])
    assert matches(host, exec_ev(proc()))
    assert matches(host, exit_ev(proc()))
    assert not matches(host, exec_ev(proc(pod=pod("default"))))
    assert not matches(host, RATE_LIMIT)  # no process at all is not "host"


def test_namespace_regex() -> None:
    f = flt(namespace_regex=["^kube-"])
    assert matches(f, exec_ev(proc(pod=pod("kube-public"))))
    assert not matches(f, exec_ev(proc(pod=pod("default"))))
    assert not matches(flt(namespace_regex=[""]), exec_ev(proc()))  # host never matches


def test_health_check() -> None:
    probe = exec_ev(proc(pod=pod(probe=True)))
    probe_parent = exec_ev(proc(pod=pod()), parent=proc("/bin/sh", 1, pod=pod(probe=True)))
    plain = exec_ev(proc(pod=pod()), parent=proc("/bin/sh", 1, pod=pod()))
    host = exec_ev(proc())
    yes, no = flt(health_check={"value": True}), flt(health_check={"value": False})
    assert matches(yes, probe) and matches(yes, probe_parent)
    assert not matches(yes, plain) and not matches(yes, host)
    assert not matches(no, probe) and not matches(no, probe_parent)
    assert matches(no, plain) and matches(no, host)
    # an explicit false is a filter; an unset field is not
    assert matches(flt(), probe)
    # events without a process are never health checks (as upstream)
    assert matches(no, RATE_LIMIT) and not matches(yes, RATE_LIMIT)


def test_pid() -> None:
    f = flt(pid=[100, 200])
    assert matches(f, exec_ev(proc(pid=200)))
    assert not matches(f, exec_ev(proc(pid=300)))
    assert not matches(f, RATE_LIMIT)


def test_pid_set_tracks_descendants() -> None:
    f = compile_filter(flt(pid_set=[10]))
    assert f(exec_ev(proc(pid=10)))
    assert not f(exec_ev(proc(pid=99), parent=proc(pid=1)))
    # child of 10 is learned from its parent pid ...
    assert f(exec_ev(proc(pid=11), parent=proc(pid=10)))
    # ... and so are grandchildren, and later events of the child without a parent
    assert f(exec_ev(proc(pid=12), parent=proc(pid=11)))
    assert f(exit_ev(proc(pid=11)))
    assert f(exit_ev(proc(pid=12)))
    assert not f(exit_ev(proc(pid=13), parent=proc(pid=99)))
    # state is per compiled filter
    assert not compile_filter(flt(pid_set=[10]))(exit_ev(proc(pid=12)))


def test_pid_set_learns_even_when_another_field_fails() -> None:
    f = compile_filter(flt(pid_set=[10], binary_regex=["^/bin/sh$"]))
    assert not f(exec_ev(proc("/usr/bin/env", pid=11), parent=proc(pid=10)))  # learned, binary fails
    assert f(exec_ev(proc("/bin/sh", pid=12), parent=proc("/usr/bin/env", pid=11)))


def test_pid_set_tracker_is_bounded() -> None:
    from tetragon_core.filters import PidSetTracker

    t = PidSetTracker([1], max_children=3)
    for child in (2, 3, 4, 5):
        assert t.match(proc(pid=child), proc(pid=1))
    assert t.children == frozenset({3, 4, 5})  # the oldest child was forgotten
    assert 1 in t and 2 not in t


def test_event_set_names_and_numbers() -> None:
    f = flt(event_set=["PROCESS_EXIT", "RATE_LIMIT_INFO"])
    assert matches(f, exit_ev()) and matches(f, RATE_LIMIT)
    assert not matches(f, exec_ev())
    assert matches(flt(event_set=[1]), exec_ev())
    assert not matches(flt(event_set=["PROCESS_KPROBE"]), exec_ev())


def test_pod_regex() -> None:
    f = flt(pod_regex=["^web-"])
    assert matches(f, exec_ev(proc(pod=pod(name="web-7d4b9"))))
    assert not matches(f, exec_ev(proc(pod=pod(name="db-0"))))
    assert not matches(f, exec_ev(proc()))


def test_container_id() -> None:
    f = flt(container_id=["^3f2a"])
    assert matches(f, exec_ev(proc(docker="3f2a9c1d", pod=pod())))
    assert not matches(f, exec_ev(proc(docker="9c1d3f2a", pod=pod())))
    assert not matches(f, exec_ev(proc()))
    assert matches(flt(container_id=["^$"]), exec_ev(proc()))  # host: docker is ""


def test_container_name_regex() -> None:
    f = flt(container_name_regex=["^nginx$"])
    assert matches(f, exec_ev(proc(pod=pod(container="nginx"))))
    assert not matches(f, exec_ev(proc(pod=pod(container="sidecar"))))
    assert not matches(f, exec_ev(proc()))
    assert not matches(f, exec_ev(proc(pod=ev.Pod(namespace="x"))))  # pod without container


def test_arguments_regex_and_parent_arguments_regex() -> None:
    f = flt(arguments_regex=["--password"])
    assert matches(f, exec_ev(proc(arguments="login --password x")))
    assert not matches(f, exec_ev(proc(arguments="login")))
    p = flt(parent_arguments_regex=["^-c "])
    assert matches(p, exec_ev(proc(), parent=proc("/bin/sh", 1, arguments="-c 'ls'")))
    assert not matches(p, exec_ev(proc(arguments="-c x"), parent=proc("/bin/sh", 1)))
    assert not matches(p, exec_ev(proc(arguments="-c x")))


def test_labels() -> None:
    web = exec_ev(proc(pod=pod(labels={"app": "web", "tier": "front", "replicas": "3"})))
    db = exec_ev(proc(pod=pod(labels={"app": "db"})))
    bare = exec_ev(proc(pod=pod(labels={})))
    host = exec_ev(proc())
    cases: list[tuple[str, bool, bool, bool]] = [
        # selector, web, db, pod without labels
        ("app=web", True, False, False),
        ("app==web", True, False, False),
        ("app!=web", False, True, True),
        ("app in (web, api)", True, False, False),
        ("app notin (web)", False, True, True),
        ("tier", True, False, False),
        ("!tier", False, True, True),
        ("app=web,tier=front", True, False, False),
        ("app,!tier", False, True, False),
        ("replicas>2", True, False, False),
        ("replicas<3", False, False, False),
        ("", True, True, True),
    ]
    for selector, w, d, b in cases:
        f = flt(labels=[selector])
        assert (matches(f, web), matches(f, db), matches(f, bare)) == (w, d, b), selector
        assert not matches(f, host), selector  # host events never match
    assert matches(flt(labels=["app=nope", "app=db"]), db)  # selectors are ORed


def test_policy_names_on_future_event_kinds() -> None:
    class ProcessKprobe(msgspec.Struct, kw_only=True, omit_defaults=True):
        process: ev.Process | None = None
        parent: ev.Process | None = None
        function_name: str = ""
        policy_name: str = ""
        ancestors: list[ev.Process] = []

    class FutureResponse(ev.GetEventsResponse, kw_only=True):
        process_kprobe: ProcessKprobe | None = None

    kp = FutureResponse(process_kprobe=ProcessKprobe(process=proc("/bin/cat"), policy_name="file-monitor"))
    assert event_type_name(kp) == "PROCESS_KPROBE"
    parts = event_parts(kp)
    assert parts.kind == "process_kprobe" and parts.policy_name == "file-monitor"
    assert parts.process is not None and parts.process.binary == "/bin/cat"
    f = flt(policy_names=["file-monitor", "other"])
    assert matches(f, kp)
    assert not matches(flt(policy_names=["other"]), kp)
    assert not matches(f, exec_ev())  # exec events have no policy
    assert matches(flt(event_set=["PROCESS_KPROBE"], binary_regex=["cat"]), kp)
    assert matches(flt(cel_expression=['process_kprobe.policy_name == "file-monitor"']), kp)


def test_capabilities() -> None:
    admin = ev.Capabilities(
        permitted=["CAP_SYS_ADMIN", "CAP_NET_RAW"],
        effective=["CAP_SYS_ADMIN", "CAP_NET_RAW"],
        inheritable=[],
    )
    raw = ev.Capabilities(permitted=["CAP_NET_RAW"], effective=["CAP_NET_RAW"])
    e_admin, e_raw, e_none = exec_ev(proc(caps=admin)), exec_ev(proc(caps=raw)), exec_ev(proc())

    def cap(**sets: Any) -> events_pb2.Filter:
        return flt(capabilities=sets)

    any_admin = cap(effective={"any": ["CAP_SYS_ADMIN", "CAP_BPF"]})
    assert matches(any_admin, e_admin) and not matches(any_admin, e_raw)
    assert not matches(any_admin, e_none)  # no cap info never matches
    all_two = cap(permitted={"all": ["CAP_SYS_ADMIN", "CAP_NET_RAW"]})
    assert matches(all_two, e_admin) and not matches(all_two, e_raw)
    exactly = cap(effective={"exactly": ["CAP_NET_RAW"]})
    assert matches(exactly, e_raw) and not matches(exactly, e_admin)
    none = cap(effective={"none": ["CAP_SYS_ADMIN"]})
    assert matches(none, e_raw) and not matches(none, e_admin)
    both = cap(effective={"any": ["CAP_NET_RAW"]}, permitted={"none": ["CAP_SYS_ADMIN"]})
    assert matches(both, e_raw) and not matches(both, e_admin)
    inh = cap(inheritable={"none": ["CAP_SYS_ADMIN"]})
    assert matches(inh, e_admin)


def test_in_init_tree() -> None:
    yes, no = flt(in_init_tree={"value": True}), flt(in_init_tree={"value": False})
    init = exec_ev(proc(in_init_tree=True, pod=pod()))
    other = exec_ev(proc(in_init_tree=False, pod=pod()))
    unset = exec_ev(proc())
    assert matches(yes, init) and not matches(yes, other) and not matches(yes, unset)
    assert matches(no, other) and matches(no, unset) and not matches(no, init)
    assert not matches(no, RATE_LIMIT)


def test_cel_expression() -> None:
    f = flt(cel_expression=['process_exec.process.binary.endsWith("/ls") && process_exec.process.pid > 50'])
    assert matches(f, exec_ev(proc("/usr/bin/ls", 100)))
    assert not matches(f, exec_ev(proc("/usr/bin/ls", 10)))
    assert not matches(f, exit_ev(proc("/usr/bin/ls", 100)))  # process_exec unbound: error → no match
    ored = flt(cel_expression=["process_exit.status != 0", 'process_exec.process.binary == "/usr/bin/ls"'])
    assert matches(ored, exec_ev())  # the first errors on exec events, the second is still tried
    assert matches(ored, ev.GetEventsResponse(process_exit=ev.ProcessExit(process=proc(), status=2)))
    assert not matches(ored, exit_ev())


# --- event_parts ------------------------------------------------------------------------------------


def test_event_parts() -> None:
    e = exec_ev(proc(pid=5), proc(pid=1), [proc(pid=1)])
    parts = event_parts(e)
    assert parts.kind == "process_exec" and parts.process is not None and parts.process.pid == 5
    assert parts.parent is not None and parts.parent.pid == 1
    assert len(parts.ancestors) == 1 and parts.policy_name == ""
    rl = event_parts(RATE_LIMIT)
    assert rl.kind == "rate_limit_info" and rl.process is None and rl.parent is None and not rl.ancestors
    assert event_parts(ev.GetEventsResponse()).kind == ""
    assert event_type_name(ev.GetEventsResponse()) == "UNDEF"


# --- allow / deny -----------------------------------------------------------------------------------


def test_event_filter_allow_deny_semantics() -> None:
    sh = exec_ev(proc("/bin/sh"))
    ls = exec_ev(proc("/usr/bin/ls"))
    kube = exec_ev(proc("/bin/sh", pod=pod("kube-system")))
    allow = [flt(binary_regex=["sh$"]), flt(binary_regex=["ls$"])]
    deny = [flt(namespace=["kube-system"])]
    assert EventFilter([], [])(sh)
    assert EventFilter([], []).passes_everything
    assert not EventFilter(allow, deny).passes_everything
    assert EventFilter(allow, [])(ls)  # any allow suffices
    assert not EventFilter(allow[:1], [])(ls)
    assert EventFilter([], deny)(sh)  # empty allow list: everything allowed
    assert not EventFilter([], deny)(kube)
    assert not EventFilter(allow, deny)(kube)  # deny wins over allow
    assert EventFilter(allow, deny)(sh)
    assert not EventFilter([flt()], [flt()])(sh)  # an empty deny filter denies everything
    assert EventFilter([flt()], [])(RATE_LIMIT)


HELM_ALLOW = (
    '{"event_set":["PROCESS_EXEC","PROCESS_EXIT","PROCESS_KPROBE","PROCESS_UPROBE",'
    '"PROCESS_TRACEPOINT","PROCESS_LSM"]}'
)
HELM_DENY = '{"health_check":true}\n{"namespace":["", "cilium", "kube-system"]}'


def helm_filter() -> EventFilter:
    return EventFilter(
        parse_filter_lines(HELM_ALLOW, "--export-allowlist"),
        parse_filter_lines(HELM_DENY, "--export-denylist"),
    )


def test_helm_defaults() -> None:
    f = helm_filter()
    # host exec/exit events are denied by namespace "" ...
    assert not f(exec_ev(proc("/usr/bin/ls")))
    assert not f(exit_ev(proc("/usr/bin/ls")))
    # ... and so are cilium and kube-system pods, and health-check probes anywhere
    assert not f(exec_ev(proc(pod=pod("kube-system"))))
    assert not f(exit_ev(proc(pod=pod("cilium"))))
    assert not f(exec_ev(proc(pod=pod("default", probe=True))))
    assert not f(exec_ev(proc(pod=pod("default")), parent=proc("/bin/sh", 1, pod=pod(probe=True))))
    # workload pods pass
    assert f(exec_ev(proc(pod=pod("default"))))
    assert f(exit_ev(proc(pod=pod("prod"))))
    # rate_limit_info is not in the allowed event_set
    assert not f(RATE_LIMIT)


def test_helm_filter_cost() -> None:
    """Per-event cost of the Helm allow+deny pair (the number reported in the docs)."""
    f = helm_filter()
    events = [exec_ev(proc(pod=pod("default"))), exit_ev(proc()), exec_ev(proc(pod=pod("kube-system")))]
    n = 20000
    start = time.perf_counter()
    for _ in range(n):
        for e in events:
            f(e)
    per_event_us = (time.perf_counter() - start) / (n * len(events)) * 1e6
    assert per_event_us < 50  # generous: about 1-2 µs on the development box


# --- parse_filter_lines -----------------------------------------------------------------------------


def test_parse_filter_lines() -> None:
    text = '{"event_set":["PROCESS_EXEC"]}\n\n  {"namespace":["", "kube-system"]}\n{"binaryRegex":["x"]}\n'
    got = parse_filter_lines(text, "--export-allowlist")
    assert [list(f.event_set) for f in got] == [[events_pb2.PROCESS_EXEC], [], []]
    assert list(got[1].namespace) == ["", "kube-system"]
    assert list(got[2].binary_regex) == ["x"]
    assert parse_filter_lines("", "--export-allowlist") == []
    assert parse_filter_lines(" \n\n", "--export-allowlist") == []
    hc = parse_filter_lines('{"health_check": true, "in_init_tree": false}', "f")[0]
    assert hc.HasField("health_check") and hc.health_check.value
    assert hc.HasField("in_init_tree") and not hc.in_init_tree.value
    # several objects on one line are accepted, as by Go's stream decoder
    assert len(parse_filter_lines('{"pid":[1]} {"pid":[2]}', "f")) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"event_set":["PROCESS_EXEC"]}\n{"namespace": [', "--export-allowlist: line 2: invalid JSON: "),
        (
            '\n\n{"bogus": 1}',
            '--export-allowlist: line 3: invalid filter: Message type "tetragon.Filter" has no field '
            'named "bogus" at "Filter".',
        ),
        (
            '{"event_set":["NOPE"]}',
            "--export-allowlist: line 1: invalid filter: Failed to parse event_set field: Invalid enum "
            "value NOPE for enum type tetragon.EventType at Filter.event_set[0].",
        ),
        ("[1, 2]", "--export-allowlist: line 1: a filter must be a JSON object, got list"),
        (
            '{"health_check": "yes"}',
            "--export-allowlist: line 1: invalid filter: Failed to parse health_check field: "
            "Expected true or false without quotes at Filter.health_check.value.",
        ),
        (
            '{"pid_set": [1]}',
            "--export-allowlist: line 1: pidSet filters use a best-effort approach for tracking PIDs "
            "and are intended for testing/development, not for production (pass the "
            "--enable-pid-set-filter to ignore)",
        ),
    ],
)
def test_parse_filter_lines_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_filter_lines(text, "--export-allowlist")
    assert str(exc.value).startswith(message)


def test_parse_filter_lines_invalid_json_message() -> None:
    with pytest.raises(
        ConfigError, match=r"^--export-denylist: line 2: invalid JSON: Expecting value \(column 1\)$"
    ):
        parse_filter_lines('{"pid":[1]}\n}', "--export-denylist")


def test_parse_pid_set_when_enabled() -> None:
    got = parse_filter_lines('{"pid_set": [1]}', "--export-allowlist", enable_pid_set_filter=True)
    assert list(got[0].pid_set) == [1]


# --- compile errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("binary_regex", "binary_regex: invalid RE2 pattern 'a(': missing ): a("),
        ("parent_binary_regex", "parent_binary_regex: invalid RE2 pattern 'a(': missing ): a("),
        ("ancestor_binary_regex", "ancestor_binary_regex: invalid RE2 pattern 'a(': missing ): a("),
        ("namespace_regex", "namespace_regex: invalid RE2 pattern 'a(': missing ): a("),
        ("pod_regex", "pod_regex: invalid RE2 pattern 'a(': missing ): a("),
        ("container_id", "container_id: invalid RE2 pattern 'a(': missing ): a("),
        ("container_name_regex", "container_name_regex: invalid RE2 pattern 'a(': missing ): a("),
        ("arguments_regex", "arguments_regex: invalid RE2 pattern 'a(': missing ): a("),
        ("parent_arguments_regex", "parent_arguments_regex: invalid RE2 pattern 'a(': missing ): a("),
    ],
)
def test_invalid_regex(field: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        compile_filter(flt(**{field: ["ok", "a("]}))
    assert str(exc.value) == message


def test_invalid_regex_go_rejects_too() -> None:
    for pattern, reason in [
        ("a**", "bad repetition operator: **"),
        ("[z-a]", "invalid character class range: z-a"),
    ]:
        with pytest.raises(ConfigError) as exc:
            compile_filter(flt(binary_regex=[pattern]))
        assert str(exc.value) == f"binary_regex: invalid RE2 pattern {pattern!r}: {reason}"


def test_invalid_capability_sets() -> None:
    with pytest.raises(ConfigError) as exc:
        compile_filter(flt(capabilities={"effective": {"any": ["CAP_BPF"], "none": ["CAP_SYS_ADMIN"]}}))
    assert (
        str(exc.value)
        == "capabilities.effective: capability filter may only define one match set, got: any, none"
    )
    with pytest.raises(ConfigError) as exc:
        compile_filter(flt(capabilities={"permitted": {}}))
    assert str(exc.value) == "capabilities.permitted: capability filter must define exactly one match set"
