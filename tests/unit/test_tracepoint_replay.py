"""Recorded tracepoint ring records (tests/data/tracepoint_ring.bin, captured from the real kernel
by tools/record_policy.py) replayed through the decoders, the observer, the process cache and
the hook handler, without root."""

from __future__ import annotations

import json
from pathlib import Path

from google.protobuf import json_format

from tests.unit.replaying import replay_hooks
from tetragon_core.api.convert import to_proto
from tetragon_core.bpf.replay import load_records
from tetragon_core.events import GetEventsResponse, encode_json
from tetragon_core.metrics import Registry
from tetragon_core.observer import Observer
from tetragon_core.policy import argtypes as A
from tetragon_core.policy.kernel import ArgSpec
from tetragon_sensor_tracepoint.decode import DecodeError, HookInfo, decode_record

DATA = Path(__file__).resolve().parents[1] / "data" / "tracepoint_ring.bin"

# tools/record_policy.py's policy, as the sensor resolved it on the recording kernel
HOOKS = {
    1: HookInfo(
        "replay",
        "syscalls",
        "sys_enter_openat",
        [
            A.ResolvedArg(ArgSpec(A.T_INT, 16, 4, is_signed=True), ""),
            A.ResolvedArg(ArgSpec(A.T_STRING, 24, 8), "path"),
            A.ResolvedArg(ArgSpec(A.T_INT, 32, 4, is_signed=True), ""),
        ],
        "opened",
        ["replay"],
    ),
    2: HookInfo("replay", "raw_syscalls", "sys_enter", [A.ResolvedArg(ArgSpec(A.T_SYSCALL64, 8, 8), "")]),
}


def replay() -> list[GetEventsResponse]:
    decoders = {14: lambda rec: decode_record(rec, HOOKS)}
    return replay_hooks(DATA, "generic_tracepoint", decoders, Registry())


def test_openat_event_from_the_recording() -> None:
    evs = replay()
    opens = [
        e
        for e in evs
        if e.process_tracepoint is not None and e.process_tracepoint.event == "sys_enter_openat"
    ]
    assert len(opens) == 1  # /etc/hostname did not match the Prefix: the kernel never sent it
    tp = opens[0].process_tracepoint
    assert tp is not None and tp.process is not None
    assert tp.process.binary == "/bin/cat"
    assert tp.process.arguments == "/tmp/tg-replay-match /etc/hostname"
    assert [a.int_arg for a in (tp.args[0], tp.args[2])] == [-100, 0]
    assert tp.args[1].string_arg == "/tmp/tg-replay-match" and tp.args[1].label == "path"
    assert (tp.subsys, tp.policy_name, tp.action, tp.message, tp.tags) == (
        "syscalls",
        "replay",
        "KPROBE_ACTION_POST",
        "opened",
        ["replay"],
    )
    # exec → tracepoint → exit of the same image, in order
    (exec_ev,) = [
        e for e in evs if e.process_exec is not None and e.process_exec.process.binary == "/bin/cat"
    ]  # type: ignore[union-attr]
    assert exec_ev.process_exec.process.exec_id == tp.process.exec_id  # type: ignore[union-attr]
    assert evs.index(exec_ev) < evs.index(opens[0])


def test_raw_syscalls_for_the_named_binary_only() -> None:
    evs = replay()
    raw = [
        e.process_tracepoint
        for e in evs
        if e.process_tracepoint is not None and e.process_tracepoint.subsys == "raw_syscalls"
    ]
    assert len(raw) >= 10
    assert {t.process.binary for t in raw if t and t.process} == {"/tmp/tg-replay-true"}
    ids = [t.args[0].syscall_id for t in raw if t]
    assert all(s is not None and s.abi == "x64" for s in ids)
    assert ids[-1] is not None and ids[-1].id == 231  # exit_group ends /bin/true


def test_json_matches_protobuf_json_format() -> None:
    for ev in replay():
        if ev.process_tracepoint is None:
            continue
        ours = json.loads(encode_json(ev))
        ref = json_format.MessageToDict(to_proto(ev), preserving_proto_field_name=True)
        assert ours == ref


def test_a_record_for_an_unknown_hook_or_truncated_is_an_error_not_a_crash() -> None:
    rec = next(r for r in load_records(DATA) if r[0] == 14)
    try:
        decode_record(rec, {})
    except DecodeError as e:
        assert "unknown hook" in str(e)
    else:
        raise AssertionError("no error")
    reg = Registry()
    seen: list[object] = []
    obs = Observer(reg, seen.append)
    obs.add_decoders("generic_tracepoint", {14: lambda r: decode_record(r, HOOKS)})
    obs.handle_records([rec[:100], rec[:150], rec])  # short header, then a string cut short
    assert len(seen) == 1
