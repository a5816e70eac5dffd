"""Shared test fixtures.

``loop_watchdog`` fails a test whose event loop ran any single callback for longer than
``SLOW_CALLBACK_S``: a blocking call inside the loop shows up as exactly that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

SLOW_CALLBACK_S = 0.25


class _SlowCallbacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Executing") and "took" in msg:
            self.records.append(msg)


@pytest.fixture
def loop_watchdog() -> Iterator[_SlowCallbacks]:
    """Run asyncio in debug mode and fail the test on any slow (blocking) callback."""
    handler = _SlowCallbacks()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    policy = asyncio.get_event_loop_policy()

    class _Debug(type(policy)):  # type: ignore[misc]
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            loop = super().new_event_loop()
            loop.set_debug(True)
            loop.slow_callback_duration = SLOW_CALLBACK_S
            return loop

    asyncio.set_event_loop_policy(_Debug())
    try:
        yield handler
    finally:
        asyncio.set_event_loop_policy(policy)
        logger.removeHandler(handler)
    assert not handler.records, "blocking call inside the event loop:\n" + "\n".join(handler.records)
