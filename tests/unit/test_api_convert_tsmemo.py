"""``to_proto``'s timestamp memo: the same text converts the same, a bad text raises every time, and
the memo stays bounded."""

from __future__ import annotations

import pytest

from tetragon_core import events as ev
from tetragon_core.api import _convert_plan
from tetragon_core.api.convert import ConversionError, to_proto


def test_a_memoized_timestamp_converts_as_the_first_time() -> None:
    text = "2023-09-09T23:27:42.751301124Z"
    _convert_plan._ts_parts.clear()
    first = to_proto(ev.GetEventsResponse(time=text)).time
    assert _convert_plan._ts_parts[text] == (first.seconds, first.nanos) == (1694302062, 751301124)
    again = to_proto(ev.GetEventsResponse(time=text)).time
    assert (again.seconds, again.nanos) == (first.seconds, first.nanos)


def test_a_bad_timestamp_is_not_memoized() -> None:
    for _ in range(2):
        with pytest.raises(ConversionError):
            to_proto(ev.GetEventsResponse(time="2023-09-09T23:27:42.Z"))
    assert "2023-09-09T23:27:42.Z" not in _convert_plan._ts_parts


def test_the_timestamp_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_convert_plan, "_TS_CACHE_MAX", 8)
    _convert_plan._ts_parts.clear()
    for i in range(50):
        msg = to_proto(ev.GetEventsResponse(time=f"2023-09-09T23:27:42.{i:09d}Z"))
        assert msg.time.nanos == i
        assert len(_convert_plan._ts_parts) <= 8
