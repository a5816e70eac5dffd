"""Field filters (``--field-filters``, ``GetEventsRequest.field_filters``): Tetragon's semantics."""

from __future__ import annotations

import msgspec
import pytest

from tetragon_core import events as ev
from tetragon_core.api.tetragon import events_pb2
from tetragon_core.exceptions import ConfigError
from tetragon_core.fieldfilters import FieldFilterChain, compile_field_filters, parse_field_filter_lines

INCLUDE = "INCLUDE"
EXCLUDE = "EXCLUDE"


def ff(
    fields: str | list[str] | None,
    action: str = INCLUDE,
    event_set: tuple[str, ...] = (),
    invert: bool | None = None,
) -> events_pb2.FieldFilter:
    f = events_pb2.FieldFilter(event_set=list(event_set), action=action)
    if fields is not None:
        f.fields.paths.extend(fields.split(",") if isinstance(fields, str) else fields)
    if invert is not None:
        f.invert_event_set.value = invert
    return f


def proc(pid: int, binary: str, **kw: object) -> ev.Process:
    return ev.Process(
        exec_id=f"bm9kZToxOj{pid}",
        pid=pid,
        uid=0,
        cwd="/",
        binary=binary,
        arguments="-c hello.sh",
        flags="execve clone",
        start_time="2024-04-14T02:18:14.376304204Z",
        auid=4294967295,
        parent_exec_id="bm9kZToxOjE=",
        tid=pid,
        **kw,  # type: ignore[arg-type]
    )


POD = ev.Pod(
    namespace="kube-system",
    name="foobar",
    container=ev.Container(
        id="testificate",
        name="testificate",
        image=ev.Image(id="img", name="testificate"),
        start_time="2024-04-14T02:18:14Z",
        pid=1,
    ),
    pod_labels={"test": "test"},
)

PROCESS = proc(
    1337,
    "/bin/bash",
    pod=POD,
    cap=ev.Capabilities(permitted=["CAP_CHOWN"], effective=["CAP_CHOWN"]),
    environment_variables=[ev.EnvVar(key="HOME", value="/root")],
)
PARENT = proc(1, "/sbin/init")
ANCESTORS = [proc(1, "/sbin/init"), proc(2, "/usr/bin/kthreadd")]


def exec_event() -> ev.GetEventsResponse:
    return ev.GetEventsResponse(
        process_exec=ev.ProcessExec(process=PROCESS, parent=PARENT, ancestors=list(ANCESTORS)),
        node_name="node-1",
        time="2024-04-14T02:18:14.376304204Z",
        cluster_name="c1",
        node_labels={"zone": "a"},
    )


def exit_event() -> ev.GetEventsResponse:
    return ev.GetEventsResponse(
        process_exit=ev.ProcessExit(
            process=PROCESS, parent=PARENT, signal="SIGKILL", status=0, time="2024-04-14T02:18:15Z"
        ),
        node_name="node-1",
        time="2024-04-14T02:18:15Z",
    )


def as_json(e: ev.GetEventsResponse) -> dict[str, object]:
    out: dict[str, object] = msgspec.json.decode(ev.encode_json(e))
    return out


def run(filters: list[events_pb2.FieldFilter], event: ev.GetEventsResponse) -> dict[str, object]:
    return as_json(compile_field_filters(filters)(event))


# ---- INCLUDE / EXCLUDE --------------------------------------------------------------------


def test_include_keeps_only_listed_fields_and_top_level_info() -> None:
    out = run([ff("process.binary,parent.pid")], exec_event())
    assert out == {
        "process_exec": {"process": {"binary": "/bin/bash"}, "parent": {"pid": 1}},
        "node_name": "node-1",
        "time": "2024-04-14T02:18:14.376304204Z",
        "cluster_name": "c1",
        "node_labels": {"zone": "a"},
    }


def test_include_whole_message_field() -> None:
    out = run([ff("parent")], exec_event())
    assert out["process_exec"] == {"parent": as_json(exec_event())["process_exec"]["parent"]}  # type: ignore[index]


def test_exclude_drops_listed_fields() -> None:
    out = run([ff("parent,process.pid,process.pod", EXCLUDE)], exec_event())
    pe = out["process_exec"]
    assert isinstance(pe, dict)
    assert "parent" not in pe
    assert "pid" not in pe["process"] and "pod" not in pe["process"]
    assert pe["process"]["binary"] == "/bin/bash"
    assert len(pe["ancestors"]) == 2


