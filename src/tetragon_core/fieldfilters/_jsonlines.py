"""Reading a flag's value as a stream of JSON objects ("JSON lines"), with line numbers.

Tetragon reads ``--field-filters``, ``--redaction-filters``, ``--export-allowlist``… with Go's
``json.Decoder``: a stream of JSON values separated by any white space (one per line in practice,
but an object may span lines and two may share one). This reader accepts the same, and reports
the line each object starts on so that errors can point at it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from tetragon_core.exceptions import ConfigError

__all__ = ["iter_json_objects"]

_JSON_WS = re.compile(r"[ \t\n\r]*")
_decoder = json.JSONDecoder()


def iter_json_objects(text: str, flag: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, object)`` for each JSON object in ``text``; ``line`` is 1-based.

    Raises :class:`ConfigError` naming ``flag`` and the line for malformed JSON or a value that
    is not an object.
    """
    pos = 0
    line = 1
    end_of_text = len(text)
    while True:
        ws_end = _JSON_WS.match(text, pos)
        start = ws_end.end() if ws_end is not None else pos
        line += text.count("\n", pos, start)
        if start >= end_of_text:
            return
        try:
            value, end = _decoder.raw_decode(text, start)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{flag}: line {e.lineno}: invalid JSON: {e.msg}") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{flag}: line {line}: expected a JSON object, got {_json_kind(value)}")
        yield line, value
        line += text.count("\n", start, end)
        pos = end


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
