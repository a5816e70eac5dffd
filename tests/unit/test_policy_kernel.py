"""The selector compiler (policy/kernel.py): layouts equal to the BPF object's, map entries, errors."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from importlib.resources import files

import pytest

from tetragon_core.policy import PolicyError, kernel as K, parse_policy
from tetragon_core.policy.kernel import ArgSpec, HostInfo, compile_hook
from tetragon_core.policy.lists import list_resolver

OBJ = files("tetragon_sensor_tracepoint") / "bpf" / "bpf_generic_tracepoint.o"
INT = ArgSpec(1, 16, 4, is_signed=True)
STR = ArgSpec(6, 24, 8)
ARGS = [INT, STR]


def btf_sizes() -> dict[str, int]:
    # both come with the test command's bootstrap (apt bpftool, `make bpf`)
    assert shutil.which("bpftool") is not None, "bpftool is missing (run ./scripts/test)"
    assert OBJ.is_file(), f"{OBJ} is missing (run `make bpf`)"
    out = subprocess.run(
        ["bpftool", "btf", "dump", "file", str(OBJ), "format", "raw"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {m[0]: int(m[1]) for m in re.findall(r"STRUCT '(\w+)' size=(\d+)", out)}


def test_layouts_match_the_bpf_object() -> None:
    sizes = btf_sizes()
    assert sizes["tg_hook_cfg"] == K.HOOK_CFG_SIZE
    assert sizes["tg_selector"] == K.SELECTOR_SIZE
    assert sizes["tg_arg_cfg"] == K._ARG_CFG.size
    assert sizes["tg_pid_filter"] == K._PID.size
    assert sizes["tg_ns_filter"] == K._NS.size
    assert sizes["tg_cap_filter"] == K._CAP.size
    assert sizes["tg_arg_filter"] == K._ARGF.size
    assert sizes["tg_action"] == K._ACT.size
    assert sizes["tg_lpm_key"] == 8 + K.STR_LPM_MAX
    assert sizes["tg_str_key32"] == 40 and sizes["tg_bin_key"] == 264 and sizes["tg_int_key"] == 16


def selectors(yaml_sel: str) -> list:  # type: ignore[type-arg]
    text = f"""apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: {{name: t}}
spec:
  lists: [{{name: dups, type: syscalls, values: [sys_dup, dup2]}}]
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_openat
    args: [{{index: 5, type: int}}, {{index: 6, type: string}}]
    selectors: {yaml_sel}
