"""Recorded kprobe ring records (tests/data/kprobe_ring.bin, from tools/record_policy.py: a
``sys_openat`` hook with ``return: true``) replayed without root, and the entry/return merge's
edge cases on records built from them."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from google.protobuf import json_format
from tetragon_sensor_kprobe import decode as D

from tests.promtext import value
from tests.unit.replaying import replay_hooks
from tetragon_core.api.convert import to_proto
from tetragon_core.bpf.replay import load_records
from tetragon_core.events import GetEventsResponse, ProcessKprobe, encode_json
from tetragon_core.metrics import Registry
from tetragon_core.policy import argtypes as A
from tetragon_core.policy.kernel import ArgSpec
from tetragon_core.policy.kernel_ret import ReturnSpec
from tetragon_core.sensors.hookdecode import HEADER

DATA = Path(__file__).resolve().parents[1] / "data" / "kprobe_ring.bin"
OPENAT = D.KprobeInfo(
    "replay",
    "__x64_sys_openat",
    [
        A.ResolvedArg(ArgSpec(A.T_INT, 16, 4, is_signed=True), ""),
        A.ResolvedArg(ArgSpec(A.T_STRING, 24, 8), "path"),
        A.ResolvedArg(ArgSpec(A.T_INT, 32, 4, is_signed=True), ""),
    ],
    ReturnSpec(ArgSpec(A.T_INT, 0, 8, is_signed=True)),
    "opened",
    ["replay"],
)


def replay(reg: Registry | None = None) -> list[GetEventsResponse]:
    reg = reg or Registry()
    return replay_hooks(DATA, "generic_kprobe", {13: D.KprobeDecoder({1: OPENAT}, reg)}, reg)


def kprobes(evs: list[GetEventsResponse]) -> list[ProcessKprobe]:
    return [e.process_kprobe for e in evs if e.process_kprobe is not None]


def test_entry_and_return_leave_as_one_event_each() -> None:
    reg = Registry()
    evs = replay(reg)
    kp = kprobes(evs)
    # /etc/hostname did not match the Prefix: neither its entry nor its return left the kernel
    assert [k.args[1].string_arg for k in kp] == ["/tmp/tg-replay-match", "/tmp/tg-replay-missing"]
    ok, missing = kp
    assert ok.return_ is not None and ok.return_.int_arg == 3  # cat's first free fd
    assert missing.return_ is not None and missing.return_.int_arg == -2  # -ENOENT
    assert ok.function_name == "__x64_sys_openat" and ok.args[0].int_arg == -100  # AT_FDCWD
    assert (ok.policy_name, ok.action, ok.return_action, ok.message, ok.tags) == (
        "replay",
        "KPROBE_ACTION_POST",
        "KPROBE_ACTION_POST",
        "opened",
        ["replay"],
    )
    assert ok.process is not None and ok.process.binary == "/bin/cat"
    assert reg["tetragon_generic_kprobe_merge_ok_total"].get() == 2
    assert reg["tetragon_generic_kprobe_merge_pushed_total"].get() == 2


def test_json_matches_protobuf_json_format() -> None:
    for ev in replay():
        if ev.process_kprobe is None:
            continue
        ours = json.loads(encode_json(ev))
        assert ours["process_kprobe"]["return"] == {"int_arg": ours["process_kprobe"]["return"]["int_arg"]}
        assert ours == json_format.MessageToDict(to_proto(ev), preserving_proto_field_name=True)


def _records() -> tuple[bytes, bytes]:
    recs = [r for r in load_records(DATA) if r[0] == 13]
    return recs[0], recs[1]  # the first entry and its return


def _with(rec: bytes, *, ktime: int | None = None, retprobe_id: int | None = None) -> bytes:
    f = list(HEADER.unpack_from(rec))
    if ktime is not None:
        f[3] = ktime
    if retprobe_id is not None:
        f[20] = retprobe_id
    return HEADER.pack(*f) + rec[HEADER.size :]


def test_a_return_without_its_entry_is_counted_not_sent() -> None:
    reg = Registry()
    dec = D.KprobeDecoder({1: OPENAT}, reg)
    _, ret = _records()
    assert dec(ret) is None
    text = reg.exposition()
    merge_errors = "tetragon_generic_kprobe_merge_errors_total"
    assert (
        value(text, merge_errors, curr_fn="__x64_sys_openat", curr_type="exit", prev_fn="", prev_type="") == 1
    )


def test_an_entry_that_never_returns_is_sent_without_a_return() -> None:
    reg = Registry()
    dec = D.KprobeDecoder({1: OPENAT}, reg)
    entry, _ = _records()
    t0 = HEADER.unpack_from(entry)[3]
    assert dec(entry) is None and dec.pending == 1
    later = _with(entry, ktime=t0 + D.MAX_WAIT_NS + 1, retprobe_id=t0 + D.MAX_WAIT_NS + 1)
    out = dec(later)  # the old entry is given up; the new one waits
    assert isinstance(out, list) and len(out) == 1
    assert out[0].event.return_ is None and out[0].event.args[1].string_arg == "/tmp/tg-replay-match"
    assert dec.pending == 1
    errors = reg["tetragon_generic_kprobe_merge_errors_total"]
    assert errors.get("", "exit", "__x64_sys_openat", "enter") == 1


def test_pending_entries_are_bounded() -> None:
    dec = D.KprobeDecoder({1: OPENAT})
    entry, _ = _records()
    t0 = HEADER.unpack_from(entry)[3]
    sent = 0
    for i in range(D.MAX_PENDING + 5):
        out = dec(_with(entry, ktime=t0 + i, retprobe_id=t0 + i))
        sent += len(out) if isinstance(out, list) else 0
    assert dec.pending == D.MAX_PENDING and sent == 5


def test_a_return_for_an_unknown_hook_is_an_error() -> None:
    _, ret = _records()
    try:
        D.KprobeDecoder({})(ret)
    except D.DecodeError as e:
        assert "unknown hook 1" in str(e)
    else:
        raise AssertionError("no error")
    assert struct.unpack_from("<B", ret)[0] == 13
