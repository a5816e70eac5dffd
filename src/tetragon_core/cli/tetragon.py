"""``tetragon``: the agent's command line."""

from __future__ import annotations

import asyncio
import logging
import sys

from tetragon_core.agent import Agent
from tetragon_core.config import parse_agent_args
from tetragon_core.exceptions import BpfError, TetragonError
from tetragon_core.sensors.startup import BASE_SENSOR

# Options of ours that Tetragon lacks (--console, --sensors); they are taken off argv before
# Tetragon's flags are parsed.
CONSOLE_MODES = ("none", "compact", "json")


def split_console(argv: list[str]) -> tuple[str, list[str]]:
    """Extract ``--console MODE`` (live events on stdout) from argv."""
    mode, rest = _take(argv, "--console", "none")
    if mode not in CONSOLE_MODES:
        raise TetragonError(f"--console: must be one of {', '.join(CONSOLE_MODES)}, not {mode!r}")
    return mode, rest


def split_sensors(argv: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """Extract ``--sensors NAME[,NAME...]``: installed sensor plugins to load at start, beside the
    base sensor (policy sensors load with their first policy and need not be named)."""
    value, rest = _take(argv, "--sensors", "")
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    bad = [n for n in names if not n.replace("_", "a").isalnum()]
    if bad:
        raise TetragonError(f"--sensors: {bad[0]!r} is not a sensor name")
    return names, rest


def _take(argv: list[str], option: str, default: str) -> tuple[str, list[str]]:
    """The last value of ``option`` (``--opt V`` or ``--opt=V``) and argv without it."""
    value = default
    rest: list[str] = []
    it = iter(argv)
    for a in it:
        if a == option:
            value = next(it, "")
        elif a.startswith(option + "="):
            value = a.split("=", 1)[1]
        else:
            rest.append(a)
    return value, rest


def main(argv: list[str] | None = None) -> int:
    """Run the agent until SIGTERM/SIGINT; exit 1 with a one-line reason on a startup error."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        console, args = split_console(args)
        extra, args = split_sensors(args)
        cfg = parse_agent_args(args)
    except TetragonError as e:
        print(f"tetragon: {e}", file=sys.stderr)
        return 1
    level = cfg.effective_log_level.upper().replace("WARNING", "WARN").replace("WARN", "WARNING")
    fmt = (
        '{"time":"%(asctime)s","level":"%(levelname)s","msg":"%(message)s"}'
        if cfg.log_format == "json"
        else "time=%(asctime)s level=%(levelname)s msg=%(message)s"
    )
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)
    agent = Agent(cfg, console=console, sensors=(BASE_SENSOR, *(n for n in extra if n != BASE_SENSOR)))
    try:
        asyncio.run(agent.run())
    except TetragonError as e:
        print(f"tetragon: {e}", file=sys.stderr)
        if isinstance(e, BpfError) and e.log:
            print(e.log[-4000:], file=sys.stderr)  # the verifier's verdict is at the end
        return 1
    except KeyboardInterrupt:
        pass
    except OSError as e:  # a file or device the agent needs; never a traceback
        print(f"tetragon: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
