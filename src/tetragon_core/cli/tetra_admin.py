"""tetra's admin subcommands: sensors, loglevel, debug processcache."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from google.protobuf import json_format

from tetragon_core.api.tetragon import sensors_pb2
from tetragon_core.cli.grpc_client import unary
from tetragon_core.exceptions import TetragonError

_LEVELS = {
    "panic": "PANIC",
    "fatal": "FATAL",
    "error": "ERROR",
    "warn": "WARN",
    "warning": "WARN",
    "info": "INFO",
    "debug": "DEBUG",
    "trace": "TRACE",
}


def add_admin_commands(sub: Any) -> None:
    """Register ``sensors``, ``loglevel`` and ``debug`` on tetra's subparsers."""
    sensors = sub.add_parser("sensors", help="Manage sensors").add_subparsers(dest="action", required=True)
    sensors.add_parser("list", help="List sensors")
    for action in ("enable", "disable", "rm"):
        sensors.add_parser(action, help=f"{action} a sensor").add_argument("name")
    loglevel = sub.add_parser("loglevel", help="Get or set the agent's log level")
    lv = loglevel.add_subparsers(dest="action", required=True)
    lv.add_parser("get", help="Print the current log level")
    lv.add_parser("set", help="Set the log level").add_argument("level", choices=sorted(_LEVELS))
    debug = sub.add_parser("debug", help="Debugging aids").add_subparsers(dest="action", required=True)
    pc = debug.add_parser("processcache", help="Dump the process cache")
    pc.add_argument("--skip-zero-refcnt", action="store_true", help="Skip entries with refcnt 0")


def _call_rpc(address: str, rpc: str, req: Any, timeout: float, retries: int) -> Any:
    return asyncio.run(unary(address, rpc, req, getattr(sensors_pb2, f"{rpc}Response"), timeout, retries))


def run_admin(args: argparse.Namespace, address: str, timeout: float, retries: int = 1) -> int:
    """Run one admin subcommand; returns the exit status."""

    def _call(rpc: str, req: Any) -> Any:
        return _call_rpc(address, rpc, req, timeout, retries)

    if args.command == "sensors":
        if args.action == "list":
            reply = _call("ListSensors", sensors_pb2.ListSensorsRequest())
            print(f"{'Sensor':<24} {'Enabled':<8} Collection")
            for s in reply.sensors:
                print(f"{s.name:<24} {str(s.enabled).lower():<8} {s.collection}")
            return 0
        rpc = {"enable": "EnableSensor", "disable": "DisableSensor", "rm": "RemoveSensor"}[args.action]
        _call(rpc, getattr(sensors_pb2, f"{rpc}Request")(name=args.name))
        return 0
    if args.command == "loglevel":
        if args.action == "get":
            reply = _call("GetDebug", sensors_pb2.GetDebugRequest(flag=sensors_pb2.CONFIG_FLAG_LOG_LEVEL))
            name = sensors_pb2.LogLevel.Name(reply.level).removeprefix("LOG_LEVEL_").lower()
            print(f"Current log level: {name}")
            return 0
        level = sensors_pb2.LogLevel.Value("LOG_LEVEL_" + _LEVELS[args.level])
        _call("SetDebug", sensors_pb2.SetDebugRequest(flag=sensors_pb2.CONFIG_FLAG_LOG_LEVEL, level=level))
        print(f"Log level set to: {args.level}")
        return 0
    if args.command == "debug" and args.action == "processcache":
        req = sensors_pb2.GetDebugRequest(
            flag=sensors_pb2.CONFIG_FLAG_DUMP_PROCESS_CACHE,
            dump=sensors_pb2.DumpProcessCacheReqArgs(skip_zero_refcnt=args.skip_zero_refcnt),
        )
        reply = _call("GetDebug", req)
        for p in reply.processes.processes:
            d = json_format.MessageToDict(p, preserving_proto_field_name=True)
            sys.stdout.write(json.dumps(d, separators=(",", ":")) + "\n")
        return 0
    raise TetragonError(f"unknown command {args.command} {getattr(args, 'action', '')}")
