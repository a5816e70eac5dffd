"""The ``cel_expression`` filter: CEL expressions over the event, evaluated with cel-python.

Upstream (``pkg/filters/cel_expression.go``) declares one CEL variable per ``GetEventsResponse``
event field (``process_exec``, ``process_exit``, ``process_kprobe``… typed as the proto messages,
container ``tetragon``, plus the Kubernetes IP/CIDR library) and binds the one that is set; an
expression must type-check to ``bool``. Expressions of one filter are ORed.

Here each expression is parsed once by cel-python and transpiled to Python. The event is handed to
it as a lazy, proto-shaped view of the msgspec Struct (:class:`_View`): field names are the proto
names (snake_case, as in the JSON export), and a field that is not set reads as its proto3 default
(``""``, ``0``, ``false``, an empty list/map, an empty message, ``null`` for wrapper types, the epoch
for timestamps), as with proto messages in cel-go. ``has(m.f)`` follows proto3 presence. 64-bit
integers are CEL ``int``/``uint`` (not the JSON strings), unsigned fields are ``uint`` but also
compare with ``int`` literals when the field is on the left, and enum fields are their numbers (the
enum constants are bound too: ``tetragon.KprobeAction.KPROBE_ACTION_POST`` or
``KprobeAction.KPROBE_ACTION_POST``).

Checked when compiling (→ :class:`ConfigError`): syntax, references to undeclared variables,
unknown functions and macros, and constant patterns of ``matches()``. Not checked, unlike cel-go:
the result type (cel-python has no type checker): an expression whose value is not ``true`` simply
does not match. At evaluation any CEL error (a variable of another event kind, no such field, a
failed conversion) counts as no match for that expression, and the next one is tried; upstream
stops at the first error.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import sys
import threading
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, cast

import celpy
import lark
import msgspec
import re2  # type: ignore[import-untyped]
from celpy import celtypes
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from tetragon_core.api.tetragon import bpf_pb2, capabilities_pb2, events_pb2, tetragon_pb2
from tetragon_core.events import GetEventsResponse
from tetragon_core.exceptions import ConfigError
from tetragon_core.filters.access import EVENT_FIELDS, event_payload
from tetragon_core.filters.regex import check_pattern

_FIELD = "cel_expression"
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter", "reduce", "min"})
_TYPE_IDENTS = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type", "dyn"}
)

Value = Any  # a celpy value


# --- numbers that compare across int and uint --------------------------------------------------------


def _plain(other: Any) -> int | Any:
    return int(other) if isinstance(other, celtypes.IntType | celtypes.UintType) else other


class _Uint(celtypes.UintType):
    """A ``uint`` field value; also compares with ``int`` values (``pid == 42`` and ``pid == 42u``)."""

    def __eq__(self, other: Any) -> bool:
        return int(self) == _plain(other)

    def __ne__(self, other: Any) -> bool:
        return int(self) != _plain(other)

    def __lt__(self, other: Any) -> bool:
        return bool(int(self) < _plain(other))

    def __le__(self, other: Any) -> bool:
        return bool(int(self) <= _plain(other))

    def __gt__(self, other: Any) -> bool:
        return bool(int(self) > _plain(other))

    def __ge__(self, other: Any) -> bool:
        return bool(int(self) >= _plain(other))

    def __hash__(self) -> int:
        return int.__hash__(self)


class _Int(celtypes.IntType):
    """An ``int`` field value; also compares with ``uint`` values."""

    def __eq__(self, other: Any) -> bool:
        return int(self) == _plain(other)

    def __ne__(self, other: Any) -> bool:
        return int(self) != _plain(other)

    def __lt__(self, other: Any) -> bool:
        return bool(int(self) < _plain(other))

    def __le__(self, other: Any) -> bool:
        return bool(int(self) <= _plain(other))

    def __gt__(self, other: Any) -> bool:
        return bool(int(self) > _plain(other))

    def __ge__(self, other: Any) -> bool:
        return bool(int(self) >= _plain(other))

    def __hash__(self) -> int:
        return int.__hash__(self)


# --- the proto-shaped view of event Structs ---------------------------------------------------------

_Conv = Callable[[Any], Value]


class _Field(typing.NamedTuple):
    attr: str
    conv: _Conv  # Struct attribute value (maybe None/default) -> CEL value
    default: Any  # the Struct default: the field is "set" (has()) when the value differs


_specs: dict[type, dict[str, _Field]] = {}
_EPOCH = "1970-01-01T00:00:00Z"
_UNSIGNED = frozenset(
    {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED32}
    | {FieldDescriptor.TYPE_FIXED64}
)
_WRAPPER_UNSIGNED = frozenset({"google.protobuf.UInt32Value", "google.protobuf.UInt64Value"})


def _descriptor(cls: type) -> Descriptor | None:
    try:
        return cast(Descriptor, events_pb2.DESCRIPTOR.pool.FindMessageTypeByName(f"tetragon.{cls.__name__}"))
    except KeyError:
        return None


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _enum_number(enum: EnumDescriptor) -> _Conv:
    def conv(v: Any) -> Value:
        value = enum.values_by_name.get(v)
        if value is not None:
            return _Int(value.number)
        try:
            return _Int(int(v))  # a number without a name, carried as its decimal string
        except (TypeError, ValueError):
            return _Int(0)

    return conv


def _converter(tp: Any, fd: FieldDescriptor | None) -> _Conv:
    """How to turn a Struct attribute of annotation ``tp`` (proto field ``fd``) into a CEL value."""
    inner, optional = _unwrap_optional(tp)
    origin = typing.get_origin(inner)
    if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
        struct_cls = inner

        def conv_struct(v: Any) -> Value:
            return _View(v if v is not None else _empty(struct_cls))

        return conv_struct
    if origin is list:
        (elem_tp,) = typing.get_args(inner)
        elem = _converter(elem_tp, fd)
        return lambda v: celtypes.ListType([elem(e) for e in v or ()])
    if origin is dict:
        _, val_tp = typing.get_args(inner)
        val_fd = fd.message_type.fields_by_name.get("value") if fd is not None and fd.message_type else None
        val = _converter(val_tp, val_fd)
        return lambda v: celtypes.MapType({celtypes.StringType(k): val(x) for k, x in (v or {}).items()})
    if inner is bool:
        if optional:
            return lambda v: None if v is None else celtypes.BoolType(v)
        return celtypes.BoolType
    if inner is int:
        unsigned = fd is not None and (
            fd.type in _UNSIGNED
            or (fd.message_type is not None and fd.message_type.full_name in _WRAPPER_UNSIGNED)
        )
        num: type[_Uint] | type[_Int] = _Uint if unsigned else _Int
        if optional:
            return lambda v: None if v is None else num(v)
        return lambda v: num(v or 0)
    if inner is float:
        return lambda v: celtypes.DoubleType(v or 0.0)
    if inner is str:
        if fd is not None and fd.message_type is not None:
            if fd.message_type.full_name == "google.protobuf.Timestamp":
                return lambda v: celtypes.TimestampType(v or _EPOCH)
            return lambda v: None if v is None else celtypes.StringType(v)  # StringValue wrapper
        if fd is not None and fd.enum_type is not None:
            return _enum_number(fd.enum_type)
        if fd is not None and fd.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64):
            return lambda v: _Int(int(v or 0))
        if fd is not None and fd.type in _UNSIGNED:
            return lambda v: _Uint(int(v or 0))
        if fd is not None and fd.type == FieldDescriptor.TYPE_BYTES:
            return lambda v: celtypes.BytesType(base64.b64decode(v or ""))
        if optional:
            return lambda v: None if v is None else celtypes.StringType(v)
        return lambda v: celtypes.StringType(v or "")
    return lambda v: celpy.adapter.json_to_cel(msgspec.to_builtins(v))


_empties: dict[type, Any] = {}


def _empty(cls: type) -> Any:
    inst = _empties.get(cls)
    if inst is None:
        inst = _empties[cls] = cls()
    return inst


def _spec(cls: type) -> dict[str, _Field]:
    spec = _specs.get(cls)
    if spec is None:
        desc = _descriptor(cls)
        spec = {}
        for info in msgspec.structs.fields(cls):
            fd = desc.fields_by_name.get(info.encode_name) if desc is not None else None
            default: Any = info.default
            if default is msgspec.NODEFAULT and info.default_factory is not msgspec.NODEFAULT:
                default = info.default_factory()
            spec[info.encode_name] = _Field(info.name, _converter(info.type, fd), default)
        _specs[cls] = spec
    return spec


class _View(celtypes.MessageType):
    """A msgspec event Struct seen as a CEL message; fields are converted when read."""

    def __init__(self, obj: Any) -> None:
        dict.__init__(self)
        self._obj = obj
        self._spec = _spec(type(obj))

    def get(self, key: Any, default: Any = None) -> Value:
        field = self._spec.get(key)
        if field is None:
            raise KeyError(f"no such field {key!r}")
        return field.conv(getattr(self._obj, field.attr))

    def __getitem__(self, key: Any) -> Value:
        return self.get(key)

    def has_field(self, key: str) -> celtypes.BoolType:
        """``has(m.key)``: whether the field is set (proto3: differs from its default)."""
        field = self._spec.get(key)
        if field is None:
            raise KeyError(f"no such field {key!r}")
        return celtypes.BoolType(getattr(self._obj, field.attr) != field.default)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _View) and bool(self._obj == other._obj)

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"_View({self._obj!r})"


def _has(target: Any, name: Any) -> Value:
    if isinstance(target, _View):
        return target.has_field(str(name))
    if isinstance(target, dict):
        return celtypes.BoolType(name in target)
    raise TypeError(f"has() on a {type(target).__name__}")


# --- enum constants ------------------------------------------------------------------------------


def _enum_namespace() -> dict[str, celtypes.MapType]:
    """The top-level enums of the tetragon protos, as ``{EnumName: {VALUE_NAME: number}}``."""
    out: dict[str, celtypes.MapType] = {}
    for module in (events_pb2, capabilities_pb2, tetragon_pb2, bpf_pb2):
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            values = {celtypes.StringType(v.name): _Int(v.number) for v in enum.values}
            out[enum.name] = celtypes.MapType(values)
    return out


_ENUMS = _enum_namespace()
_ENUM_BINDINGS: dict[str, Value] = {**_ENUMS, "tetragon": celtypes.MapType(dict(_ENUMS.items()))}


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
_KNOWN_FUNCTIONS = frozenset(celpy.evaluation.base_functions) | frozenset(_FUNCTIONS) | {"has", "dyn"}
_DECLARED = frozenset(EVENT_FIELDS) | frozenset(_ENUM_BINDINGS) | _TYPE_IDENTS


# --- compile-time checks and the has() rewrite ------------------------------------------------------


class _Invalid(Exception):
    pass


def _token(node: Any) -> str:
    return str(node.value) if isinstance(node, lark.Token) else ""


def _single_path(node: Any, want: str) -> Any:
    """Descend through single-child nodes from ``node`` until a ``want`` node; None if none."""
    while isinstance(node, lark.Tree):
        if node.data == want:
            return node
        subtrees = [c for c in node.children if isinstance(c, lark.Tree)]
        if len(node.children) != 1 or len(subtrees) != 1:
            return None
        node = subtrees[0]
    return None


def _string_literal(node: Any) -> str | None:
    lit = _single_path(node, "literal")
    if lit is None or not lit.children:
        return None
    text = _token(lit.children[0])
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and not text.startswith(('"""', "'''")):
        body = text[1:-1]
        if "\\" not in body:
            return body
    return None


