"""``tetra``: Tetragon's client. This build renders JSON export lines read from stdin."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import TextIO

import msgspec

from tetragon_core import __version__
from tetragon_core.events import GetEventsResponse, encode_json
from tetragon_core.export.compact import render_compact

_decoder = msgspec.json.Decoder(GetEventsResponse)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tetra", description="Tetragon CLI")
    p.add_argument("--server-address", default="", help="gRPC server address")
    p.add_argument("--timeout", default="30s", help="Connection timeout")
    p.add_argument("--retries", type=int, default=1, help="Connection retries with exponential backoff")
    p.add_argument("-d", "--debug", action="store_true", help="Enable debug messages")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="Print version from CLI and server")
    ge = sub.add_parser("getevents", help="Print events")
    ge.add_argument("-o", "--output", choices=("json", "compact"), default="json", help="Output format")
    ge.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="Colorize compact output"
    )
    ge.add_argument("--timestamps", action="store_true", help="Include timestamps in compact output")
    ge.add_argument("-e", "--event-types", action="append", default=[], help="Include only these event types")
    return p


def render_stream(
    lines: Iterable[bytes], out: TextIO, *, output: str, color: bool, timestamps: bool, event_types: set[str]
) -> int:
    """Render JSON export lines; returns the number of malformed lines skipped."""
    bad = 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        # protojson output is UTF-8; bytes that are not are replaced rather than fatal
        line = line.decode("utf-8", "replace").encode()
        try:
            ev = _decoder.decode(line)
        except msgspec.DecodeError as e:
            print(f"tetra: skipping malformed line: {e}", file=sys.stderr)
            bad += 1
            continue
        if event_types and ev.event_type() not in event_types:
            continue
        if output == "json":
            out.write(encode_json(ev).decode() + "\n")
            continue
        text = render_compact(ev, color=color, timestamps=timestamps)
        if text is not None:
            out.write(text + "\n")
        out.flush()
    return bad


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(f"CLI version: {__version__}")
        return 0
    if args.command == "getevents":
        if sys.stdin.isatty():
            print(
                "tetra: streaming from a live agent needs the gRPC API, which this build does not "
                "serve yet;\n       pipe the JSON export instead: "
                "tail -f /var/log/tetragon/tetragon.log | tetra getevents -o compact",
                file=sys.stderr,
            )
            return 1
        color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
        types = {t.strip().upper() for v in args.event_types for t in v.split(",") if t.strip()}
        try:
            render_stream(
                sys.stdin.buffer,
                sys.stdout,
                output=args.output,
                color=color,
                timestamps=args.timestamps,
                event_types=types,
            )
        except (KeyboardInterrupt, BrokenPipeError):
            pass
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
