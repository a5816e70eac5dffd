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

from collections.abc import Callable, Sequence

import celpy
from celpy import celtypes

from tetragon_core.events import GetEventsResponse
from tetragon_core.exceptions import ConfigError
from tetragon_core.filters._cel_activation import _ENUM_BINDINGS, Value, _View
from tetragon_core.filters._cel_check import _Invalid
from tetragon_core.filters._cel_functions import CIDR, IP
from tetragon_core.filters._cel_runner import _RUNNERS as _RUNNERS, _eval_lock, _program
from tetragon_core.filters.access import event_payload

__all__ = ["CIDR", "IP", "Value", "compile_cel"]

_FIELD = "cel_expression"


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