def test_nested_paths() -> None:
    out = run([ff("process.pod.container.image,process.pod.pod_labels", EXCLUDE)], exec_event())
    pod = out["process_exec"]["process"]["pod"]  # type: ignore[index]
    assert pod == {
        "namespace": "kube-system",
        "name": "foobar",
        "container": {
            "id": "testificate",
            "name": "testificate",
            "start_time": "2024-04-14T02:18:14Z",
            "pid": 1,
        },
    }
    out = run([ff("process.pod.container.image.name")], exec_event())
    assert out["process_exec"] == {"process": {"pod": {"container": {"image": {"name": "testificate"}}}}}


def test_upstream_event_field_filters_example() -> None:
    # pkg/fieldfilters/fields_test.go TestEventFieldFilters.
    filters = [
        ff("parent,process.pid,process.uid,process.pod"),
        ff("process.pid,process.pod.pod_labels,process.pod.container.image,process.pod.namespace", EXCLUDE),
    ]
    out = run(filters, exec_event())
    assert out["process_exec"] == {
        "process": {
            "uid": 0,
            "pod": {
                "name": "foobar",
                "container": {
                    "id": "testificate",
                    "name": "testificate",
                    "start_time": "2024-04-14T02:18:14Z",
                    "pid": 1,
                },
            },
        },
        "parent": as_json(exec_event())["process_exec"]["parent"],  # type: ignore[index]
    }
    # Upstream's parent is an empty Process (so its "Parent is empty" check holds trivially);
    # here it is populated: "parent" is included and never excluded, so it is kept whole.


@pytest.mark.parametrize("order", ["include_first", "exclude_first"])
def test_exclude_wins_over_include(order: str) -> None:
    inc = ff("process.binary,process.pid")
    exc = ff("process.pid", EXCLUDE)
    filters = [inc, exc] if order == "include_first" else [exc, inc]
    out = run(filters, exec_event())
    assert out["process_exec"] == {"process": {"binary": "/bin/bash"}}


def test_every_include_drops_what_it_does_not_list() -> None:
    out = run([ff("process.binary,process.pid"), ff("process.pid,parent")], exec_event())
    assert out["process_exec"] == {"process": {"pid": 1337}}


def test_longer_path_refines_shorter_one_as_upstream() -> None:
    # fieldmask-utils merges "process" and "process.pid" into process{pid}.
    assert run([ff("process,process.pid")], exec_event())["process_exec"] == {"process": {"pid": 1337}}
    out = run([ff("parent,parent.pid", EXCLUDE)], exec_event())
    parent = out["process_exec"]["parent"]  # type: ignore[index]
    assert "pid" not in parent and parent["binary"] == "/sbin/init"


def test_repeated_messages_are_filtered_element_wise() -> None:
    out = run([ff("ancestors.binary")], exec_event())
    assert out["process_exec"] == {"ancestors": [{"binary": "/sbin/init"}, {"binary": "/usr/bin/kthreadd"}]}
    out = run([ff("ancestors.pid,ancestors.exec_id", EXCLUDE)], exec_event())
    for a in out["process_exec"]["ancestors"]:  # type: ignore[index]
        assert "pid" not in a and "exec_id" not in a and "binary" in a


def test_env_var_fields_use_proto_names() -> None:
    out = run([ff("process.environment_variables.Key")], exec_event())
    assert out["process_exec"] == {"process": {"environment_variables": [{"Key": "HOME"}]}}


def test_segments_match_like_go_field_names() -> None:
    for spelling in ("process.exec_id", "process.execId", "Process.ExecId"):
        assert run([ff(spelling)], exec_event())["process_exec"] == {"process": {"exec_id": "bm9kZToxOj1337"}}


def test_include_without_paths_keeps_everything() -> None:
    e = exec_event()
    chain = compile_field_filters([ff(None), ff([], EXCLUDE)])
    assert not chain
    assert chain(e) is e


def test_include_of_fields_absent_from_this_event_type_empties_it() -> None:
    # "signal" only exists in ProcessExit: an INCLUDE for every type keeps nothing of an exec.
    chain = compile_field_filters([ff("signal")])
    assert as_json(chain(exec_event()))["process_exec"] == {}
    assert as_json(chain(exit_event()))["process_exit"] == {"signal": "SIGKILL"}


def test_rate_limit_info_is_an_event_type_too() -> None:
    e = ev.GetEventsResponse(rate_limit_info=ev.RateLimitInfo(number_of_dropped_process_events="3"))
    assert as_json(compile_field_filters([ff("process.pid")])(e)) == {"rate_limit_info": {}}
    f = ff("process.pid", event_set=("PROCESS_EXEC",))
    assert compile_field_filters([f])(e) is e


# ---- event sets ---------------------------------------------------------------------------