def _check_regex_arg(node: Any) -> None:
    pattern = _string_literal(node)
    if pattern is not None:
        try:
            check_pattern("matches", pattern)
        except ConfigError as exc:
            raise _Invalid(str(exc)) from None


def _check(node: Any, scope: frozenset[str]) -> None:
    if not isinstance(node, lark.Tree):
        return
    kind = node.data
    children = node.children
    if kind == "ident":
        name = _token(children[0])
        if name not in scope and name not in _DECLARED:
            raise _Invalid(f"undeclared reference to '{name}'")
        return
    if kind == "ident_arg":
        name = _token(children[0])
        if name not in _KNOWN_FUNCTIONS:
            raise _Invalid(f"undeclared reference to '{name}'")
        args = children[1].children if len(children) > 1 and isinstance(children[1], lark.Tree) else []
        if name == "matches" and len(args) == 2:
            _check_regex_arg(args[1])
        for arg in args:
            _check(arg, scope)
        return
    if kind == "member_dot_arg":
        target, method = children[0], _token(children[1])
        args = children[2].children if len(children) > 2 and isinstance(children[2], lark.Tree) else []
        _check(target, scope)
        if method in _MACROS:
            var = _single_path(args[0], "ident") if args else None
            if var is None or len(args) < 2:
                raise _Invalid(f"{method}() macro needs a variable name and an expression")
            inner = scope | {_token(var.children[0])}
            for arg in args[1:]:
                _check(arg, inner)
            return
        if method not in _KNOWN_FUNCTIONS:
            raise _Invalid(f"undeclared reference to '{method}'")
        if method == "matches" and len(args) == 1:
            _check_regex_arg(args[0])
        for arg in args:
            _check(arg, scope)
        return
    if kind == "member_dot":
        _check(children[0], scope)
        return
    for child in children:
        _check(child, scope)


