"""Compile-time checks of a parsed CEL expression, and the ``has()`` rewrite (proto3 presence)."""

from __future__ import annotations

from typing import Any

import celpy
import lark

from tetragon_core.exceptions import ConfigError
from tetragon_core.filters._cel_activation import _ENUM_BINDINGS
from tetragon_core.filters._cel_functions import _FUNCTIONS
from tetragon_core.filters.access import EVENT_FIELDS
from tetragon_core.filters.regex import check_pattern

_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter", "reduce", "min"})
_TYPE_IDENTS = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type", "dyn"}
)
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
