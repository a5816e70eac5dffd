#!/usr/bin/env python3
"""Generate ``proto/tetragon/*.proto`` from Tetragon's API field table, and compile them.

The table (``api-fields.tsv``; columns ``kind file scope name number type label oneof in_seed``) lists
every message field, enum value and RPC of Tetragon's gRPC API, package ``tetragon``:

* ``field`` rows: ``scope`` is the message (``Pod``, nested ``GetInfoResponse.BuildInfo``), ``type`` a
  scalar, ``tetragon.X`` or ``google.protobuf.X``; ``label`` is ``optional`` or ``repeated``;
  ``oneof`` names the oneof, a name starting with ``_`` being proto3 ``optional``'s synthetic oneof.
  A nested scope ``X.FooEntry`` with fields ``key = 1`` and ``value = 2`` used by a repeated field of
  ``X`` is that field's ``map<K, V>`` entry.
* ``enum`` rows: ``scope`` is the enum, ``name``/``number`` one value.
* ``rpc`` rows: ``scope`` is the service (``tetragon.FineGuidanceSensors``), ``type`` is
  ``tetragon.Req -> tetragon.Resp`` and ``label`` is ``server-stream`` (or ``client-stream``,
  ``bidi-stream``) for streaming RPCs, empty for unary ones.

Messages without fields (``GetVersionRequest``…) have no row; they are the request/response types
that RPC rows (or fields) name but that no row defines, and are emitted empty, in the file of their
request/response sibling when it has one, else in the file of the row that names them.

Row order is declaration order; it is kept for fields (Go's protojson writes fields in declaration
order), enum values are emitted in number order.

``tools/api-fields-extra.tsv`` (same columns) adds what the reference table lacks but the seed
reference documents: ``GetStackTraceTree`` and ``tetragon/stack.proto``. Its rows follow the table's;
a row the table already has is an error, so the extra file shrinks as the table grows.

Usage (from the repository root)::

    .venv/bin/python tools/gen_proto.py [TSV] [--extra EXTRA_TSV] [--check] [--compile]

``--check`` only reports whether the checked-in ``.proto`` files are up to date (exit 1 if not).
``--compile`` also runs grpcio-tools' protoc (``-I proto``) into ``src/tetragon_core/api/tetragon/``
(``*_pb2.py`` and ``*_pb2.pyi``) and rewrites the generated ``from tetragon import x_pb2`` lines to
``from tetragon_core.api.tetragon import x_pb2``. Descriptor file names stay ``tetragon/*.proto``, as
upstream's, so the descriptor pool and gRPC reflection see the same names as Tetragon's own.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proto_table import (
    API_OUT,
    API_PACKAGE,
    DEFAULT_TSV,
    EXTRA_TSV,
    GO_PACKAGE,
    HEADER,
    PACKAGE,
    PROTO_ROOT,
    REPO_ROOT,
    SCALARS,
    WELL_KNOWN,
    Api,
    Enum,
    Field,
    Message,
    TableError,
    build_api,
    load_rows,
)
from protoc import gencode_version, run_protoc

# --------------------------------------------------------------------------------------------------
# Writing .proto text


def _defining_file(api: Api, type_name: str) -> str | None:
    """The import that defines a field/rpc type, or None for scalars."""
    if type_name in SCALARS:
        return None
    if type_name in WELL_KNOWN:
        return WELL_KNOWN[type_name]
    local = type_name.removeprefix(PACKAGE + ".")
    top = local.split(".")[0]
    defn = api.messages.get(top) or api.enums.get(top)
    assert defn is not None, type_name
    return defn.file


def _proto_type(type_name: str) -> str:
    if type_name in SCALARS or type_name in WELL_KNOWN:
        return type_name
    return type_name.removeprefix(PACKAGE + ".")


def _imports(api: Api, file: str) -> list[str]:
    types: list[str] = []

    def walk(scope: str) -> None:
        msg = api.messages.get(scope)
        if msg is None:
            return
        types.extend(f.type for f in msg.fields)
        for nested in msg.nested:
            walk(nested)

    for scope in api.top_level[file]:
        walk(scope)
    for svc in api.services.values():
        if svc.file == file:
            for rpc in svc.rpcs:
                types += [f"{PACKAGE}.{rpc.request}", f"{PACKAGE}.{rpc.response}"]
    deps = {d for t in types if (d := _defining_file(api, t)) is not None and d != file}
    return sorted(deps, key=lambda d: (not d.startswith("google/"), d))


def _render_enum(enum: Enum, indent: str) -> list[str]:
    name = enum.scope.rpartition(".")[2]
    out = [f"{indent}enum {name} {{"]
    numbers = [n for _, n in enum.values]
    if len(set(numbers)) != len(numbers):
        out.append(f"{indent}  option allow_alias = true;")
    for value, number in sorted(enum.values, key=lambda v: v[1]):
        out.append(f"{indent}  {value} = {number};")
    out.append(f"{indent}}}")
    return out


def _render_message(api: Api, msg: Message, indent: str) -> list[str]:
    name = msg.scope.rpartition(".")[2]
    inner = indent + "  "
    body: list[str] = []
    for scope in msg.nested:
        if scope in api.enums:
            body += _render_enum(api.enums[scope], inner)
        elif not api.messages[scope].map_entry:
            body += _render_message(api, api.messages[scope], inner)
        else:
            continue
        body.append("")

    def field_line(f: Field, pad: str) -> str:
        target = api.messages.get(f.type.removeprefix(PACKAGE + "."))
        if target is not None and target.map_entry and target.scope.startswith(msg.scope + "."):
            key, value = target.fields
            return f"{pad}map<{_proto_type(key.type)}, {_proto_type(value.type)}> {f.name} = {f.number};"
        label = "repeated " if f.repeated else "optional " if f.oneof.startswith("_") else ""
        return f"{pad}{label}{_proto_type(f.type)} {f.name} = {f.number};"

    done: set[str] = set()
    for f in msg.fields:
        if f.oneof and not f.oneof.startswith("_"):
            if f.oneof in done:
                continue
            done.add(f.oneof)
            body.append(f"{inner}oneof {f.oneof} {{")
            body += [field_line(g, inner + "  ") for g in msg.fields if g.oneof == f.oneof]
            body.append(f"{inner}}}")
        else:
            body.append(field_line(f, inner))
    while body and body[-1] == "":
        body.pop()
    if not body:
        return [f"{indent}message {name} {{}}"]
    return [f"{indent}message {name} {{", *body, f"{indent}}}"]


def render_file(api: Api, file: str) -> str:
    out = HEADER.splitlines()
    out += ["", 'syntax = "proto3";', "", f"package {PACKAGE};", ""]
    imports = _imports(api, file)
    if imports:
        out += [f'import "{i}";' for i in imports]
        out.append("")
    out += [f'option go_package = "{GO_PACKAGE}";', ""]
    for scope in api.top_level[file]:
        if scope in api.enums:
            out += _render_enum(api.enums[scope], "")
        else:
            out += _render_message(api, api.messages[scope], "")
        out.append("")
    for svc in api.services.values():
        if svc.file != file:
            continue
        out.append(f"service {svc.name} {{")
        for rpc in svc.rpcs:
            req = f"stream {rpc.request}" if rpc.client_streaming else rpc.request
            resp = f"stream {rpc.response}" if rpc.server_streaming else rpc.response
            out.append(f"  rpc {rpc.name}({req}) returns ({resp}) {{}}")
        out += ["}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _check_import_cycles(api: Api) -> None:
    graph = {f: [d for d in _imports(api, f) if d in api.files] for f in api.files}
    state: dict[str, int] = {}

    def visit(f: str, path: list[str]) -> None:
        if state.get(f) == 2:
            return
        if state.get(f) == 1:
            raise TableError("import cycle: " + " -> ".join([*path, f]))
        state[f] = 1
        for d in graph[f]:
            visit(d, [*path, f])
        state[f] = 2

    for f in api.files:
        visit(f, [])


def render_all(api: Api) -> dict[str, str]:
    _check_import_cycles(api)
    return {file: render_file(api, file) for file in api.files}


# --------------------------------------------------------------------------------------------------
# Compiling


_IMPORT_RE = re.compile(rf"^from {PACKAGE} import (\w+_pb2) as (\w+)$", re.MULTILINE)
# The module name protoc bakes into the classes' __module__ (pickling, repr) must be the real one too.
_MODULE_RE = re.compile(rf"(BuildTopDescriptorsAndMessages\(DESCRIPTOR, )'{PACKAGE}\.(\w+_pb2)'")
_LEFTOVER_RE = re.compile(
    rf"^\s*(from {PACKAGE}(\.| )|import {PACKAGE}(\.|$| ))|'{PACKAGE}\.\w+_pb2'", re.MULTILINE
)

INIT_TEXT = '''\
"""Tetragon's gRPC API (package ``tetragon``), compiled from ``proto/tetragon/*.proto``.

