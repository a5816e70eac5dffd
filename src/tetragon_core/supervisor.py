"""The agent's task tree: every long-running part under one anyio task group, each with an owner.

A part is a coroutine that runs until cancelled; it calls ``started()`` once it serves (a server
part after it listens), and :meth:`Supervisor.start` waits for that, so the agent reports ready
only when its parts are up. When a part raises, the supervisor restarts it if it is restartable
and has not failed :data:`MAX_RESTARTS` times within :data:`RESTART_WINDOW_S`, after a pause that
doubles with each failure; otherwise the part has failed for good: :class:`PartFailed` cancels
every other part and the start-up code, and the agent stops, detaching every BPF program, rather
than running half. A part that returns on its own has failed too (nothing long-running may end
quietly). ``tetragon_supervisor_restarts_total{part}`` counts restarts, and
:attr:`Supervisor.restarting` tells the health server which parts are down meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

import anyio
import anyio.abc

from tetragon_core.exceptions import TetragonError
from tetragon_core.metrics import Registry

__all__ = ["MAX_RESTARTS", "Part", "PartFailed", "Supervisor"]

log = logging.getLogger(__name__)

MAX_RESTARTS: Final = 5
RESTART_WINDOW_S: Final = 60.0
FIRST_PAUSE_S: Final = 0.1

Started = Callable[[], None]


class PartFailed(TetragonError):
    """A part of the agent failed and could not be restarted."""

    def __init__(self, part: str, cause: BaseException | str) -> None:
        why = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"{part} failed: {why}")
        self.part = part


@dataclass(frozen=True)
class Part:
    """One long-running part: its name (the owner in logs, metrics and health), its coroutine
    function (called with ``started``), and whether running it again after a failure is safe."""

    name: str
    run: Callable[[Started], Awaitable[None]]
    restart: bool = True

    @classmethod
    def loop(cls, name: str, run: Callable[[], Awaitable[None]], restart: bool = True) -> Part:
        """A part that serves from its first instruction (a periodic task, the ring reader)."""

        async def body(started: Started) -> None:
            started()
            await run()

        return cls(name, body, restart)


class Supervisor:
    """``async with Supervisor(registry) as sup:`` the task group; :meth:`start` parts in it, then
    :meth:`wait` until :meth:`stop` or a part's final failure (raised as :class:`PartFailed`)."""

    def __init__(self, registry: Registry, *, max_restarts: int = MAX_RESTARTS) -> None:
        self._max = max_restarts
        self._tg: anyio.abc.TaskGroup | None = None
        self._stop: anyio.Event | None = None
        self._stopping = False
        self._restarts = registry.counter(
            "tetragon_supervisor_restarts_total",
            "Times a part of the agent (ring reader, servers, periodic tasks) was restarted after failing.",
            ("part",),
        )
        #: part → why it is down, while it waits to be restarted
        self.restarting: dict[str, str] = {}
        #: the parts running now
        self.running: set[str] = set()

    async def __aenter__(self) -> Supervisor:
        self._stop = anyio.Event()
        if self._stopping:
            self._stop.set()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()  # whatever ends the body ends every part
        try:
            return await self._tg.__aexit__(et, e, tb)
        except BaseExceptionGroup as eg:
            failed = [x for x in _leaves(eg) if isinstance(x, PartFailed)]
            if failed:
                raise failed[0] from None
            others = [x for x in _leaves(eg) if not isinstance(x, anyio.get_cancelled_exc_class())]
            if len(others) == 1:
                raise others[0] from None
            raise
        finally:
            self._tg = None

    async def start(self, part: Part) -> None:
        """Run ``part`` under supervision; returns once it called ``started`` (its first run's
        failure before that raises here, as a start-up error)."""
        assert self._tg is not None, "start() inside `async with supervisor`"
        await self._tg.start(self._supervise, part, name=part.name)

    def stop(self) -> None:
        """End :meth:`wait` (from the event loop's thread); every part is then cancelled."""
        self._stopping = True
        if self._stop is not None:
            self._stop.set()

    async def wait(self) -> None:
        """Until :meth:`stop` (a part's final failure cancels this and raises at the block's end)."""
        assert self._stop is not None
        await self._stop.wait()

    async def _supervise(self, part: Part, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        failures: deque[float] = deque()
        first = [True]

        def started() -> None:
            if first[0]:
                first[0] = False
                task_status.started()

        while True:
            self.running.add(part.name)
            try:
                await part.run(started)
                cause: BaseException | str = "it returned; a long-running part must not end"
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as e:
                if first[0]:
                    raise  # never started: a start-up error, the caller's to report
                cause = e
            finally:
                self.running.discard(part.name)
            now = time.monotonic()
            failures.append(now)
            while failures and now - failures[0] > RESTART_WINDOW_S:
                failures.popleft()
            if not part.restart or len(failures) > self._max:
                log.error("%s failed for good: %s", part.name, cause)
                raise PartFailed(part.name, cause)
            pause = FIRST_PAUSE_S * 2 ** (len(failures) - 1)
            why = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
            log.warning("%s failed (%s); restarting in %.1f s", part.name, why, pause)
            self.restarting[part.name] = why
            self._restarts.inc(part.name)
            try:
                await anyio.sleep(pause)
            finally:
                self.restarting.pop(part.name, None)


def _leaves(eg: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for e in eg.exceptions:
        out.extend(_leaves(e) if isinstance(e, BaseExceptionGroup) else [e])
    return out
