"""Recorded USDT and loader ring records (tests/data/{usdt,loader}_ring.bin, from
tools/record_policy.py) replayed without root: the decoders, the process cache and the JSON
export, as the agent runs them."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from google.protobuf import json_format
from tetragon_sensor_loader.buildid import BuildIds, FileId
from tetragon_sensor_loader.decode import RECORD, LoaderDecoder
from tetragon_sensor_usdt.decode import UsdtDecoder, UsdtInfo

from tests.unit.replaying import replay_hooks
from tetragon_core.api.convert import to_proto
from tetragon_core.bpf.replay import load_records
from tetragon_core.events import GetEventsResponse, encode_json
from tetragon_core.metrics import Registry
from tetragon_core.policy import argtypes as A
from tetragon_core.policy.kernel import ArgSpec
from tetragon_core.sensors.api import Decoder

DATA = Path(__file__).resolve().parents[1] / "data"
CALL = UsdtInfo(
    "replay",
    "/tmp/tg-replay-usdt",
    "tgtest",
    "call",
    [
        A.ResolvedArg(ArgSpec(A.T_S32, 0, 4, is_signed=True), ""),
        A.ResolvedArg(ArgSpec(A.T_STRING, 8, 8, user=A.USER_USER), ""),
        A.ResolvedArg(ArgSpec(A.T_S64, 16, 8, is_signed=True), ""),
        A.ResolvedArg(ArgSpec(A.T_S32, 24, 4, is_signed=True), ""),
    ],
    "probed",
    ["replay"],
)


def replay(name: str, op: int, decoder: Decoder, reg: Registry) -> list[GetEventsResponse]:
    return replay_hooks(DATA / f"{name}_ring.bin", name, {op: decoder}, reg)


def test_usdt_records_become_process_usdt_events() -> None:
    evs = replay("usdt", 28, UsdtDecoder({1: CALL}), Registry())
    got = [e.process_usdt for e in evs if e.process_usdt is not None]
    assert len(got) == 3  # /tmp/tg-replay-usdt 3 replay: i = 0, 1, 2
    for i, ev in enumerate(got):
        assert [(a.int_arg, a.string_arg, a.long_arg) for a in ev.args] == [
            (i, None, None),
            (None, "replay", None),
            (None, None, str(5_000_000_000 + i)),  # int64 fields are strings, as protojson
            (-i, None, None),
        ]
        assert (ev.path, ev.provider, ev.name, ev.policy_name, ev.message, ev.tags) == (
            "/tmp/tg-replay-usdt",
            "tgtest",
            "call",
            "replay",
            "probed",
            ["replay"],
        )
        assert ev.action == "KPROBE_ACTION_POST"
        assert ev.process is not None and ev.process.binary == "/tmp/tg-replay-usdt"
        assert ev.process.arguments == "3 replay"
    res = next(e for e in evs if e.process_usdt is not None)
    ours = json.loads(encode_json(res))
    assert ours == json_format.MessageToDict(to_proto(res), preserving_proto_field_name=True)
    assert ours["process_usdt"]["args"][2] == {"long_arg": "5000000000"}  # 64-bit ints as strings


def _loader_records() -> list[bytes]:
    return [r for r in load_records(DATA / "loader_ring.bin") if r[0] == 26]


def test_loader_records_with_build_ids_from_the_cache() -> None:
    # the files of the recording are this machine's, not the test's: the cache is seeded with
    # their identities, as the first read of each file would leave it
    ids = BuildIds(proc="/nonexistent")
    want = {}
    for i, rec in enumerate(_loader_records()):
        f = RECORD.unpack_from(rec)
        fid = FileId(f[10], f[8], f[9])
        path = rec[RECORD.size : RECORD.size + f[15]].decode()
        want[path] = bytes([i + 1]) * 20
        ids._cache[fid] = want[path]
    reg = Registry()
    evs = replay("loader", 26, LoaderDecoder(reg, ids), reg)
    got = {e.process_loader.path: e.process_loader for e in evs if e.process_loader is not None}
    assert set(got) == {
        "/tmp/tg-replay-true",
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
    }
    for path, ev in got.items():
        assert ev.buildid == want[path]
        assert ev.process is not None and ev.process.binary == "/tmp/tg-replay-true"
    assert ids.hits == 3 and ids.reads == 0
    stats = reg["tetragon_process_loader_stats"]
    assert stats.get("LoaderReceived") == 3  # (resolution: the parent is not in this cache)
    res = next(e for e in evs if e.process_loader is not None)
    ours = json.loads(encode_json(res))
    assert ours == json_format.MessageToDict(to_proto(res), preserving_proto_field_name=True)


def test_a_loader_record_whose_file_is_gone_or_has_no_build_id_is_counted() -> None:
    reg = Registry()
    dec = LoaderDecoder(reg, BuildIds(proc="/nonexistent"))
    rec = _loader_records()[0]
    gone = bytearray(rec)
    struct.pack_into("<Q", gone, 48, 1)  # an inode no file has: nothing to open is that file
    assert dec(bytes(gone)) is None
    assert reg["tetragon_process_loader_unresolved_total"].get("file_gone") == 1
    assert reg["tetragon_process_loader_stats"].get("LoaderReceived") == 1
