"""``--gops-address``: the gops diagnostics agent's protocol, with Python's answers.

Tetragon runs google/gops' agent, and its Helm chart turns it on (``localhost:8118``). The gops
client connects, sends one command byte and reads the reply until the agent closes. The commands
with a Python meaning are served:

* ``0x1`` stack: every thread's Python stack, then every asyncio task's;
* ``0x2`` gc: a full collection, then ``ok``;
* ``0x3`` memstats: RSS and peak RSS, the GC's generation counts, collections and freezes;
* ``0x4`` version: the Python version;
* ``0x7`` stats: threads, asyncio tasks, CPUs.

The Go-only ones (heap and CPU profiles, the execution trace, the binary dump, SetGCPercent) are
answered with one line saying so. As gops' agent does, the port is written to
``$HOME/.config/gops/<pid>`` (``gops <pid>`` finds it) and removed at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import platform
import resource
import sys
import threading
import traceback
from pathlib import Path
from typing import Final

from tetragon_core.exceptions import ConfigError

__all__ = ["FLAG", "GopsServer", "parse_gops_address"]

log = logging.getLogger(__name__)

FLAG: Final = "--gops-address"
STACK, GC, MEMSTATS, VERSION, HEAP, CPU, STATS, TRACE, BINARY, SETGC = (
    0x1,
    0x2,
    0x3,
    0x4,
    0x5,
    0x6,
    0x7,
    0x8,
    0x9,
    0x10,
)
_GO_ONLY: Final = {
    HEAP: "heap profile",
    CPU: "CPU profile",
    TRACE: "execution trace",
    BINARY: "binary dump",
    SETGC: "SetGCPercent",
}


def parse_gops_address(addr: str) -> tuple[str, int]:
    """``host:port`` (host may be empty: every interface; port 0: any free one); errors name the flag."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{FLAG}: {addr!r} is not host:port")
    return host.strip("[]"), int(port)


def _stacks() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    out: list[str] = []
    for ident, frame in sys._current_frames().items():
        out.append(f"thread {ident} [{names.get(ident, '?')}]:\n")
        out.extend(traceback.format_stack(frame))
        out.append("\n")
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:
        tasks = set()
    for task in sorted(tasks, key=lambda t: t.get_name()):
        out.append(f"task {task.get_name()} [{'done' if task.done() else 'pending'}]:\n")
        for f in task.get_stack(limit=32):
            out.extend(traceback.format_stack(f, limit=1))
        out.append("\n")
    return "".join(out)


def _memstats() -> str:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    lines = [f"rss: {rss} bytes", f"max-rss: {usage.ru_maxrss * 1024} bytes"]
    for i, st in enumerate(gc.get_stats()):
        lines.append(
            f"gc-gen{i}: {gc.get_count()[i]} objects pending, {st['collections']} collections, "
            f"{st['collected']} collected, {st['uncollectable']} uncollectable"
        )
    lines.append(f"gc-frozen: {gc.get_freeze_count()} objects")
    lines.append(f"gc-thresholds: {gc.get_threshold()}")
    return "\n".join(lines) + "\n"


def _stats() -> str:
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:
        tasks = 0
    return (
        f"threads: {threading.active_count()}\nasyncio tasks: {tasks}\n"
        f"num CPU: {os.cpu_count()}\nusable CPUs: {len(os.sched_getaffinity(0))}\n"
    )


def answer(command: int) -> bytes:
    """The reply to one gops command byte."""
    if command == STACK:
        return _stacks().encode()
    if command == GC:
        gc.collect()
        return b"ok"
    if command == MEMSTATS:
        return _memstats().encode()
    if command == VERSION:
        return f"{platform.python_implementation()} {platform.python_version()}\n".encode()
    if command == STATS:
        return _stats().encode()
    if command in _GO_ONLY:
        return f"{_GO_ONLY[command]}: a Go runtime feature with no equivalent in this agent\n".encode()
    return f"unknown gops command 0x{command:x}\n".encode()


class GopsServer:
    """The listener; :meth:`start` binds (errors name the flag), :meth:`stop` closes."""

    def __init__(self, addr: str, config_home: str | None = None) -> None:
        self.host, self.port = parse_gops_address(addr)
        self._server: asyncio.Server | None = None
        home = config_home if config_home is not None else os.path.expanduser("~/.config")
        self.port_file = Path(home) / "gops" / str(os.getpid())

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self.host or None, self.port)
        except OSError as e:
            raise ConfigError(f"{FLAG}: cannot listen on {self.host}:{self.port}: {e.strerror}") from e
        bound = self._server.sockets[0].getsockname()[1]
        self.port = int(bound)
        with contextlib.suppress(OSError):  # discovery only: the agent works without it
            self.port_file.parent.mkdir(parents=True, exist_ok=True)
            self.port_file.write_text(str(bound))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            command = await asyncio.wait_for(reader.read(1), 5)
            if command:
                writer.write(answer(command[0]))
                await writer.drain()
        except (OSError, TimeoutError) as e:
            log.debug("gops: %s", e)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.port_file.unlink()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
