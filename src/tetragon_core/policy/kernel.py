"""Compile a hook's arguments and selectors into the kernel's configuration (``bpf/lib/generic.h``).

The result is the packed ``struct tg_hook_cfg`` plus the entries of the string, integer and
binary maps the BPF program looks values up in. Everything a policy asks that this kernel-side
engine cannot evaluate is refused here with the YAML path and the reason, never ignored.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tetragon_core.policy import constants as c, netfilter
from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.kernel_ret import RET_CFG_SIZE, ReturnSpec, compile_ret
from tetragon_core.policy.macros import expand_macros
from tetragon_core.policy.model import ActionSelector, ArgSelector, CapabilitiesSelector, KProbeSelector
from tetragon_core.policy.typeids import (
    NET_IDS,
    OPAQUE_IDS,
    PATH_IDS,
    SOCK_IDS,
    T_CHAR_BUF,
    T_CHAR_IOVEC,
    T_DATA_LOC,
    T_FILENAME,
    T_NOP,
    T_STRING,
)

# Limits of the BPF side (bpf/lib/generic.h); several are tighter or looser than Tetragon's.
MAX_PID_FILTERS = 4
MAX_PID_VALUES = 8
MAX_CAP_FILTERS = 4
MAX_RANGES = 4
STR_EQ_MAX = 255  # Equal/NotEqual strings (a 256-byte hash key with its length)
STR_LPM_MAX = 248  # Prefix/Postfix strings (an LPM trie key holds at most 256 bytes)
BIN_PATH_MAX = 255
MAP_ENTRIES = 128  # per string/binary map (bpf/lib/selectors.h)
INT_MAP_ENTRIES = 1024

# tg_hook_cfg.flags set by the compiler
HOOK_SEL_NSCAPS = 0x2
HOOK_SEL_NSPID = 0x4
HOOK_SEL_PROC = 0x8

# Kernel ids (bpf/lib/generic.h)
OP_IN, OP_NOTIN = 5, 6
STRING_TYPES = frozenset({T_STRING, T_CHAR_BUF, T_FILENAME, T_DATA_LOC, T_CHAR_IOVEC} | PATH_IDS)
_INT_OPS = frozenset(
    {
        "Equal",
        "NotEqual",
        "GreaterThan",
        "GT",
        "LessThan",
        "LT",
        "Mask",
        "InMap",
        "NotInMap",
        "InRange",
        "NotInRange",
    }
)
_STR_OPS = ("Equal", "NotEqual", "Prefix", "NotPrefix", "Postfix", "NotPostfix")
_ACTIONS = {"Post": 0, "Sigkill": 2, "NoPost": 8, "Signal": 9}
_OVERRIDE = 4  # TG_ACT_OVERRIDE: the program returns argError (LSM, fmod_ret)
_GETURL, _DNSLOOKUP = 6, 7  # TG_ACT_GETURL/DNSLOOKUP: performed by user space
_SET = 14  # TG_ACT_SET: the hook writes argValue to argument argIndex (USDT)
_SCOPES = {"thread": 0, "process": 1, "global": 2}
SHORT_STR = 32  # tg_str_short: values shorter than this ...
SHORT_VALS = 8  # ... and at most this many are compared in place
STR_INLINE = 2  # tg_arg_filter.is_str for those
_EQ_BUCKETS = (32, 64, 128, 256)  # Equal strings: key sizes of tg_str_eq32/64/128 and tg_str_eq
_CAP_TYPES = {"Effective": 0, "Inheritable": 1, "Permitted": 2}

_ARG_CFG = struct.Struct("<IHHBBBB")  # struct tg_arg_cfg, 12 bytes
_PID = struct.Struct(f"<III{MAX_PID_VALUES}I")  # 44
_NS = struct.Struct("<III4I")  # 28
_CAP = struct.Struct("<IIIIQ")  # 24
_ARGF = struct.Struct(f"<IIII{2 * MAX_RANGES}q")  # 80
_ACT = struct.Struct("<IIQ")  # 16
_SEL_HEAD = struct.Struct("<10I")  # 40
SELECTOR_SIZE = 1136
HOOK_CFG_SIZE = 5760 + RET_CFG_SIZE
HOOK_SOCK_ARGS = 0x20
_TRACKSOCK = {"TrackSock": 10, "UntrackSock": 11}
_KSTACK, _USTACK = 0x100, 0x200  # TG_POST_KSTACK / TG_POST_USTACK


@dataclass(frozen=True)
class ArgSpec:
    """One hook argument as the kernel reads it."""

    type: int
    offset: int
    size: int
    is_signed: bool = False
    size_arg: int = 0  # char_buf: 1-based position of the length argument
    user: int = 2  # pointers: 1 user memory, 0 kernel, 2 decided by address
    ret_copy: bool = False  # char_buf with returnCopy: read at return


@dataclass(frozen=True)
class HostInfo:
    """What selectors need to know about the host: namespace inodes (msg_ns order)."""

    namespaces: tuple[int, ...] = ()


@dataclass
class CompiledHook:
    """The hook's ``tg_hook_cfg`` value and its map entries (map name → key → value)."""

    cfg: bytes
    maps: dict[str, dict[bytes, bytes]] = field(default_factory=dict)
    #: followChildren: (binary path, mbset bit) for tg_mbset_paths
    mbset: list[tuple[str, int]] = field(default_factory=list)
    #: some Post takes kernel or user stack traces (the object's tg_stack_map is sized for them)
    stack_traces: bool = False
    #: GetUrl/DnsLookup: (action, URL or FQDN) by the index the kernel puts in action_arg_id
    action_args: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, key: bytes) -> None:
        self.maps.setdefault(name, {})[key] = b"\x01"

    def put(self, name: str, key: bytes, value: bytes) -> None:
        self.maps.setdefault(name, {})[key] = value