Generated by ``tools/gen_proto.py --compile``; do not edit. The generated code needs
protobuf >= {version} at runtime (its gencode version).
"""

PROTOBUF_GENCODE_VERSION = "{version}"
'''


def compile_protos(files: list[str]) -> str:
    """Compile proto/<files> into API_OUT; returns the gencode (minimum runtime) protobuf version."""
    generated = {Path(rel): text for rel, text in run_protoc(files).items() if rel.startswith(f"{PACKAGE}/")}
    if len(generated) != 2 * len(files):
        raise RuntimeError(f"protoc produced {[g.name for g in generated]}")
    versions = set()
    texts: dict[str, str] = {}
    for path, raw in generated.items():
        text = _IMPORT_RE.sub(rf"from {API_PACKAGE} import \1 as \2", raw)
        text = _MODULE_RE.sub(rf"\1'{API_PACKAGE}.\2'", text)
        if (m := _LEFTOVER_RE.search(text)) is not None:
            raise RuntimeError(f"{path.name}: unrewritten import {m.group(0)!r}")
        if path.suffix == ".py":
            versions.add(gencode_version(path.name, text))
        texts[path.name] = text
    if len(versions) != 1:
        raise RuntimeError(f"inconsistent gencode versions {versions}")
    version = versions.pop()

    API_OUT.mkdir(parents=True, exist_ok=True)
    for stale in list(API_OUT.glob("*_pb2.py")) + list(API_OUT.glob("*_pb2.pyi")):
        stale.unlink()
    pycache = API_OUT / "__pycache__"
    if pycache.is_dir():
        shutil.rmtree(pycache)
    for name, text in texts.items():
        (API_OUT / name).write_text(text)
    (API_OUT / "__init__.py").write_text(INIT_TEXT.format(version=version))
    api_init = API_OUT.parent / "__init__.py"
    if not api_init.exists():
        api_init.write_text('"""Generated gRPC API code (see ``tetragon_core.api.tetragon``)."""\n')

    # Import every module in a fresh interpreter to prove the rewritten imports resolve.
    modules = [f"{API_PACKAGE}.{Path(f).stem}_pb2" for f in files]
    probe = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    subprocess.run([sys.executable, "-c", probe, *modules], check=True, env=env)
    return version


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tsv", nargs="?", type=Path, default=DEFAULT_TSV, help="api-fields.tsv")
    parser.add_argument(
        "--extra", type=Path, default=EXTRA_TSV, help="rows the table lacks (default: %(default)s)"
    )
    parser.add_argument("--check", action="store_true", help="only check the .proto files are current")
    parser.add_argument("--compile", action="store_true", help="also compile into " + API_PACKAGE)
    args = parser.parse_args(argv)

    tsv: Path = args.tsv
    for path in (tsv, args.extra):
        if not path.is_file():
            parser.error(f"{path}: no such file")
    try:
        rows = load_rows(tsv, args.extra)
        api = build_api(rows)
        rendered = render_all(api)
    except TableError as e:
        print(f"gen_proto: {e}", file=sys.stderr)
        return 2

    stale = [
        f
        for f, text in rendered.items()
        if not (PROTO_ROOT / f).is_file() or (PROTO_ROOT / f).read_text() != text
    ]
    if args.check:
        for f in stale:
            print(f"gen_proto: proto/{f} is out of date", file=sys.stderr)
        return 1 if stale else 0

    for file, text in rendered.items():
        path = PROTO_ROOT / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    counts = {k: sum(r.kind == k for r in rows) for k in ("field", "enum", "rpc")}
    print(
        f"gen_proto: {len(rows)} rows ({counts['field']} fields, {counts['enum']} enum values, "
        f"{counts['rpc']} rpcs) -> {len(rendered)} files, {len(api.implicit)} empty messages "
        f"({', '.join(api.implicit)})"
    )
    if args.compile:
        version = compile_protos(sorted(rendered))
        print(f"gen_proto: compiled into {API_OUT.relative_to(REPO_ROOT)}; needs protobuf>={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
