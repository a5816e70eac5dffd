"""The return half of a hook's configuration (``struct tg_ret_cfg`` in bpf/lib/generic.h): the
return value's type, each selector's matchReturnArgs, returnCopy and returnArgAction."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tetragon_core.policy.errors import PolicyError
from tetragon_core.policy.model import ArgSelector, KProbeSelector
from tetragon_core.policy.typeids import SOCK_IDS

if TYPE_CHECKING:
    from tetragon_core.policy.kernel import ArgSpec

MAX_RET_FILTERS = 2  # matchReturnArgs per selector
RET_FID = 32  # their filter ids: RET_FID + selector * MAX_RET_FILTERS + j (after matchArgs' 0..24)
RET_ACTIONS = {"TrackSock": 1, "UntrackSock": 2}
SLOTS = 8  # per-selector slots (5 used; see tg_ret_cfg)
_HEAD = struct.Struct(f"<4I{SLOTS}I")
_FILTER_SIZE = 80
RET_CFG_SIZE = _HEAD.size + SLOTS * MAX_RET_FILTERS * _FILTER_SIZE


@dataclass(frozen=True)
class ReturnSpec:
    """The return value of a hook with ``return: true``."""

    arg: ArgSpec  # its type: an integer, or the kernel object it points to
    copy: int = 0  # returnCopy: 1 + the index in args of the char_buf read at return
    action: str = ""  # returnArgAction: TrackSock / UntrackSock


def compile_ret(
    path: str,
    ret: ReturnSpec | None,
    selectors: Sequence[KProbeSelector],
    arg_filter: Callable[[str, ArgSelector, int], bytes],
) -> bytes:
    """The packed ``tg_ret_cfg``; ``arg_filter(path, filter, fid)`` compiles one filter against
    the return value. Raises PolicyError naming the YAML path."""
    if ret is None:
        for i, s in enumerate(selectors):
            if s.match_return_args:
                raise PolicyError(
                    f"{path}.selectors[{i}].matchReturnArgs", "matchReturnArgs needs return: true"
                )
        return b"\0" * RET_CFG_SIZE
    action = 0
    if ret.action:
        if ret.action not in RET_ACTIONS:
            raise PolicyError(
                f"{path}.returnArgAction", f"expected TrackSock or UntrackSock, got {ret.action!r}"
            )
        if ret.arg.type not in SOCK_IDS:
            raise PolicyError(
                f"{path}.returnArgAction", f"{ret.action} needs a returnArg of type sock or socket"
            )
        action = RET_ACTIONS[ret.action]
    counts, filters = [], []
    for i, s in enumerate(selectors):
        p = f"{path}.selectors[{i}].matchReturnArgs"
        if len(s.match_return_args) > MAX_RET_FILTERS:
            raise PolicyError(p, f"at most {MAX_RET_FILTERS} entries, got {len(s.match_return_args)}")
        got = []
        for j, f in enumerate(s.match_return_args):
            if f.index != 0:
                raise PolicyError(f"{p}[{j}].index", "the return value is index 0")
            got.append(arg_filter(f"{p}[{j}]", f, RET_FID + i * MAX_RET_FILTERS + j))
        counts.append(len(got))
        filters.append(b"".join(got) + b"\0" * (_FILTER_SIZE * (MAX_RET_FILTERS - len(got))))
    counts += [0] * (SLOTS - len(counts))
    body = b"".join(filters) + b"\0" * (_FILTER_SIZE * MAX_RET_FILTERS * (SLOTS - len(filters)))
    head = _HEAD.pack(ret.arg.type, int(ret.arg.is_signed), ret.copy, action, *counts)
    return head + body