def _short(raws: list[bytes]) -> bool:
    """Do these Equal values fit tg_str_short: few, each shorter than SHORT_STR bytes?"""
    return 0 < len(raws) <= SHORT_VALS and all(len(r) < SHORT_STR for r in raws)


def _bitmap(lengths: int) -> list[int]:
    """Equal/NotEqual: the values' lengths as a 256-bit bitmap in vals[0..3], as signed words."""
    words = [(lengths >> (64 * k)) & 0xFFFFFFFFFFFFFFFF for k in range(4)]
    return [v - (1 << 64) if v >= 1 << 63 else v for v in words]


ListResolver = Callable[[str], list[int]]
#: hands out a free bit of execve_map's mbset (followChildren); raises PolicyError when none is left
BitAllocator = Callable[[], int]
#: checks a Set action (YAML path, argIndex, argValue); raises PolicyError when it cannot be done
SetArg = Callable[[str, int, int], None]


def _int(path: str, value: str) -> int:
    try:
        return int(value, 0)
    except ValueError:
        try:
            return int(value)  # "010" is ten, not a base-0 error
        except ValueError:
            raise PolicyError(path, f"expected a number, got {value!r}") from None


def _pad(b: bytes, n: int) -> bytes:
    return b + b"\0" * (n - len(b))


