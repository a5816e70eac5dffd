"""The functions bound in CEL expressions: ``matches()`` (quiet RE2), ``string()``, the ``has()`` hook
and the Kubernetes CEL IP/CIDR library.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import re2  # type: ignore[import-untyped]
from celpy import celtypes

from tetragon_core.filters._cel_activation import Value, _has, _Int

# --- functions: matches() with cached quiet RE2, the k8s IP/CIDR library -----------------------------

_re_cache: dict[str, Any] = {}


def _matches(text: Any, pattern: Any) -> Value:
    compiled = _re_cache.get(pattern)
    if compiled is None:
        opts = re2.Options()
        opts.log_errors = False
        compiled = re2.compile(str(pattern), opts)  # re2.error → CEL error → no match
        if len(_re_cache) > 256:
            _re_cache.clear()
        _re_cache[pattern] = compiled
    return celtypes.BoolType(compiled.search(str(text)) is not None)


_Addr = ipaddress.IPv4Address | ipaddress.IPv6Address
_Iface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class IP:
    """A CEL ``net.IP`` value (Kubernetes CEL IP library)."""

    __slots__ = ("addr",)

    def __init__(self, addr: _Addr) -> None:
        self.addr = addr

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IP) and self.addr == other.addr

    def __hash__(self) -> int:
        return hash(self.addr)

    def __str__(self) -> str:
        return str(self.addr)


class CIDR:
    """A CEL ``net.CIDR`` value (Kubernetes CEL CIDR library)."""

    __slots__ = ("iface",)

    def __init__(self, iface: _Iface) -> None:
        self.iface = iface

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CIDR) and self.iface == other.iface

    def __hash__(self) -> int:
        return hash(self.iface)

    def __str__(self) -> str:
        return str(self.iface)


def _parse_ip(text: Any) -> _Addr:
    s = str(text)
    if "%" in s:
        raise ValueError(f"IP address with zone value is not allowed: {s}")
    addr = ipaddress.ip_address(s)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise ValueError(f"IPv4-mapped IPv6 address is not allowed: {s}")
    return addr


def _parse_cidr(text: Any) -> _Iface:
    s = str(text)
    if "/" not in s:
        raise ValueError(f"network address parse error during conversion from string: {s}")
    _parse_ip(s.split("/", 1)[0])
    return ipaddress.ip_interface(s)


def _ip(arg: Any) -> Value:
    if isinstance(arg, CIDR):  # cidr.ip()
        return IP(arg.iface.ip)
    return IP(_parse_ip(arg))


def _is_ip(arg: Any) -> Value:
    try:
        _parse_ip(arg)
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


def _cidr(arg: Any) -> Value:
    return CIDR(_parse_cidr(arg))


def _is_cidr(arg: Any) -> Value:
    try:
        _parse_cidr(arg)
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


def _as_ip(arg: Any) -> _Addr:
    return arg.addr if isinstance(arg, IP) else _parse_ip(arg)


def _contains_ip(cidr: CIDR, arg: Any) -> Value:
    return celtypes.BoolType(_as_ip(arg) in cidr.iface.network)


def _contains_cidr(cidr: CIDR, arg: Any) -> Value:
    other = arg.iface if isinstance(arg, CIDR) else _parse_cidr(arg)
    net = cidr.iface.network
    return celtypes.BoolType(
        other.version == net.version
        and other.network.prefixlen >= net.prefixlen
        and other.network.network_address in net
    )


def _family(ip: IP) -> Value:
    return _Int(ip.addr.version)


def _is_global_unicast(ip: IP) -> Value:
    a = ip.addr
    return celtypes.BoolType(
        not (a.is_unspecified or a.is_loopback or a.is_multicast or a.is_link_local)
        and a != ipaddress.IPv4Address("255.255.255.255")
    )


def _is_link_local_multicast(ip: IP) -> Value:
    a = ip.addr
    if isinstance(a, ipaddress.IPv4Address):
        return celtypes.BoolType(a in ipaddress.IPv4Network("224.0.0.0/24"))
    return celtypes.BoolType((int(a) >> 112) & 0xFF0F == 0xFF02)


def _string(arg: Any) -> Value:
    if isinstance(arg, IP | CIDR):
        return celtypes.StringType(str(arg))
    return celtypes.StringType(arg)


def _is_unspecified(ip: IP) -> Value:
    return celtypes.BoolType(ip.addr.is_unspecified)


def _is_loopback(ip: IP) -> Value:
    return celtypes.BoolType(ip.addr.is_loopback)


def _is_link_local_unicast(ip: IP) -> Value:
    return celtypes.BoolType(ip.addr.is_link_local)


def _prefix_length(cidr: CIDR) -> Value:
    return _Int(cidr.iface.network.prefixlen)


def _masked(cidr: CIDR) -> Value:
    return CIDR(ipaddress.ip_interface(str(cidr.iface.network)))


# Module-level named functions only: celpy's transpiler refers to them as ``module.qualname``.
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "matches": _matches,
    "string": _string,
    "_tg_has": _has,
    "ip": _ip,
    "isIP": _is_ip,
    "cidr": _cidr,
    "isCIDR": _is_cidr,
    "containsIP": _contains_ip,
    "containsCIDR": _contains_cidr,
    "family": _family,
    "isUnspecified": _is_unspecified,
    "isLoopback": _is_loopback,
    "isLinkLocalMulticast": _is_link_local_multicast,
    "isLinkLocalUnicast": _is_link_local_unicast,
    "isGlobalUnicast": _is_global_unicast,
    "prefixLength": _prefix_length,
    "masked": _masked,
}
