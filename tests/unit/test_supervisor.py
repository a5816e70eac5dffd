"""The supervisor: a failing part is restarted within its budget, then the whole tree stops;
a part that may not restart stops it at once; start() waits for a part to serve."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio
import pytest

from tetragon_core.metrics import Registry
from tetragon_core.supervisor import Part, PartFailed, Supervisor


def test_a_part_is_restarted_then_the_tree_stops_when_its_budget_is_spent() -> None:
    reg = Registry()
    runs = {"flaky": 0, "steady": 0}
    cancelled: list[str] = []

    async def flaky() -> None:
        runs["flaky"] += 1
        raise OSError("socket gone")

    async def steady() -> None:
        runs["steady"] += 1
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.append("steady")

    async def main() -> None:
        async with Supervisor(reg, max_restarts=3) as sup:
            await sup.start(Part.loop("steady", steady))
            await sup.start(Part.loop("flaky", flaky))
            await sup.wait()

    with pytest.raises(PartFailed, match=r"^flaky failed: OSError: socket gone$"):
        asyncio.run(main())
    assert runs == {"flaky": 4, "steady": 1}  # the first run and three restarts; steady untouched
    assert cancelled == ["steady"]  # then cancelled, not left running
    assert reg["tetragon_supervisor_restarts_total"].get("flaky") == 3


def test_a_recovering_part_runs_on_and_health_sees_it_down_meanwhile() -> None:
    reg = Registry()
    seen: list[dict[str, str]] = []
    state = {"n": 0}

    async def reader() -> None:
        state["n"] += 1
        await anyio.sleep(0.01)
        if state["n"] == 1:
            raise RuntimeError("one bad batch")
        await anyio.sleep_forever()

    async def main() -> None:
        async with Supervisor(reg) as sup:
            await sup.start(Part.loop("reader", reader))
            await anyio.sleep(0.05)  # inside the first pause (0.1 s)
            seen.append(dict(sup.restarting))
            await anyio.sleep(0.3)
            seen.append(dict(sup.restarting))
            assert "reader" in sup.running
            sup.stop()
            await sup.wait()

    asyncio.run(main())
    assert seen == [{"reader": "RuntimeError: one bad batch"}, {}]
    assert reg["tetragon_supervisor_restarts_total"].get("reader") == 1


def test_start_waits_for_a_server_part_and_a_start_failure_is_raised_there() -> None:
    order: list[str] = []

    async def server(started: Callable[[], None]) -> None:
        await anyio.sleep(0.05)
        order.append("listening")
        started()
        try:
            await anyio.sleep_forever()
        finally:
            order.append("closed")

    async def broken(started: Callable[[], None]) -> None:
        raise OSError("address in use")

    async def main() -> None:
        async with Supervisor(Registry()) as sup:
            await sup.start(Part("grpc", server))
            order.append("ready")
            await sup.start(Part("metrics", broken))

    with pytest.raises(OSError, match="address in use"):
        asyncio.run(main())
    assert order == ["listening", "ready", "closed"]


def test_a_part_that_may_not_restart_or_that_returns_fails_at_once() -> None:
    async def once() -> None:
        await anyio.sleep(0)
        raise ValueError("bad state")

    async def quits() -> None:
        return

    for part, why in (
        (Part.loop("grpc", once, restart=False), "ValueError: bad state"),
        (Part.loop("gc", quits, restart=False), "it returned"),
    ):

        async def main(p: Part = part) -> None:
            async with Supervisor(Registry()) as sup:
                await sup.start(p)
                await sup.wait()

        with pytest.raises(PartFailed, match=why):
            asyncio.run(main())
