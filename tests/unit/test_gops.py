"""--gops-address: the gops protocol (one command byte, the reply until close) with Python's answers."""

from __future__ import annotations

import asyncio
import os
import platform
from pathlib import Path

import pytest

from tetragon_core.exceptions import ConfigError
from tetragon_core.gops import GopsServer, parse_gops_address


async def ask(port: int, command: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(bytes([command]))
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data.decode()


def test_each_command_is_answered(tmp_path: Path) -> None:
    async def main() -> dict[int, str]:
        server = GopsServer("127.0.0.1:0", config_home=str(tmp_path))
        await server.start()
        assert (tmp_path / "gops" / str(os.getpid())).read_text() == str(server.port)

        async def named_task() -> None:
            await asyncio.sleep(30)

        t = asyncio.create_task(named_task(), name="the-ring-reader")
        try:
            return {c: await ask(server.port, c) for c in (1, 2, 3, 4, 5, 7, 0x10, 0x42)}
        finally:
            t.cancel()
            await server.stop()
            assert not (tmp_path / "gops" / str(os.getpid())).exists()

    got = asyncio.run(main())
    assert "thread " in got[1] and "test_each_command_is_answered" in got[1]
    assert "task the-ring-reader [pending]" in got[1] and "named_task" in got[1]
    assert got[2] == "ok"
    assert got[3].startswith("rss: ") and "gc-gen0: " in got[3] and "gc-frozen: " in got[3]
    assert got[4] == f"{platform.python_implementation()} {platform.python_version()}\n"
    assert got[5] == "heap profile: a Go runtime feature with no equivalent in this agent\n"
    assert "threads: " in got[7] and "asyncio tasks: " in got[7]
    assert got[0x10].startswith("SetGCPercent: ")
    assert got[0x42] == "unknown gops command 0x42\n"


@pytest.mark.parametrize("addr", ["localhost", "localhost:http", ":99999", "x:0x10"])
def test_bad_addresses_name_the_flag(addr: str) -> None:
    with pytest.raises(ConfigError, match=r"^--gops-address: "):
        parse_gops_address(addr)


def test_a_port_in_use_names_the_flag(tmp_path: Path) -> None:
    async def main() -> None:
        first = GopsServer("127.0.0.1:0", config_home=str(tmp_path))
        await first.start()
        try:
            with pytest.raises(ConfigError, match=r"^--gops-address: cannot listen on 127\.0\.0\.1:\d+"):
                await GopsServer(f"127.0.0.1:{first.port}", config_home=str(tmp_path)).start()
        finally:
            await first.stop()

    asyncio.run(main())
