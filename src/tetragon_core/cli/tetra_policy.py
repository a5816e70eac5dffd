"""tetra tracingpolicy (tp): add, delete, list, enable, disable, set-mode, domains."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from tetragon_core.api.tetragon import sensors_pb2
from tetragon_core.cli.grpc_client import unary
from tetragon_core.exceptions import TetragonError


def add_policy_commands(sub: Any) -> None:
    """Register ``tracingpolicy`` (alias ``tp``) on tetra's subparsers."""
    tp = sub.add_parser("tracingpolicy", aliases=["tp"], help="Manage tracing policies")
    acts = tp.add_subparsers(dest="action", required=True)
    add = acts.add_parser("add", help="Add a tracing policy from a YAML file")
    add.add_argument("file")
    add.add_argument("-m", "--mode", choices=("enforce", "monitor"), help="Policy mode")
    for action in ("delete", "enable", "disable"):
        a = acts.add_parser(action, help=f"{action} a tracing policy")
        a.add_argument("name")
        a.add_argument("-n", "--namespace", default="")
    ls = acts.add_parser("list", help="List tracing policies")
    ls.add_argument("-o", "--output", choices=("text", "json"), default="text")
    sm = acts.add_parser("set-mode", help="Set a policy's mode")
    sm.add_argument("name")
    sm.add_argument("mode", choices=("enforce", "monitor"))
    sm.add_argument("-n", "--namespace", default="")
    acts.add_parser("domains", help="List the domains of the loaded tracing policies")


def run_policy(args: argparse.Namespace, address: str, timeout: float, retries: int) -> int:
    """Run one ``tp`` subcommand; returns the exit status."""

    def call(rpc: str, req: Any) -> Any:
        reply_type = getattr(sensors_pb2, f"{rpc}Response")
        return asyncio.run(unary(address, rpc, req, reply_type, timeout, retries))

    if args.action == "add":
        try:
            text = Path(args.file).read_text()
        except OSError as e:
            raise TetragonError(f"tracingpolicy add: cannot read {args.file}: {e.strerror}") from e
        call("AddTracingPolicy", sensors_pb2.AddTracingPolicyRequest(yaml=text))
        if args.mode:
            name = _policy_name(text)
            call(
                "ConfigureTracingPolicy",
                sensors_pb2.ConfigureTracingPolicyRequest(name=name, mode=_mode(args.mode)),
            )
        return 0
    if args.action == "list":
        reply = call("ListTracingPolicies", sensors_pb2.ListTracingPoliciesRequest())
        if args.output == "json":
            print(json_format.MessageToJson(reply, preserving_proto_field_name=True, indent=None))
            return 0
        print(f"{'ID':<4} {'NAME':<32} {'STATE':<12} {'MODE':<8} {'SENSORS':<24} ERROR")
        for p in reply.policies:
            state = sensors_pb2.TracingPolicyState.Name(p.state).removeprefix("TP_STATE_").lower()
            mode = sensors_pb2.TracingPolicyMode.Name(p.mode).removeprefix("TP_MODE_").lower()
            print(f"{p.id:<4} {p.name:<32} {state:<12} {mode:<8} {','.join(p.sensors):<24} {p.error}")
        return 0
    if args.action == "domains":
        reply = call("ListDomains", sensors_pb2.ListDomainsRequest())
        print(f"[{' '.join(reply.domains)}]")  # upstream prints the Go slice
        return 0
    if args.action == "set-mode":
        req = sensors_pb2.ConfigureTracingPolicyRequest(
            name=args.name, namespace=args.namespace, mode=_mode(args.mode)
        )
        call("ConfigureTracingPolicy", req)
        return 0
    rpc = {
        "delete": "DeleteTracingPolicy",
        "enable": "EnableTracingPolicy",
        "disable": "DisableTracingPolicy",
    }
    name = rpc[args.action]
    call(name, getattr(sensors_pb2, f"{name}Request")(name=args.name, namespace=args.namespace))
    return 0


def _mode(mode: str) -> Any:
    return sensors_pb2.TP_MODE_ENFORCE if mode == "enforce" else sensors_pb2.TP_MODE_MONITOR


def _policy_name(text: str) -> str:
    import yaml

    try:
        doc = yaml.safe_load(text)
        return str(doc["metadata"]["name"])
    except (yaml.YAMLError, KeyError, TypeError) as e:
        raise TetragonError(f"tracingpolicy add: cannot read metadata.name: {json.dumps(str(e))}") from e