def _rewrite_has(node: Any, env: celpy.Environment) -> None:
    """Turn ``has(x.f)`` into ``x._tg_has("f")`` so that presence follows proto3 rules."""
    if not isinstance(node, lark.Tree):
        return
    for child in node.children:
        _rewrite_has(child, env)
    if node.data != "primary" or len(node.children) != 1:
        return
    call = node.children[0]
    if not isinstance(call, lark.Tree) or call.data != "ident_arg" or _token(call.children[0]) != "has":
        return
    if len(call.children) != 2 or len(call.children[1].children) != 1:
        raise _Invalid("has() macro needs one field selection argument")
    dot = _single_path(call.children[1].children[0], "member_dot")
    if dot is None:
        raise _Invalid("has() macro needs a field selection argument")
    target, field = dot.children
    template = _single_path(env.compile(f'_tg_x._tg_has("{_token(field)}")'), "member_dot_arg")
    template.children[0] = target
    node.data = template.data
    node.children = template.children


class _QuietLogger(logging.Logger):
    """celpy logs every evaluation error at ERROR level; per-event errors are expected here."""

    def isEnabledFor(self, level: int) -> bool:
        return False


_QUIET = _QuietLogger("tetragon_core.filters.cel.runner")
_eval_lock = threading.Lock()  # celpy's compiled runner executes in shared module globals


