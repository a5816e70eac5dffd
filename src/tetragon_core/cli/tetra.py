"""``tetra``: Tetragon's client, over the agent's gRPC API or on JSON export lines piped to stdin."""

from __future__ import annotations

import argparse
import asyncio
import os
import stat
import sys
from collections.abc import Iterable
from typing import TextIO

import msgspec
from grpclib import GRPCError

from tetragon_core import __version__, plugin_events
from tetragon_core.api.tetragon import events_pb2, tetragon_pb2
from tetragon_core.cli.tetra_admin import add_admin_commands, run_admin
from tetragon_core.cli.tetra_info import COMMANDS as INFO_COMMANDS, add_info_commands, run_info
from tetragon_core.cli.tetra_policy import add_policy_commands, run_policy
from tetragon_core.cli.tetra_probe import add_probe_command, run_probe
from tetragon_core.cli.tetra_request import add_filter_flags, build_request
from tetragon_core.events import GetEventsResponse, encode_json
from tetragon_core.exceptions import TetragonError
from tetragon_core.export.compact import render_compact
from tetragon_core.fieldfilters import compile_field_filters
from tetragon_core.filters import EventFilter
from tetragon_core.grpc.address import resolve_client_address

_decoder = msgspec.json.Decoder(GetEventsResponse)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tetra", description="Tetragon CLI")
    p.add_argument("--server-address", default="", help="gRPC server address")
    p.add_argument("--timeout", default="30s", help="Connection timeout")
    p.add_argument("--retries", type=int, default=1, help="Connection retries with exponential backoff")
    p.add_argument("-d", "--debug", action="store_true", help="Enable debug messages")
    sub = p.add_subparsers(dest="command", required=True)
    ver = sub.add_parser("version", help="Print version from CLI and server")
    ver.add_argument("--server", action="store_true", help="Also ask the server for its version")
    sub.add_parser("status", help="Print health status")
    add_admin_commands(sub)
    add_policy_commands(sub)
    add_info_commands(sub)
    add_probe_command(sub)
    ge = sub.add_parser("getevents", help="Print events")
    ge.add_argument("-o", "--output", choices=("json", "compact"), default="json", help="Output format")
    ge.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="Colorize compact output"
    )
    ge.add_argument("--timestamps", action="store_true", help="Include timestamps in compact output")
    ge.add_argument("--reconnect", action="store_true", help="Keep trying to reconnect")
    add_filter_flags(ge)
    return p


def render_stream(
    lines: Iterable[bytes],
    out: TextIO,
    *,
    output: str,
    color: bool,
    timestamps: bool,
    request: events_pb2.GetEventsRequest | None = None,
) -> int:
    """Render JSON export lines, filtered as the server would filter ``request``; returns the
    number of malformed lines skipped."""
    req = request or events_pb2.GetEventsRequest()
    keep = EventFilter(req.allow_list, req.deny_list)
    fields = compile_field_filters(req.field_filters)
    bad = 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        # protojson output is UTF-8; bytes that are not are replaced rather than fatal
        line = line.decode("utf-8", "replace").encode()
        try:
            ev = _decoder.decode(line)
            if ev.event_type() == "UNDEF" and plugin_events.registered():
                ev = _plugin_line(line, ev)
        except msgspec.DecodeError as e:
            print(f"tetra: skipping malformed line: {e}", file=sys.stderr)
            bad += 1
            continue
        if not keep(ev):
            continue
        if fields:
            ev = fields(ev)
        if output == "json":
            out.write(encode_json(ev).decode() + "\n")
            continue
        text = render_compact(ev, color=color, timestamps=timestamps)
        if text is not None:
            out.write(text + "\n")
        out.flush()
    return bad


def _plugin_line(line: bytes, ev: GetEventsResponse) -> GetEventsResponse:
    """A JSON line of a registered plugin event, decoded with its response type."""
    keys = msgspec.json.decode(line, type=dict[str, msgspec.Raw])
    for reg in plugin_events.registered():
        if reg.etype.name in keys:
            return msgspec.json.decode(line, type=reg.response)
    return ev


def _stdin_has_data() -> bool:
    """Upstream's test: stdin is a pipe or a file (not a terminal or another character device)."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def _duration(text: str) -> float:
    t = text.strip()
    for suffix, mult in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if t.endswith(suffix) and t[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(t[: -len(suffix)]) * mult
    if t.replace(".", "", 1).isdigit():
        return float(t)
    raise SystemExit(f"tetra: --timeout: {text!r} is not a duration")


async def _stream(
    address: str, args: argparse.Namespace, color: bool, req: events_pb2.GetEventsRequest
) -> int:
    from tetragon_core.api.convert import from_proto
    from tetragon_core.cli.grpc_client import get_events

    timeout = _duration(args.timeout)
    while True:
        try:
            async for msg in get_events(address, req, timeout):
                ev = from_proto(msg)
                if args.output == "json":
                    sys.stdout.write(encode_json(ev).decode() + "\n")
                else:
                    text = render_compact(ev, color=color, timestamps=args.timestamps)
                    if text is None:
                        continue
                    sys.stdout.write(text + "\n")
                sys.stdout.flush()
            return 0
        except (TimeoutError, OSError, GRPCError) as e:
            if not args.reconnect:
                print(f"tetra: GetEvents from {address}: {e}", file=sys.stderr)
                return 1
            print(f"tetra: connection lost ({e}); reconnecting", file=sys.stderr)
            await asyncio.sleep(2)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    address = resolve_client_address(args.server_address)
    timeout = _duration(args.timeout)
    from tetragon_core.cli import grpc_client

    try:
        if args.command == "version":
            print(f"CLI version: {__version__}")
            if args.server:
                print(f"Server version: {asyncio.run(grpc_client.version(address, timeout, args.retries))}")
            return 0
        if args.command == "status":
            reply = asyncio.run(grpc_client.health(address, timeout, args.retries))
            for hs in reply.health_status:
                print(f"Health Status: {tetragon_pb2.HealthStatusResult.Name(hs.status)}")
            return 0
        if args.command in ("tracingpolicy", "tp"):
            return run_policy(args, address, timeout, args.retries)
        if args.command in ("sensors", "loglevel", "debug"):
            return run_admin(args, address, timeout, args.retries)
        if args.command == "probe":
            return run_probe(args.action)
        if args.command in INFO_COMMANDS:
            return run_info(args, address, timeout, args.retries)
        if args.command == "getevents":
            from tetragon_core.sensors.registry import register_installed_events

            register_installed_events()  # the installed plugins' own event types render too
            color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
            req = build_request(args)
            if _stdin_has_data():
                render_stream(
                    sys.stdin.buffer,
                    sys.stdout,
                    output=args.output,
                    color=color,
                    timestamps=args.timestamps,
                    request=req,
                )
                return 0
            return asyncio.run(_stream(address, args, color, req))
    except (KeyboardInterrupt, BrokenPipeError):
        return 0
    except GRPCError as e:
        print(f"tetra: {args.command}: {e.status.name}: {e.message}", file=sys.stderr)
        return 1
    except (TimeoutError, OSError) as e:
        print(f"tetra: cannot reach the agent at {address}: {e}", file=sys.stderr)
        return 1
    except TetragonError as e:
        print(f"tetra: {e}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
