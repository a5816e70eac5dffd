"""Filters, field filters and CEL on the tracing events (kprobe, tracepoint, uprobe, LSM, USDT…)."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import field_mask_pb2, wrappers_pb2

from tests.unit.samples_tracing import (
    CASES,
    kprobe_tcp_connect,
    kprobe_write,
    loader_libc,
    lsm_file_open,
    throttle,
    tracepoint_openat,
    uprobe_readline,
    usdt_python,
)
from tetragon_core import events as ev
from tetragon_core.api.tetragon import events_pb2
from tetragon_core.fieldfilters import compile_field_filters
from tetragon_core.filters import EventFilter, compile_filter, event_parts, event_type_name

# (builder, EventType name, process binary, parent binary, policy name) per event kind
KINDS: list[tuple[Any, str, str | None, str | None, str]] = [
    (kprobe_write, "PROCESS_KPROBE", "/usr/bin/cat", "/bin/bash", "file-write"),
    (tracepoint_openat, "PROCESS_TRACEPOINT", "/usr/bin/cat", "/bin/bash", "sys-openat"),
    (uprobe_readline, "PROCESS_UPROBE", "/bin/bash", "<kernel>", "bash-readline"),
    (lsm_file_open, "PROCESS_LSM", "/usr/bin/cat", "/bin/bash", "lsm-file-open"),
    (usdt_python, "PROCESS_USDT", "/usr/bin/python3.12", "/bin/bash", "py-calls"),
    (loader_libc, "PROCESS_LOADER", "/usr/bin/cat", "/bin/bash", ""),
    (throttle, "PROCESS_THROTTLE", None, None, ""),
]
IDS = [k[1] for k in KINDS]


def flt(**fields: Any) -> events_pb2.Filter:
    return events_pb2.Filter(**fields)


def matches(f: events_pb2.Filter, event: ev.GetEventsResponse) -> bool:
    return compile_filter(f)(event)


@pytest.mark.parametrize(("make", "kind", "binary", "parent", "policy"), KINDS, ids=IDS)
def test_parts_and_event_type(
    make: Any, kind: str, binary: str | None, parent: str | None, policy: str
) -> None:
    event = make()
    assert event.event_type() == kind and event_type_name(event) == kind
    parts = event_parts(event)
    assert parts.kind == kind.lower()
    assert (parts.process.binary if parts.process else None) == binary
    assert (parts.parent.binary if parts.parent else None) == parent
    assert parts.policy_name == policy


@pytest.mark.parametrize(("make", "kind", "binary", "parent", "policy"), KINDS, ids=IDS)
def test_event_set(make: Any, kind: str, binary: str | None, parent: str | None, policy: str) -> None:
    event = make()
    number = events_pb2.EventType.Value(kind)
    assert matches(flt(event_set=[number]), event)
    others = [n for n in events_pb2.EventType.values() if n != number]
    assert not matches(flt(event_set=others), event)
    # the usual allow list of tetra/Helm (event_set alone takes the fast path, without parts)
    allow = EventFilter([flt(event_set=[events_pb2.PROCESS_EXEC, number])])
    assert allow(event)
    assert not EventFilter([flt(event_set=[events_pb2.PROCESS_EXEC])])(event)


@pytest.mark.parametrize(("make", "kind", "binary", "parent", "policy"), KINDS, ids=IDS)
def test_process_parent_and_policy(
    make: Any, kind: str, binary: str | None, parent: str | None, policy: str
) -> None:
    event = make()
    assert matches(flt(binary_regex=[f"^{binary}$"]), event) == (binary is not None)
    assert matches(flt(parent_binary_regex=[f"^{parent}$"]), event) == (parent is not None)
    assert matches(flt(policy_names=[policy or "none"]), event) == bool(policy)
    assert not matches(flt(policy_names=["other"]), event)
    # a deny list on the policy drops only that policy's events
    assert EventFilter(deny=[flt(policy_names=["file-write"])])(event) == (policy != "file-write")


def test_namespace_and_pod_of_the_process() -> None:
    assert matches(flt(namespace=["default"], pod_regex=["^file-access$"]), kprobe_write())
    assert not matches(flt(namespace=["default"]), tracepoint_openat())  # host process
    assert matches(flt(namespace=[""]), tracepoint_openat())
    assert matches(flt(arguments_regex=["passwd"]), lsm_file_open())


def test_ancestors() -> None:
    assert matches(flt(ancestor_binary_regex=["^<kernel>$"]), tracepoint_openat())
    assert not matches(flt(ancestor_binary_regex=["^<kernel>$"]), kprobe_write())


@pytest.mark.parametrize(
    ("expr", "event", "expected"),
    [
        ('process_kprobe.function_name == "__x64_sys_write"', kprobe_write, True),
        ('process_kprobe.policy_name == "file-write"', kprobe_write, True),
        ('process_kprobe.args[0].file_arg.path == "/tmp/out.txt"', kprobe_write, True),
        ("process_kprobe.args[2].size_arg == 6u", kprobe_write, True),
        ('process_kprobe.args[1].bytes_arg == b"hello\\n\\xff\\x00"', kprobe_write, True),
        ("process_kprobe.action == KprobeAction.KPROBE_ACTION_POST", kprobe_write, True),
        ('process_kprobe.args[0].sock_arg.daddr == "104.198.14.52"', kprobe_tcp_connect, True),
        ("process_kprobe.args[0].sock_arg.dport == 443u", kprobe_tcp_connect, True),
        ("has(process_kprobe.args[0].sock_arg)", kprobe_tcp_connect, True),
        ("has(process_kprobe.args[0].file_arg)", kprobe_tcp_connect, False),
        ('process_tracepoint.subsys == "syscalls"', tracepoint_openat, True),
        ("process_tracepoint.args[0].int_arg == -100", tracepoint_openat, True),
        ('process_lsm.ima_hash.startsWith("sha256:")', lsm_file_open, True),
        ('process_uprobe.symbol == "readline" && process_uprobe.offset == 871520u', uprobe_readline, True),
        ('process_usdt.provider == "python"', usdt_python, True),
        (
            'process_loader.buildid == b"\\x0a\\x1b\\x2c\\x3d\\x4e\\x5f\\x60\\x71\\x82\\x93'
            '\\xa4\\xb5\\xc6\\xd7\\xe8\\xf9\\x01\\x23\\x45\\x67"',
            loader_libc,
            True,
        ),
        ("process_throttle.type == ThrottleType.THROTTLE_START", throttle, True),
        ('process_kprobe.function_name == "x"', tracepoint_openat, False),  # other kind: defaults
    ],
)
def test_cel_on_tracing_events(expr: str, event: Any, expected: bool) -> None:
    assert matches(flt(cel_expression=[expr]), event()) is expected


def test_field_filters_on_tracing_events() -> None:
    keep_fn = events_pb2.FieldFilter(
        event_set=[events_pb2.PROCESS_KPROBE],
        fields=field_mask_pb2.FieldMask(paths=["function_name", "args.file_arg.path", "return"]),
        action=events_pb2.INCLUDE,
    )
    out = compile_field_filters([keep_fn])(kprobe_write())
    assert out.process_kprobe == ev.ProcessKprobe(
        function_name="__x64_sys_write",
        args=[
            ev.KprobeArgument(file_arg=ev.KprobeFile(path="/tmp/out.txt")),
            ev.KprobeArgument(),
            ev.KprobeArgument(),
        ],
        return_=ev.KprobeArgument(int_arg=6),
    )
    drop_stacks = events_pb2.FieldFilter(
        fields=field_mask_pb2.FieldMask(paths=["kernel_stack_trace", "user_stack_trace", "process.pod"]),
        action=events_pb2.EXCLUDE,
        invert_event_set=wrappers_pb2.BoolValue(value=False),
    )
    out = compile_field_filters([drop_stacks])(kprobe_write())
    assert out.process_kprobe is not None and out.process_kprobe.process is not None
    assert not out.process_kprobe.kernel_stack_trace and not out.process_kprobe.user_stack_trace
    assert out.process_kprobe.process.pod is None
    original = kprobe_write().process_kprobe
    assert original is not None and out.process_kprobe.args == original.args
    # a tracepoint has no stack traces and a host process: nothing to drop
    assert compile_field_filters([drop_stacks])(tracepoint_openat()) == tracepoint_openat()


def test_every_tracing_sample_passes_an_empty_filter() -> None:
    everything = compile_filter(events_pb2.Filter())
    assert all(everything(make()) for make in CASES.values())
