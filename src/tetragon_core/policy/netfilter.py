"""Network operators on sock, socket, skb and sockaddr arguments, compiled for
``match_net`` (bpf/lib/structargs.h).

SAddr/DAddr and their negations look the address up in one LPM trie (``tg_addr_lpm``); the
ports are up to four ranges; Protocol, Family and State are up to eight numbers, given as names
(``IPPROTO_TCP``, ``AF_INET``, ``TCP_SYN_SENT``) or numbers.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable

from tetragon_core.policy import netnames
from tetragon_core.policy.errors import PolicyError

ADDR_OPS = frozenset({"SAddr", "DAddr", "NotSAddr", "NotDAddr"})
PORT_OPS = frozenset({"SPort", "DPort", "NotSPort", "NotDPort"})
PRIV_OPS = frozenset({"SPortPriv", "NotSportPriv", "DPortPriv", "NotDPortPriv"})
NAMED_OPS = frozenset({"Protocol", "Family", "State"})
NET_OPS = ADDR_OPS | PORT_OPS | PRIV_OPS | NAMED_OPS
NET = 3  # tg_arg_filter.is_str: TG_ARG_NET
ADDR_MAP = "tg_addr_lpm"
ADDR_ENTRIES = 256
MAX_PORT_RANGES = 4
MAX_NAMED = 8
_KEY = struct.Struct("<IIB16s")  # struct tg_addr_key (packed)


def _number(path: str, text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise PolicyError(path, f"expected a number, got {text!r}") from None


def compile_net(
    path: str, op: str, values: list[str], fid: int, add: Callable[[str, bytes], None]
) -> tuple[int, list[int]]:
    """``(n, inline values)`` of one network filter; address prefixes go to ``add(map, key)``.

    Raises PolicyError naming the value and the reason."""
    if op in PRIV_OPS:
        if values:
            raise PolicyError(f"{path}.values", f"{op} takes no values")
        return 0, []
    if not values:
        raise PolicyError(f"{path}.values", f"{op} needs at least one value")
    if op in ADDR_OPS:
        for j, v in enumerate(values):
            try:
                net = ipaddress.ip_network(v.strip(), strict=False)
            except ValueError:
                raise PolicyError(f"{path}.values[{j}]", f"{v!r} is not an IP address or CIDR") from None
            fam = 4 if net.version == 4 else 6
            key = _KEY.pack(40 + net.prefixlen, fid, fam, net.network_address.packed.ljust(16, b"\0"))
            add(ADDR_MAP, key)
        return 0, []
    if op in PORT_OPS:
        if len(values) > MAX_PORT_RANGES:
            raise PolicyError(f"{path}.values", f"{op} takes at most {MAX_PORT_RANGES} ports or ranges")
        out: list[int] = []
        for j, v in enumerate(values):
            lo, sep, hi = v.partition(":")
            a = _number(f"{path}.values[{j}]", lo)
            b = _number(f"{path}.values[{j}]", hi) if sep else a
            if not 0 <= a <= b <= 65535:
                raise PolicyError(f"{path}.values[{j}]", f"{v!r} is not a port or a range of ports (0-65535)")
            out += [a, b]
        return len(out), out
    if len(values) > MAX_NAMED:
        raise PolicyError(f"{path}.values", f"{op} takes at most {MAX_NAMED} values")
    nums = []
    for j, v in enumerate(values):
        n = netnames.by_name(op, v.strip())
        nums.append(n if n is not None else _number(f"{path}.values[{j}]", v))
    return len(nums), nums
