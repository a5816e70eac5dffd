"""cel-python setup: the transpiling runner when usable (else the interpreter), quiet logging, the lock."""

from __future__ import annotations

import logging
import sys
import threading

import celpy

from tetragon_core.filters._cel_check import _check, _Invalid, _rewrite_has
from tetragon_core.filters._cel_functions import _FUNCTIONS


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