def test_event_set_selects_types() -> None:
    # pkg/fieldfilters/fields_test.go TestFieldFilterByEventType.
    e = exec_event()
    assert compile_field_filters([ff("process.pid", EXCLUDE, ("PROCESS_EXIT",))])(e) is e
    out = run([ff("process.pid", EXCLUDE, ("PROCESS_EXEC",))], e)
    assert "pid" not in out["process_exec"]["process"]  # type: ignore[index]
    out = run([ff("process.pid", EXCLUDE, ("PROCESS_EXIT",))], exit_event())
    assert "pid" not in out["process_exit"]["process"]  # type: ignore[index]


def test_inverted_event_set() -> None:
    # pkg/fieldfilters/fields_test.go TestFieldFilterInvertedEventSet.
    e = exec_event()
    assert compile_field_filters([ff("process,parent", EXCLUDE, ("PROCESS_EXEC",), True)])(e) is e
    out = run([ff("process,parent", EXCLUDE, ("PROCESS_KPROBE",), True)], e)
    assert out["process_exec"] == {"ancestors": as_json(e)["process_exec"]["ancestors"]}  # type: ignore[index]
    # invert_event_set=false is the same as unset.
    assert compile_field_filters([ff("process", EXCLUDE, ("PROCESS_EXIT",), False)])(e) is e


def test_slim_exec_events_example() -> None:
    # pkg/fieldfilters/fields_test.go TestSlimExecEventsFieldFilterExample, on exec and exit.
    filters = [
        ff("parent", EXCLUDE),
        ff(
            "process.pid,process.uid,process.cwd,process.binary,process.arguments,process.flags,"
            "process.start_time,process.auid,process.pod,process.docker,process.refcnt,process.cap,"
            "process.ns,process.tid,process.environment_variables",
            EXCLUDE,
            ("PROCESS_EXEC",),
            True,
        ),
    ]
    chain = compile_field_filters(filters)
    ex = as_json(chain(exec_event()))["process_exec"]
    assert ex["process"] == as_json(exec_event())["process_exec"]["process"]  # type: ignore[index]
    assert "parent" not in ex  # type: ignore[operator]
    assert as_json(chain(exit_event()))["process_exit"] == {
        "process": {"exec_id": PROCESS.exec_id, "parent_exec_id": "bm9kZToxOjE="},
        "signal": "SIGKILL",
        "time": "2024-04-14T02:18:15Z",
    }


# ---- no mutation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filters",
    [
        [ff("process.binary,parent.pid,ancestors.binary")],
        [ff("process.pod.container.image,process.pid,ancestors.pid,parent", EXCLUDE)],
        [ff("process"), ff("process.pod.name", EXCLUDE)],
        [ff("process.environment_variables.Value", EXCLUDE)],
    ],
)
def test_inputs_are_never_modified(filters: list[events_pb2.FieldFilter]) -> None:
    e = exec_event()
    snapshot = ev.encode_json(e)
    shared = (PROCESS, PARENT, *ANCESTORS, POD)
    shared_json = [msgspec.json.encode(s) for s in shared]
    out = compile_field_filters(filters)(e)
    assert out is not e
    assert ev.encode_json(e) == snapshot
    assert [msgspec.json.encode(s) for s in shared] == shared_json
    assert e.process_exec is not None and e.process_exec.process is PROCESS


def test_untouched_subtrees_are_shared() -> None:
    e = exec_event()
    out = compile_field_filters([ff("process.pid", EXCLUDE)])(e)
    assert out.process_exec is not None and e.process_exec is not None
    assert out.process_exec.process is not PROCESS
    assert out.process_exec.parent is PARENT
    assert out.process_exec.process is not None and out.process_exec.process.pod is POD