class _Compiler:
    def __init__(
        self,
        args: Sequence[ArgSpec],
        host: HostInfo,
        lists: ListResolver,
        mbset_bit: BitAllocator | None,
        override: str = "",
        positions: Mapping[int, int] | None = None,
        stacks: bool = False,
        set_arg: SetArg | None = None,
    ) -> None:
        self.stacks = stacks
        self.set_arg = set_arg  # checks a Set action (USDT); None: the hook has no Set
        self.positions = positions or {}
        self.override = override  # how this hook can override a return value ("" if it cannot)
        self.args = args
        self.host = host
        self.lists = lists
        self.mbset_bit = mbset_bit
        self.out = CompiledHook(b"")

    def pos(self, index: int) -> int:
        """The position in the hook's args that a selector's ``index`` names."""
        return self.positions.get(index, index)

    def with_args(self, args: Sequence[ArgSpec], fn: Callable[[], bytes]) -> bytes:
        """``fn()`` with filters compiled against ``args`` by position (the return value's)."""
        saved = self.args, self.positions
        self.args, self.positions = args, {}
        try:
            return fn()
        finally:
            self.args, self.positions = saved

    def refuse_unsupported(self, path: str, sel: KProbeSelector) -> None:
        for name, what in (
            ("match_data", "matchData"),
            ("match_return_actions", "matchReturnActions"),
            ("match_parent_binaries", "matchParentBinaries"),
        ):
            if getattr(sel, name):
                raise PolicyError(f"{path}.{what}", f"{what} is not supported on tracepoints")
        if sel.match_workloads is not None:
            raise PolicyError(
                f"{path}.matchWorkloads", "matchWorkloads needs Kubernetes, which this agent lacks"
            )

    def pids(self, path: str, sel: KProbeSelector) -> list[bytes]:
        if len(sel.match_pids) > MAX_PID_FILTERS:
            raise PolicyError(
                f"{path}.matchPIDs", f"at most {MAX_PID_FILTERS} entries, got {len(sel.match_pids)}"
            )
        out = []
        for i, f in enumerate(sel.match_pids):
            if len(f.values) > MAX_PID_VALUES:
                raise PolicyError(
                    f"{path}.matchPIDs[{i}].values", f"at most {MAX_PID_VALUES} pids, got {len(f.values)}"
                )
            flags = (1 if f.is_namespace_pid else 0) | (2 if f.follow_forks else 0)
            vals = list(f.values) + [0] * (MAX_PID_VALUES - len(f.values))
            op = OP_IN if f.operator == "In" else OP_NOTIN
            out.append(_PID.pack(op, flags, len(f.values), *vals))
        return out

    def namespaces(self, path: str, sel: KProbeSelector) -> list[bytes]:
        out = []
        for i, f in enumerate(sel.match_namespaces):
            nstype = c.NAMESPACES.index(f.namespace)
            vals = []
            for j, v in enumerate(f.values):
                if v == "host_ns":
                    if len(self.host.namespaces) <= nstype or not self.host.namespaces[nstype]:
                        raise PolicyError(
                            f"{path}.matchNamespaces[{i}].values[{j}]",
                            f"the host's {f.namespace} namespace cannot be read on this machine",
                        )
                    vals.append(self.host.namespaces[nstype])
                else:
                    vals.append(int(v))
            op = OP_IN if f.operator == "In" else OP_NOTIN
            out.append(_NS.pack(nstype, op, len(vals), *(vals + [0] * (4 - len(vals)))))
        return out

    def caps(self, path: str, filters: Sequence[CapabilitiesSelector], key: str) -> list[bytes]:
        if len(filters) > MAX_CAP_FILTERS:
            raise PolicyError(f"{path}.{key}", f"at most {MAX_CAP_FILTERS} entries, got {len(filters)}")
        out = []
        user_ns = self.host.namespaces[9] if len(self.host.namespaces) > 9 else 0
        for i, f in enumerate(filters):
            mask = 0
            for v in f.values:
                mask |= 1 << c.CAPABILITIES[v.upper()]
            host = 0
            if f.is_namespace_capability:
                if not user_ns:
                    raise PolicyError(
                        f"{path}.{key}[{i}].isNamespaceCapability",
                        "the host's user namespace cannot be read on this machine",
                    )
                host = user_ns
            op = OP_IN if f.operator == "In" else OP_NOTIN
            out.append(_CAP.pack(_CAP_TYPES[f.type], op, host, 0, mask))
        return out

    def ns_changes(self, sel: KProbeSelector) -> tuple[int, int]:
        if not sel.match_namespace_changes:
            return 0, 0
        f = sel.match_namespace_changes[0]
        mask = 0
        for v in f.values:
            mask |= 1 << c.NAMESPACES.index(v)
        return (OP_IN if f.operator == "In" else OP_NOTIN), mask

    def binaries(self, path: str, sel: KProbeSelector, index: int) -> tuple[int, int]:
        if not sel.match_binaries:
            return 0, 0
        f = sel.match_binaries[0]
        p = f"{path}.matchBinaries[0]"
        follow = 0
        if f.follow_children:
            if self.mbset_bit is None:
                raise PolicyError(
                    f"{p}.followChildren", "followChildren needs the execve sensor's process map"
                )
            bit = self.mbset_bit()
            follow = bit + 1
            self.out.mbset += [(v, bit) for v in f.values]
        op = c.BINARY_OPERATORS.index(f.operator)
        kernel_op = (OP_IN, OP_NOTIN, 8, 26, 9, 27)[op]
        for j, v in enumerate(f.values):
            raw = v.encode()
            if f.operator in ("In", "NotIn"):
                if len(raw) > BIN_PATH_MAX:
                    raise PolicyError(f"{p}.values[{j}]", f"path longer than {BIN_PATH_MAX} bytes")
                self.out.add("tg_bin_paths", struct.pack("<II", index, 0) + _pad(raw, 256))
            else:
                if len(raw) > STR_LPM_MAX:
                    raise PolicyError(f"{p}.values[{j}]", f"longer than {STR_LPM_MAX} bytes")
                if "Postfix" in f.operator:
                    raw = raw[::-1]
                m = "tg_bin_prefix" if "Prefix" in f.operator else "tg_bin_postfix"
                self.out.add(m, struct.pack("<II", 32 + 8 * len(raw), index) + _pad(raw, STR_LPM_MAX))
        return kernel_op, follow

    def arg_filter(self, path: str, f: ArgSelector, fid: int) -> bytes:
        op = c.canonical_operator(f.operator) or f.operator
        idx = self.pos(f.index)
        if not 0 <= idx < len(self.args):
            raise PolicyError(
                f"{path}.index", f"the hook has {len(self.args)} args; index {f.index} names none"
            )
        arg = self.args[idx]
        if arg.type == T_NOP:
            raise PolicyError(
                f"{path}.index", f"argument {f.index} is a nop: it is not read, so not filtered"
            )
        if arg.type in OPAQUE_IDS:
            raise PolicyError(
                f"{path}.index",
                f"argument {f.index} is a {OPAQUE_IDS[arg.type]}: no operator applies to it",
            )
        kop = c.ARG_OPERATORS[op]
        if arg.type in NET_IDS or op in netfilter.NET_OPS:
            if arg.type not in NET_IDS or op not in netfilter.NET_OPS:
                raise PolicyError(
                    f"{path}.operator",
                    f"operator {op!r} needs a sock, socket, skb or sockaddr argument"
                    if op in netfilter.NET_OPS
                    else f"operator {op!r} does not apply to a network argument (SAddr, DPort ... do)",
                )
            if op == "State" and arg.type not in SOCK_IDS:
                raise PolicyError(f"{path}.operator", "State applies to sock and socket arguments only")
            n, nv = netfilter.compile_net(path, op, list(f.values), fid, self.out.add)
            return _ARGF.pack(idx, kop, n, netfilter.NET, *(nv + [0] * (2 * MAX_RANGES - len(nv))))
        is_str = arg.type in STRING_TYPES
        if is_str:
            lengths = 0
            if op not in _STR_OPS:
                raise PolicyError(f"{path}.operator", f"operator {op!r} does not apply to a string argument")
            raws = [v.encode() for v in f.values]
            if op in ("Equal", "NotEqual") and _short(raws):
                # compared in place, without a hash lookup (tg_str_short in bpf/lib/generic.h)
                lens = [len(r) for r in raws] + [0] * (SHORT_VALS - len(raws))
                words = b"".join(_pad(r, SHORT_STR) for r in raws)
                value = struct.pack(f"<II{SHORT_VALS}B", len(raws), 0, *lens) + _pad(
                    words, SHORT_STR * SHORT_VALS
                )
                self.out.put("tg_str_short", struct.pack("<I", fid), value)
                for r in raws:
                    lengths |= 1 << len(r)
                return _ARGF.pack(idx, kop, 0, STR_INLINE, *_bitmap(lengths), *([0] * (2 * MAX_RANGES - 4)))
            for j, v in enumerate(f.values):
                raw = v.encode()
                if op in ("Equal", "NotEqual"):
                    if len(raw) > STR_EQ_MAX:
                        raise PolicyError(f"{path}.values[{j}]", f"longer than {STR_EQ_MAX} bytes")
                    size = next(b for b in _EQ_BUCKETS if len(raw) < b or b == 256)
                    name = "tg_str_eq" if size == 256 else f"tg_str_eq{size}"
                    self.out.add(name, struct.pack("<II", fid, len(raw)) + _pad(raw, size))
                    lengths |= 1 << len(raw)
                else:
                    if len(raw) > STR_LPM_MAX:
                        raise PolicyError(f"{path}.values[{j}]", f"longer than {STR_LPM_MAX} bytes")
                    if "Postfix" in op:
                        raw = raw[::-1]
                    m = "tg_str_prefix" if "Prefix" in op else "tg_str_postfix"
                    self.out.add(m, struct.pack("<II", 32 + 8 * len(raw), fid) + _pad(raw, STR_LPM_MAX))
            return _ARGF.pack(idx, kop, 0, 1, *_bitmap(lengths), *([0] * (2 * MAX_RANGES - 4)))
        if op not in _INT_OPS:
            raise PolicyError(f"{path}.operator", f"operator {op!r} does not apply to an integer argument")
        vals: list[int] = []
        if op in ("InMap", "NotInMap"):
            for j, v in enumerate(f.values):
                nums = self.lists(v[5:]) if v.startswith("list:") else [_int(f"{path}.values[{j}]", v)]
                for n in nums:
                    self.out.add("tg_int_map", struct.pack("<IIQ", fid, 0, n & 0xFFFFFFFFFFFFFFFF))
        elif op in ("InRange", "NotInRange"):
            if len(f.values) > MAX_RANGES:
                raise PolicyError(f"{path}.values", f"at most {MAX_RANGES} ranges, got {len(f.values)}")
            for j, v in enumerate(f.values):
                lo, sep, hi = v.partition(":")
                if not sep:
                    raise PolicyError(f"{path}.values[{j}]", f"expected a range min:max, got {v!r}")
                a, b = _int(f"{path}.values[{j}]", lo), _int(f"{path}.values[{j}]", hi)
                if a > b:
                    raise PolicyError(f"{path}.values[{j}]", f"range {v!r} has min > max")
                vals += [a, b]
        else:
            if len(f.values) > c.MAX_MATCH_VALUES:
                raise PolicyError(
                    f"{path}.values",
                    f"operator {op!r} takes at most {c.MAX_MATCH_VALUES} values, got {len(f.values)}",
                )
            vals = [_int(f"{path}.values[{j}]", v) for j, v in enumerate(f.values)]
        vals = [v - (1 << 64) if v >= 1 << 63 else v for v in vals]
        if any(v < -(1 << 63) for v in vals):
            raise PolicyError(f"{path}.values", "a value does not fit in 64 bits")
        return _ARGF.pack(idx, kop, len(vals), 0, *(vals + [0] * (2 * MAX_RANGES - len(vals))))

    def actions(self, path: str, acts: Sequence[ActionSelector]) -> list[bytes]:
        out = []
        for i, a in enumerate(acts):
            p = f"{path}.matchActions[{i}]"
            if a.action == "NotifyEnforcer":
                raise PolicyError(
                    f"{p}.action",
                    "NotifyEnforcer needs an enforcer (bpf_override_return or fmod_ret), "
                    "and no enforcer sensor is installed",
                )
            if a.action == "Override":
                if not self.override:
                    raise PolicyError(
                        f"{p}.action",
                        "Override needs bpf_override_return (absent here) or an fmod_ret/LSM hook; "
                        "this hook has neither",
                    )
                # an LSM hook's decision is 0 or a negative errno; an fmod_ret function returns
                # whatever int argError is (Tetragon's examples use 1), but 0 would not override
                if self.override == "lsm" and not -4095 <= a.arg_error < 0:
                    raise PolicyError(f"{p}.argError", f"expected a negative errno, got {a.arg_error}")
                if not a.arg_error or not -(1 << 31) <= a.arg_error < 1 << 31:
                    raise PolicyError(f"{p}.argError", f"expected a nonzero 32-bit int, got {a.arg_error}")
                out.append(_ACT.pack(_OVERRIDE, a.arg_error & 0xFFFFFFFF, 0))
                continue
            if a.action in ("GetUrl", "DnsLookup"):
                # done by user space when the event arrives: the record names the argument
                target = a.arg_url if a.action == "GetUrl" else a.arg_fqdn
                if not target:
                    what = "argUrl" if a.action == "GetUrl" else "argFqdn"
                    raise PolicyError(f"{p}.{what}", f"{a.action} needs {what}")
                self.out.action_args.append((a.action, target))
                kid = _GETURL if a.action == "GetUrl" else _DNSLOOKUP
                out.append(_ACT.pack(kid, len(self.out.action_args) - 1, 0))
                continue
            if a.action == "Set":
                if self.set_arg is None:
                    raise PolicyError(
                        f"{p}.action", "Set writes a USDT argument: it is supported on usdts only"
                    )
                self.set_arg(p, a.arg_index, a.arg_value)
                out.append(_ACT.pack(_SET, a.arg_index, a.arg_value & 0xFFFFFFFFFFFFFFFF))
                continue
            if a.action in _TRACKSOCK:
                sk = self.pos(a.arg_sock)
                if not 0 <= sk < len(self.args) or self.args[sk].type not in SOCK_IDS:
                    raise PolicyError(
                        f"{p}.argSock", f"{a.action} needs argSock naming a sock or socket argument"
                    )
                out.append(_ACT.pack(_TRACKSOCK[a.action], sk, 0))
                continue
            if a.action not in _ACTIONS:
                raise PolicyError(f"{p}.action", f"action {a.action!r} is not supported on this hook")
            for flag, what in (
                (a.kernel_stack_trace, "kernelStackTrace"),
                (a.user_stack_trace, "userStackTrace"),
            ):
                if flag and not self.stacks:
                    raise PolicyError(f"{p}.{what}", "stack traces are reported by kprobe hooks only")
            if a.ima_hash:
                raise PolicyError(f"{p}.imaHash", "imaHash needs LSM hooks")
            arg, arg2 = 0, 0
            if a.action == "Signal":
                if not 1 <= a.arg_sig <= 64:
                    raise PolicyError(f"{p}.argSig", f"expected a signal number 1..64, got {a.arg_sig}")
                arg = a.arg_sig
            if a.action == "Post" and a.rate_limit:
                arg2 = rate_limit_ns(a.rate_limit)
                arg = _SCOPES[a.rate_limit_scope or "thread"]
            if a.action == "Post" and (a.kernel_stack_trace or a.user_stack_trace):
                arg |= (_KSTACK if a.kernel_stack_trace else 0) | (_USTACK if a.user_stack_trace else 0)
                self.out.stack_traces = True
            out.append(_ACT.pack(_ACTIONS[a.action], arg, arg2))
        return out

    def selector(self, path: str, sel: KProbeSelector, index: int) -> bytes:
        self.refuse_unsupported(path, sel)
        pids = self.pids(path, sel)
        nss = self.namespaces(path, sel)
        caps = self.caps(path, sel.match_capabilities, "matchCapabilities")
        capchg = self.caps(path, sel.match_capability_changes, "matchCapabilityChanges")
        nschg_op, nschg_mask = self.ns_changes(sel)
        bin_op, bin_follow = self.binaries(path, sel, index)
        if len(sel.match_args) > c.MAX_ARGS:
            raise PolicyError(f"{path}.matchArgs", f"at most {c.MAX_ARGS} entries, got {len(sel.match_args)}")
        argf = [
            self.arg_filter(f"{path}.matchArgs[{j}]", f, index * c.MAX_ARGS + j)
            for j, f in enumerate(sel.match_args)
        ]
        acts = self.actions(path, sel.match_actions)
        head = _SEL_HEAD.pack(
            len(pids), len(nss), len(caps), len(capchg), nschg_op, nschg_mask,
            len(argf), len(acts), bin_op, bin_follow,
        )  # fmt: skip
        body = (
            head
            + _fill(pids, _PID.size, MAX_PID_FILTERS)
            + _fill(nss, _NS.size, c.MAX_MATCH_NAMESPACES)
            + _fill(caps, _CAP.size, MAX_CAP_FILTERS)
            + _fill(capchg, _CAP.size, MAX_CAP_FILTERS)
            + _fill(argf, _ARGF.size, c.MAX_ARGS)
            + _fill(acts, _ACT.size, c.MAX_ACTIONS)
        )
        assert len(body) == SELECTOR_SIZE, len(body)
        return body