def _compiled_runner_usable() -> bool:
    """Whether celpy's transpiling runner can be used in this process.

    celpy keeps one process-wide Lark parser, built with the tree class of the first Environment
    created; the transpiler needs ``TranspilerTree`` nodes (which the interpreter accepts too). The
    transpiled code runs in ``celpy.evaluation``'s globals and names our functions by
    ``module.qualname``, so our top-level package must be reachable from there.
    """
    parser_cls = celpy.celparser.CELParser
    if parser_cls.CEL_PARSER is None:
        parser_cls(tree_class=celpy.evaluation.TranspilerTree)
    try:
        probe = celpy.Environment(runner_class=celpy.CompiledRunner).compile("1")
    except Exception:
        return False
    if not isinstance(probe, celpy.evaluation.TranspilerTree):
        return False
    celpy.evaluation.__dict__.setdefault("tetragon_core", sys.modules["tetragon_core"])
    return True


_RUNNERS: tuple[type[celpy.Runner], ...] = (
    (celpy.CompiledRunner, celpy.InterpretedRunner)
    if _compiled_runner_usable()
    else (celpy.InterpretedRunner,)
)


def _program(expr: str) -> celpy.Runner:
    for runner_class in _RUNNERS:
        env = celpy.Environment(runner_class=runner_class)
        try:
            ast = env.compile(expr)
        except celpy.celparser.CELParseError as exc:
            where = f"line {exc.line}, column {exc.column}" if getattr(exc, "line", None) else "?"
            raise _Invalid(f"syntax error at {where}") from None
        _check(ast, frozenset())
        _rewrite_has(ast, env)
        try:
            runner = env.program(ast, functions=_FUNCTIONS)
            if isinstance(runner, celpy.CompiledRunner):
                runner.tp.logger = _QUIET
        except Exception:
            if runner_class is celpy.InterpretedRunner:
                raise
            continue  # something the transpiler does not handle: interpret instead
        runner.logger = _QUIET
        return runner
    raise AssertionError("unreachable")


def compile_cel(expressions: Sequence[str]) -> Callable[[GetEventsResponse], bool]:
    """Compile the ``cel_expression`` values of one filter into an ``event -> bool`` (any is true).

    Raises :class:`ConfigError` ``"cel_expression: invalid expression '<expr>': <reason>"``.
    """
    programs: list[celpy.Runner] = []
    for expr in expressions:
        try:
            programs.append(_program(expr))
        except _Invalid as exc:
            raise ConfigError(f"{_FIELD}: invalid expression {expr!r}: {exc}") from None
        except Exception as exc:  # anything else cel-python raises while compiling
            raise ConfigError(f"{_FIELD}: invalid expression {expr!r}: {exc}") from None

    def match(ev: GetEventsResponse) -> bool:
        payload = event_payload(ev)
        if payload is None:
            return False
        activation = dict(_ENUM_BINDINGS)
        activation[payload[0]] = _View(payload[1])
        for program in programs:
            try:
                with _eval_lock:
                    result = program.evaluate(activation)
            except Exception:
                continue
            if isinstance(result, celtypes.BoolType) and result:
                return True
        return False

    return match
