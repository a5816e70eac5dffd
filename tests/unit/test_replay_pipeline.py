"""Recorded raw ring records (tests/data/exec_ring.bin, captured from the real kernel by
tools/record_ring.py) replayed through the exec decoders, the observer and the process cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tetragon_core.bpf.replay import ReplayRing, dump_records, load_records
from tetragon_core.events import GetEventsResponse, encode_json
from tetragon_core.export.timefmt import KtimeClock
from tetragon_core.metrics import Registry
from tetragon_core.observer import Observer
from tetragon_core.process.cache import ProcessCache
from tetragon_core.process.manager import ProcessManager
from tetragon_core.process.messages import CloneMessage, ExecKey, ExecMessage, ExitMessage
from tetragon_sensor_exec import ExecSensor
from tetragon_sensor_exec.decode import decode_exec

DATA = Path(__file__).resolve().parents[1] / "data" / "exec_ring.bin"


def _pipeline() -> tuple[Observer, list[GetEventsResponse], ProcessManager, Registry]:
    reg = Registry()
    mgr = ProcessManager(
        ProcessCache(1000, registry=reg), "node1", KtimeClock(offset_ns=0).rfc3339, registry=reg
    )
    out: list[GetEventsResponse] = []
    # The recording's first process (the recorder) is its own root: seed it as the procfs walk would.
    recs = load_records(DATA)
    first_clone = next(r for r in recs if r[0] == 23)
    parent = ExecSensor().decoders()[23](first_clone).parent  # type: ignore[attr-defined]

    def listener(msg: object) -> None:
        if isinstance(msg, ExecMessage):
            ev = mgr.handle_exec(msg)
        elif isinstance(msg, ExitMessage):
            ev = mgr.handle_exit(msg)
        elif isinstance(msg, CloneMessage):
            mgr.handle_clone(msg)
            return
        else:
            raise AssertionError(msg)
        if ev is not None:
            out.append(ev)

    obs = Observer(reg, listener)
    obs.add_decoders("execve", ExecSensor().decoders())
    seed = decode_exec(next(r for r in recs if r[0] == 5))
    mgr.handle_procfs(
        [
            ExecMessage(
                ktime=parent.ktime,
                pid=parent.pid,
                tid=parent.pid,
                nspid=0,
                flags=0x04,
                parent=ExecKey(0, 1),
                parent_flags=0,
                cleanup_key=None,
                filename="/usr/bin/python3",
                args=["tools/record_ring.py"],
                cwd="/work",
                auid=4294967295,
                creds=seed.creds,
                ns=seed.ns,
            )
        ]
    )
    return obs, out, mgr, reg


def _events(out: list[GetEventsResponse]) -> list[dict[str, Any]]:
    return [json.loads(encode_json(e)) for e in out]


def test_recording_replays_into_exact_events() -> None:
    obs, out, _mgr, _reg = _pipeline()
    ring = ReplayRing(load_records(DATA))
    while recs := ring.read_batch(4):
        obs.handle_records(recs)
    evs = _events(out)
    execs = [e["process_exec"] for e in evs if "process_exec" in e]
    exits = [e["process_exit"] for e in evs if "process_exit" in e]
    by_bin = {e["process"]["binary"]: e for e in execs}

    echo = by_bin["/bin/echo"]["process"]
    sh = [e for e in execs if e["process"]["binary"] == "/bin/sh"]
    assert echo["arguments"] == ' "hello world" replay'  # Tetragon's quoting, leading space included
    assert echo["cwd"] == "/tmp"
    assert echo["flags"] == "execve clone"
    assert echo["uid"] == 0 and echo["auid"] == 4294967295
    assert echo["parent_exec_id"] == sh[0]["process"]["exec_id"]
    assert sh[0]["process"]["arguments"] == "-c \"/bin/echo 'hello world' replay >/dev/null; exit 3\""

    true = by_bin["/bin/true"]
    assert true["process"]["flags"] == "execve rootcwd"  # exec without fork
    assert true["process"]["cwd"] == "/"
    assert true["parent"]["exec_id"] == sh[1]["process"]["exec_id"]  # the previous image
    assert true["parent"]["pid"] == true["process"]["pid"]

    status = {x["process"]["binary"]: (x.get("status"), x.get("signal")) for x in exits}
    assert status["/bin/sh"] == (3, None)
    assert status["/bin/echo"] == (None, None)
    assert status["/bin/sleep"] == (None, "SIGKILL")
    assert len(exits) == 4 and len(execs) == 5


def test_malformed_records_are_counted_not_fatal() -> None:
    obs, out, _mgr, reg = _pipeline()
    recs = load_records(DATA)
    good = len(recs)
    truncated = [r[: len(r) // 2] for r in recs]
    unknown = [bytes([200]) + b"\0" * 40, b""]
    assert obs.handle_records(truncated + unknown + recs) == good
    errors = reg["tetragon_handler_errors_total"].samples()
    assert errors[("5", "event_handler_failed")] == sum(1 for r in recs if r[0] == 5)
    assert errors[("0", "unknown_opcode")] == 2
    assert out  # the good copies still went through


def test_duplicate_op_code_is_refused() -> None:
    obs, _out, _mgr, _reg = _pipeline()
    with pytest.raises(Exception, match="op code 5 is already decoded by 'execve'"):
        obs.add_decoders("other", {5: decode_exec})


def test_recording_format_round_trips(tmp_path: Path) -> None:
    recs = load_records(DATA)
    p = tmp_path / "r.bin"
    assert dump_records(p, recs) == len(recs)
    assert load_records(p) == recs
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(ValueError, match="needs"):
        load_records(p)


def test_a_failing_handler_does_not_stop_the_batch() -> None:
    reg = Registry()
    seen: list[object] = []

    def listener(msg: object) -> None:
        if isinstance(msg, CloneMessage):
            raise RuntimeError("handler bug")
        seen.append(msg)

    obs = Observer(reg, listener)
    obs.add_decoders("execve", ExecSensor().decoders())
    recs = load_records(DATA)
    clones = sum(1 for r in recs if r[0] == 23)
    assert obs.handle_records(recs) == len(recs) - clones
    assert len(seen) == len(recs) - clones
    assert reg["tetragon_handler_errors_total"].samples()[("23", "event_handler_failed")] == clones