"""
    p = parse_policy(text)
    return [p.spec.tracepoints[0].selectors, list_resolver(p.spec.lists)]


def compile_sel(yaml_sel: str, args: list[ArgSpec] | None = None) -> K.CompiledHook:
    sels, lists = selectors(yaml_sel)
    return compile_hook(
        "spec.tracepoints[0]", 7, args or ARGS, sels, lists=lists, host=HostInfo(tuple(range(1, 11)))
    )


def test_header_and_arg_config() -> None:
    out = compile_sel("[{matchArgs: [{index: 1, operator: Prefix, values: [/etc/]}]}]")
    hook_id, nargs, nsel, flags = struct.unpack_from("<4I", out.cfg)
    assert (hook_id, nargs, nsel, flags) == (7, 2, 1, 0)
    assert K._ARG_CFG.unpack_from(out.cfg, 16) == (1, 16, 4, 1, 0, 2, 0)
    assert struct.unpack_from("<I", out.cfg, 76)[0] == 0b10  # selectors read arg 1 only
    assert list(out.maps) == ["tg_str_prefix"]
    (key,) = out.maps["tg_str_prefix"]
    assert struct.unpack_from("<II", key) == (32 + 8 * 5, 0) and key[8:13] == b"/etc/"


def test_string_equal_buckets_and_length_bitmap() -> None:
    long = "/" + "x" * 40
    out = compile_sel(f"[{{matchArgs: [{{index: 1, operator: Equal, values: [/a, {long}]}}]}}]")
    (k32,) = out.maps["tg_str_eq32"]
    (k64,) = out.maps["tg_str_eq64"]
    assert k32 == struct.pack("<II", 0, 2) + b"/a" + b"\0" * 30
    assert len(k64) == 72 and struct.unpack_from("<II", k64) == (0, 41)
    argf = K._ARGF.unpack_from(out.cfg, 80 + 40 + 44 * 4 + 28 * 10 + 24 * 8)
    assert argf[:4] == (1, 3, 0, 1)
    assert argf[4:8] == ((1 << 2) | (1 << 41), 0, 0, 0)  # the values' lengths, 2 and 41


def test_short_equal_values_are_compared_in_place() -> None:
    out = compile_sel("[{matchArgs: [{index: 1, operator: NotEqual, values: [/dev/null, /a]}]}]")
    assert list(out.maps) == ["tg_str_short"]  # no hash map entries: nothing to look up
    ((key, value),) = out.maps["tg_str_short"].items()
    assert key == struct.pack("<I", 0) and len(value) == btf_sizes()["tg_str_short"]
    n, _pad, *lens = struct.unpack_from("<II8B", value)
    assert (n, lens) == (2, [9, 2, 0, 0, 0, 0, 0, 0])
    assert value[16:48] == b"/dev/null" + b"\0" * 23 and value[48:80] == b"/a" + b"\0" * 30
    argf = K._ARGF.unpack_from(out.cfg, 80 + 40 + 44 * 4 + 28 * 10 + 24 * 8)
    assert argf[:4] == (1, 4, 0, K.STR_INLINE)
    assert argf[4] == (1 << 2) | (1 << 9)  # the length bitmap still rejects other lengths first


def test_nine_or_long_equal_values_use_the_hash_maps() -> None:
    nine = ", ".join(f"/v{i}" for i in range(9))
    out = compile_sel(f"[{{matchArgs: [{{index: 1, operator: Equal, values: [{nine}]}}]}}]")
    assert "tg_str_short" not in out.maps and len(out.maps["tg_str_eq32"]) == 9
    edge = "/" + "x" * 31  # 32 bytes: one past the inline limit
    out = compile_sel(f"[{{matchArgs: [{{index: 1, operator: Equal, values: [{edge}]}}]}}]")
    assert "tg_str_short" not in out.maps and len(out.maps["tg_str_eq64"]) == 1


def test_override_on_a_hook_that_can_returns_its_errno() -> None:
    sels, _ = selectors("[{matchActions: [{action: Override, argError: -1}]}]")
    out = K.compile_hook("spec.lsmhooks[0]", 1, ARGS, sels, override="lsm")
    act = K._ACT.unpack_from(out.cfg, 80 + K.SELECTOR_SIZE - 3 * K._ACT.size)
    assert act == (4, 0xFFFFFFFF, 0)  # TG_ACT_OVERRIDE, -1 as the kernel's u32
    sels, _ = selectors("[{matchActions: [{action: Override, argError: 5}]}]")
    with pytest.raises(PolicyError, match=r"argError: expected a negative errno, got 5"):
        K.compile_hook("spec.lsmhooks[0]", 1, ARGS, sels, override="lsm")
    out = K.compile_hook("spec.kprobes[0]", 1, ARGS, sels, override="fmod_ret")  # any nonzero int
    assert K._ACT.unpack_from(out.cfg, 80 + K.SELECTOR_SIZE - 3 * K._ACT.size) == (4, 5, 0)
    sels, _ = selectors("[{matchActions: [{action: Override, argError: 0}]}]")
    with pytest.raises(PolicyError, match=r"argError: expected a nonzero 32-bit int, got 0"):
        K.compile_hook("spec.kprobes[0]", 1, ARGS, sels, override="fmod_ret")


def test_get_url_and_dns_lookup_name_their_target_by_index() -> None:
    out = compile_sel(
        "[{matchActions: [{action: GetUrl, argUrl: 'http://x/y'}, {action: DnsLookup, argFqdn: a.example}]}]"
    )
    assert out.action_args == [("GetUrl", "http://x/y"), ("DnsLookup", "a.example")]
    first = 80 + K.SELECTOR_SIZE - 3 * K._ACT.size
    assert K._ACT.unpack_from(out.cfg, first) == (6, 0, 0)
    assert K._ACT.unpack_from(out.cfg, first + K._ACT.size) == (7, 1, 0)


def test_postfix_is_stored_reversed_and_binaries_by_selector() -> None:
    out = compile_sel(
        "[{matchArgs: [{index: 1, operator: Postfix, values: [.conf]}]}, "
        "{matchBinaries: [{operator: In, values: [/usr/bin/cat]}]}]"
    )
    (key,) = out.maps["tg_str_postfix"]
    assert key[8:13] == b"fnoc."
    (bkey,) = out.maps["tg_bin_paths"]
    assert struct.unpack_from("<II", bkey) == (1, 0) and bkey[8:20] == b"/usr/bin/cat"
    assert struct.unpack_from("<I", out.cfg, 12)[0] & K.HOOK_SEL_PROC


def test_int_operators_and_lists() -> None:
    out = compile_sel("[{matchArgs: [{index: 0, operator: InMap, values: ['list:dups', '0x10']}]}]")
    assert sorted(struct.unpack("<IIQ", k)[2] for k in out.maps["tg_int_map"]) == [16, 32, 33]
    out = compile_sel("[{matchArgs: [{index: 0, operator: InRange, values: ['-5:5', '10:0x20']}]}]")
    argf = K._ARGF.unpack_from(out.cfg, 80 + 40 + 44 * 4 + 28 * 10 + 24 * 8)
    assert argf[:4] == (0, 31, 4, 0) and argf[4:8] == (-5, 5, 10, 32)


def test_actions_and_rate_limit() -> None:
    out = compile_sel(
        "[{matchActions: [{action: Post, rateLimit: 2m, rateLimitScope: process}, "
        "{action: Signal, argSig: 10}]}]"
    )
    off = 80 + 40 + 44 * 4 + 28 * 10 + 24 * 8 + 80 * 5
    assert K._ACT.unpack_from(out.cfg, off) == (0, 1, 120_000_000_000)
    assert K._ACT.unpack_from(out.cfg, off + 16) == (9, 10, 0)
    # rateLimit keys on the arguments: every one is read before the actions, selected or not
    sel_args = struct.unpack_from("<I", out.cfg, 16 + K._ARG_CFG.size * 5)[0]
    assert sel_args == 0b11
    plain = compile_sel("[{matchActions: [{action: Post}]}]")
    assert struct.unpack_from("<I", plain.cfg, 16 + K._ARG_CFG.size * 5)[0] == 0


def test_namespaces_host_ns_and_caps() -> None:
    out = compile_sel(
        "[{matchNamespaces: [{namespace: Net, operator: In, values: [host_ns, '4026531840']}], "
        "matchCapabilities: [{type: Effective, operator: In, values: [CAP_SYS_ADMIN, CAP_NET_RAW]}]}]"
    )
    ns = K._NS.unpack_from(out.cfg, 80 + 40 + 44 * 4)
    assert ns == (5, 5, 2, 6, 4026531840, 0, 0)  # host Net inode is namespaces[5] = 6
    cap = K._CAP.unpack_from(out.cfg, 80 + 40 + 44 * 4 + 28 * 10)
    assert cap == (0, 5, 0, 0, (1 << 21) | (1 << 13))
    assert struct.unpack_from("<I", out.cfg, 12)[0] & K.HOOK_SEL_NSCAPS


@pytest.mark.parametrize(
    ("sel", "path", "reason"),
    [
        (
            "[{matchArgs: [{index: 1, operator: GT, values: ['1']}]}]",
            "selectors[0].matchArgs[0].operator",
            "string",
        ),
        (
            "[{matchArgs: [{index: 3, operator: Equal, values: ['1']}]}]",
            "selectors[0].matchArgs[0].index",
            "2 args",
        ),
        (
            "[{matchArgs: [{index: 0, operator: Equal, values: [abc]}]}]",
            "selectors[0].matchArgs[0].values[0]",
            "number",
        ),
        ("[{matchArgs: [{index: 0, operator: InRange, values: ['5:1']}]}]", "values[0]", "min > max"),
        ("[{matchArgs: [{index: 0, operator: InMap, values: ['list:nope']}]}]", "spec.lists", "not defined"),
        ("[{matchActions: [{action: Override, argError: -1}]}]", "matchActions[0].action", "has neither"),
        (
            "[{matchActions: [{action: TrackSock, argSock: 0}]}]",
            "matchActions[0].argSock",
            "naming a sock or socket",
        ),
        ("[{matchActions: [{action: GetUrl}]}]", "matchActions[0].argUrl", "GetUrl needs argUrl"),
        ("[{matchActions: [{action: NotifyEnforcer}]}]", "matchActions[0].action", "enforcer"),
        ("[{matchActions: [{action: Post, kernelStackTrace: true}]}]", "kernelStackTrace", "stack traces"),
        (
            "[{matchBinaries: [{operator: In, values: [/a], followChildren: true}]}]",
            "followChildren",
            "process map",
        ),
        (
            "[{matchData: [{index: 0, operator: Equal, values: ['1']}]}]",
            "selectors[0].matchData",
            "tracepoints",
        ),
        ("[{matchPIDs: [{operator: In, values: [1,2,3,4,5,6,7,8,9]}]}]", "matchPIDs[0].values", "at most 8"),
    ],
)
def test_refusals_name_the_path(sel: str, path: str, reason: str) -> None:
    with pytest.raises(PolicyError) as e:
        compile_sel(sel)
    assert path in e.value.path and reason in e.value.reason, str(e.value)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("max_data", True, "maxData needs data events"),
        ("resolve", "mm.owner.comm", "resolving a BTF field path"),
        ("btf_type", "task_struct", "BTF-typed arguments"),
        ("btf_type_module", "mod", "BTF-typed arguments"),
        ("source", "current_task", "argument sources"),
        ("return_copy", True, "returnCopy applies to kprobes"),
    ],
)
def test_argument_fields_that_do_nothing_here_are_refused_by_name(
    field: str, value: object, reason: str
) -> None:
    from tetragon_core.policy.argtypes import refuse_unbuilt_fields
    from tetragon_core.policy.model import KProbeArg

    key = {"max_data": "maxData", "btf_type": "btfType", "btf_type_module": "btfTypeModule"}.get(field, field)
    key = "returnCopy" if field == "return_copy" else key
    with pytest.raises(PolicyError) as e:
        refuse_unbuilt_fields("spec.tracepoints[0].args[1]", KProbeArg(**{field: value}))  # type: ignore[arg-type]
    assert str(e.value).startswith(f"spec.tracepoints[0].args[1].{key}: ")
    assert reason in str(e.value)