# ---- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("f", "match"),
    [
        (ff("process.nope"), r"'process\.nope'.*no field 'nope' in process"),
        (ff("bogus"), r"'bogus': no field 'bogus' in any event$"),
        (ff("signal", event_set=("PROCESS_EXEC",)), r"'signal': no field 'signal' in ProcessExec"),
        (
            ff("function_name", event_set=("PROCESS_EXEC", "PROCESS_EXIT")),
            r"'function_name': no field 'function_name' in any of PROCESS_EXEC, PROCESS_EXIT$",
        ),
        (ff("process.start_time.seconds"), r"'process\.start_time\.seconds'.*no sub-fields"),
        (ff("process.pod.pod_labels.app"), r"'process\.pod\.pod_labels\.app'.*no sub-fields"),
        (ff("process..pid"), r"'process\.\.pid'.*empty field name"),
        (ff("process.binary.x"), r"'process\.binary' has no sub-fields"),
        (ff(""), r"'': empty field name"),
    ],
)
def test_invalid_paths_are_config_errors(f: events_pb2.FieldFilter, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        compile_field_filters([f])


def test_path_valid_for_some_selected_type_is_accepted() -> None:
    chain = compile_field_filters([ff("signal,function_name", EXCLUDE)])
    assert "signal" not in as_json(chain(exit_event()))["process_exit"]  # type: ignore[operator]
    e = exec_event()
    assert chain(e) is e


def test_invalid_action() -> None:
    f = events_pb2.FieldFilter(action=7)  # type: ignore[arg-type]
    f.fields.paths.append("process")
    with pytest.raises(ConfigError, match="invalid action 7"):
        compile_field_filters([f])


# ---- parsing --field-filters -------------------------------------------------------------


def test_parse_upstream_example() -> None:
    # pkg/fieldfilters/parse_test.go TestParseFieldFilterList.
    text = (
        '{"event_set":["PROCESS_EXEC","PROCESS_EXIT"], "fields":"process.start_time,process.binary,'
        'process.arguments,process.cap,process.ns,parent.binary", "action":"INCLUDE"}\n'
        '{"event_set":["PROCESS_KPROBE"], "fields":"process.start_time,process.binary,'
        'process.arguments,process.cap,process.ns,parent.binary,function_name", "action":"INCLUDE"}'
    )
    filters = parse_field_filter_lines(text)
    assert len(filters) == 2
    assert list(filters[0].fields.paths)[:2] == ["process.start_time", "process.binary"]
    assert list(filters[0].event_set) == [events_pb2.PROCESS_EXEC, events_pb2.PROCESS_EXIT]
    assert filters[1].fields.paths[-1] == "function_name"
    out = as_json(compile_field_filters(filters)(exec_event()))["process_exec"]
    assert out == {
        "process": {
            "start_time": PROCESS.start_time,
            "binary": "/bin/bash",
            "arguments": "-c hello.sh",
            "cap": {"permitted": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"]},
        },
        "parent": {"binary": "/sbin/init"},
    }


def test_parse_accepts_both_spellings_numbers_and_invert() -> None:
    text = (
        '{"eventSet":[5], "fields":"process.execId, parent.exec_id", "action":"EXCLUDE",'
        ' "invertEventSet":true}\n\n'
        '{"event_set":["PROCESS_EXEC"],\n "fields":"process.pid",\n "invert_event_set":false}'
        '{"fields":"process.environment_variables.Key"}'
    )
    a, b, c = parse_field_filter_lines(text)
    assert list(a.fields.paths) == ["process.exec_id", "parent.exec_id"]
    assert a.action == events_pb2.EXCLUDE and a.invert_event_set.value is True
    assert list(a.event_set) == [events_pb2.PROCESS_EXIT]
    assert b.action == events_pb2.INCLUDE and b.HasField("invert_event_set")
    assert not b.invert_event_set.value
    out = as_json(compile_field_filters([c])(exec_event()))
    assert out["process_exec"] == {"process": {"environment_variables": [{"Key": "HOME"}]}}


def test_parse_empty_and_blank() -> None:
    assert parse_field_filter_lines("") == []
    assert parse_field_filter_lines("  \n\n") == []


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"fields":"process.pid","action":"INCLUDE"', r"^--field-filters: line 1: invalid JSON"),
        (
            '{"fields":"process.pid"}\n\n{"fields":"process.nope"}',
            r"^--field-filters: line 3: .*'process\.nope'",
        ),
        (
            '{"fields":"process.pid"}\n["x"]',
            r"^--field-filters: line 2: expected a JSON object, got an array",
        ),
        ('{"fields":"process.pid","bogus":1}', r"^--field-filters: line 1: .*bogus"),
        ('{"event_set":["NOPE"]}', r"^--field-filters: line 1: .*NOPE"),
        ('{"action":"MAYBE"}', r"^--field-filters: line 1: .*MAYBE"),
        (
            '{"fields":"process.pid"}\n{"fields":"process.pid",\n"action": }',
            r"^--field-filters: line 3: invalid",
        ),
        ('{"fields":"process.pid,,parent"}', r"^--field-filters: line 1: .*'': empty field name"),
    ],
)
def test_parse_errors_name_flag_and_line(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_field_filter_lines(text)


def test_parse_error_uses_given_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--export-field-filters: line 1: "):
        parse_field_filter_lines('{"fields":"nope"}', flag="--export-field-filters")


def test_chain_type() -> None:
    chain = compile_field_filters([ff("process.pid")])
    assert isinstance(chain, FieldFilterChain) and chain