def _fill(items: list[bytes], size: int, n: int) -> bytes:
    return b"".join(items) + b"\0" * (size * (n - len(items)))


def rate_limit_ns(text: str) -> int:
    """``rateLimit`` ("N", "Ns", "Nm", "Nh"; a bare number is seconds) in nanoseconds."""
    unit = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in "smh" else text
    return int(digits) * unit * 1_000_000_000


def compile_hook(
    path: str,
    hook_id: int,
    args: Sequence[ArgSpec],
    selectors: Sequence[KProbeSelector],
    *,
    macros: Mapping[str, KProbeSelector] | None = None,
    host: HostInfo | None = None,
    lists: ListResolver | None = None,
    flags: int = 0,
    mbset_bit: BitAllocator | None = None,
    override: str = "",
    ret: ReturnSpec | None = None,
    positions: Mapping[int, int] | None = None,
    stacks: bool = False,
    set_arg: SetArg | None = None,
) -> CompiledHook:
    """Compile one hook at YAML ``path`` (e.g. ``spec.tracepoints[0]``); raises PolicyError.

    ``override`` names how the hook can override its function's return (``lsm``, ``fmod_ret``);
    without it an Override action is refused. ``positions`` maps the ``index`` selectors name to a
    position in ``args`` (kprobes, LSM: an argument's own ``index``, as in Tetragon's examples);
    other indexes are positions. ``set_arg(path, argIndex, argValue)`` checks a Set action, and
    raises PolicyError when it cannot be done; without it Set is refused.
    """

    def no_lists(name: str) -> list[int]:
        raise PolicyError(f"{path}.selectors", f"list {name!r} is not defined in spec.lists")

    if len(args) > c.MAX_ARGS:
        raise PolicyError(f"{path}.args", f"at most {c.MAX_ARGS} args, got {len(args)}")
    if len(selectors) > c.MAX_SELECTORS:
        raise PolicyError(f"{path}.selectors", f"at most {c.MAX_SELECTORS} selectors, got {len(selectors)}")
    comp = _Compiler(
        args, host or HostInfo(), lists or no_lists, mbset_bit, override, positions, stacks, set_arg
    )
    expanded = [expand_macros(s, macros or {}) for s in selectors]
    sel_args = 0
    for s in expanded:
        if (
            s.match_namespaces
            or s.match_capabilities
            or s.match_namespace_changes
            or s.match_capability_changes
        ):
            flags |= HOOK_SEL_NSCAPS
        if any(p.is_namespace_pid for p in s.match_pids):
            flags |= HOOK_SEL_NSPID
        if (
            s.match_binaries
            or s.match_pids  # the pid itself is fetched on this path too
            or s.match_namespace_changes
            or s.match_capability_changes
        ):
            flags |= HOOK_SEL_PROC
        for a in s.match_args:
            if 0 <= comp.pos(a.index) < c.MAX_ARGS:
                sel_args |= 1 << comp.pos(a.index)
    if any(a.action == "Post" and a.rate_limit for s in expanded for a in s.match_actions):
        # rateLimit keys on the event's argument bytes: they must be read before the actions
        sel_args = (1 << min(len(args), c.MAX_ARGS)) - 1
    sels = [comp.selector(f"{path}.selectors[{i}]", s, i) for i, s in enumerate(expanded)]
    ret_cfg = comp.with_args(
        [ret.arg] if ret else [], lambda: compile_ret(path, ret, expanded, comp.arg_filter)
    )
    if any(a.type in SOCK_IDS for a in args):
        flags |= HOOK_SOCK_ARGS
    for name, entries in comp.out.maps.items():
        limit = {"tg_int_map": INT_MAP_ENTRIES, netfilter.ADDR_MAP: netfilter.ADDR_ENTRIES}.get(
            name, MAP_ENTRIES
        )
        if len(entries) > limit:
            raise PolicyError(f"{path}.selectors", f"more than {limit} values for {name} in one hook")
    arg_cfg = b"".join(
        _ARG_CFG.pack(a.type, a.offset, a.size, int(a.is_signed), a.size_arg, a.user, int(a.ret_copy))
        for a in args
    )
    head = struct.pack("<4I", hook_id, len(args), len(sels), flags)
    cfg = (
        head
        + _pad(arg_cfg, _ARG_CFG.size * c.MAX_ARGS)
        + struct.pack("<I", sel_args)
        + _fill(sels, SELECTOR_SIZE, c.MAX_SELECTORS)
        + ret_cfg
    )
    assert len(cfg) == HOOK_CFG_SIZE, len(cfg)
    comp.out.cfg = cfg
    return comp.out
