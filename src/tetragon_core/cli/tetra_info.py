"""tetra's ``info``, ``rthooks create-container`` and ``stacktrace-tree print`` subcommands."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from google.protobuf import struct_pb2, wrappers_pb2

from tetragon_core.api.tetragon import sensors_pb2, tetragon_pb2
from tetragon_core.cli.grpc_client import unary
from tetragon_core.exceptions import TetragonError

COMMANDS = ("info", "rthooks", "stacktrace-tree")


def add_info_commands(sub: Any) -> None:
    """Register ``info``, ``rthooks`` and ``stacktrace-tree`` on tetra's subparsers."""
    sub.add_parser("info", help="Retrieve information from the server")
    rt = sub.add_parser("rthooks", help="trigger runtime hooks (for testing/debugging)")
    hooks = rt.add_subparsers(dest="action", required=True)
    cc = hooks.add_parser("create-container", help="trigger create-container hook")
    cc.add_argument("container_id", metavar="containerID")
    cc.add_argument("root_dir_arg", metavar="rootDir", nargs="?", default="")
    cc.add_argument("--container-dir", default="", help="container directory (its cgroup path)")
    cc.add_argument("--root-dir", default="", help="container root directory")
    cc.add_argument(
        "--annotations", action="append", default=[], help="container annotations (key=value,...)"
    )
    # Ours: without a Kubernetes API, the hook is where pod info comes from.
    cc.add_argument("--container-name", default="", help="container name")
    cc.add_argument("--pod-name", default="", help="pod name")
    cc.add_argument("--pod-namespace", default="", help="pod namespace")
    cc.add_argument("--pod-uid", default="", help="pod UID")
    cc.add_argument("--image", default="", help="container image")
    stt = sub.add_parser("stacktrace-tree", help="Manage stacktrace trees")
    acts = stt.add_subparsers(dest="action", required=True)
    acts.add_parser("print", help="Print stacktrace tree").add_argument("name", metavar="tree-name")


def parse_annotations(values: list[str]) -> dict[str, str]:
    """``--annotations a=1,b=2`` (repeatable), as cobra's StringToString flag reads it."""
    out: dict[str, str] = {}
    for item in values:
        for pair in item.split(","):
            if not pair:
                continue
            key, sep, value = pair.partition("=")
            if not sep:
                raise TetragonError(f"--annotations: {pair!r} is not key=value")
            out[key] = value
    return out


def _conf_value(packed: Any) -> Any:
    for kind in (wrappers_pb2.StringValue, wrappers_pb2.Int64Value, wrappers_pb2.BoolValue):
        if packed.Is(kind.DESCRIPTOR):
            v = kind()
            packed.Unpack(v)
            return v.value
    if packed.Is(struct_pb2.ListValue.DESCRIPTOR):
        lv = struct_pb2.ListValue()
        packed.Unpack(lv)
        return [x.string_value for x in lv.values]
    return f"unknown value type {packed.type_url}"


def info_json(res: Any) -> str:
    """``tetra info``'s line: upstream's ``tetragoninfo.Info`` as Go's encoding/json writes it."""
    b = res.build
    doc = {
        "Name": res.name,
        "Version": res.version,
        "Probes": dict(sorted((p.Name, p.Enabled.value) for p in res.probes)),
        "Conf": dict(sorted((c.key, _conf_value(c.value)) for c in res.conf)),
        "Build": {"GoVersion": b.go_version, "Commit": b.commit, "Time": b.time, "Modified": b.modified},
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def print_tree(node: Any, level: int = 0, out: Any = None) -> None:
    """Print a StackTraceNode as upstream's ``tetra stacktrace-tree print`` does."""
    out = out if out is not None else sys.stdout
    indent = "    " * level
    out.write(f"{indent}0x{node.address.address:x} ({node.address.symbol}) count:{node.count}\n")
    for child in node.children:
        print_tree(child, level + 1, out)
    if not node.children:  # a leaf: its label counters too
        for label in node.labels:
            out.write(f"{indent}    {label.key} count:{label.count}\n")


def create_container_request(args: argparse.Namespace) -> Any:
    """The RuntimeHookRequest ``rthooks create-container`` sends."""
    cc = tetragon_pb2.CreateContainer(
        cgroupsPath=args.container_dir,
        rootDir=args.root_dir or args.root_dir_arg,
        annotations=parse_annotations(args.annotations),
        containerName=args.container_name,
        containerID=args.container_id,
        podName=args.pod_name,
        podUID=args.pod_uid,
        podNamespace=args.pod_namespace,
        containerImage=args.image,
    )
    return tetragon_pb2.RuntimeHookRequest(createContainer=cc)


def run_info(args: argparse.Namespace, address: str, timeout: float, retries: int) -> int:
    """Run ``info``, ``rthooks`` or ``stacktrace-tree``; returns the exit status."""

    def call(rpc: str, req: Any, reply: Any) -> Any:
        return asyncio.run(unary(address, rpc, req, reply, timeout, retries))

    if args.command == "info":
        res = call("GetInfo", sensors_pb2.GetInfoRequest(), sensors_pb2.GetInfoResponse)
        print(info_json(res))
        return 0
    if args.command == "rthooks" and args.action == "create-container":
        call("RuntimeHook", create_container_request(args), tetragon_pb2.RuntimeHookResponse)
        return 0
    if args.command == "stacktrace-tree" and args.action == "print":
        req = sensors_pb2.GetStackTraceTreeRequest(name=args.name)
        print_tree(call("GetStackTraceTree", req, sensors_pb2.GetStackTraceTreeResponse).root)
        return 0
    raise TetragonError(f"unknown command {args.command} {getattr(args, 'action', '')}")
