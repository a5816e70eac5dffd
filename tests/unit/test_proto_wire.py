"""Our compiled gRPC API agrees, row for row, with Tetragon's API table (``api-fields.tsv``).

For every row of the table: the message/enum/service exists in the right file, and each field has the
same number, type (scalar kind, or the full name of its message/enum type), repeated-ness and oneof
membership (``_name`` oneofs are proto3 ``optional``); each enum value has the same number; each RPC
has the same request/response types and streaming. The reverse holds too: nothing in our descriptors
is missing from the table, apart from messages without fields (which the table cannot list).

"The table" is ``api-fields.tsv`` plus ``tools/api-fields-extra.tsv``: the reference table describes a
Tetragon without ``GetStackTraceTree`` (dropped in 1.7), which this build serves as Tetragon 1.2–1.6
did; its RPC and messages (``tetragon/stack.proto``, ``GetStackTraceTree{Request,Response}``) come
from the seed reference, and the extra file holds exactly those rows. Every check below applies to
them as to the table's own rows, and the extra file may not repeat a row the table has.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    FileDescriptor,
    ServiceDescriptor,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TSV = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "api-fields.tsv"
EXTRA_TSV = REPO_ROOT / "tools" / "api-fields-extra.tsv"
# The only things the extra table may add: what the seed reference documents and the table lacks.
EXTRA_SCOPES = {
    "StackAddress",
    "StackTrace",
    "StackTraceLabel",
    "StackTraceNode",
    "GetStackTraceTreeRequest",
    "GetStackTraceTreeResponse",
    "tetragon.FineGuidanceSensors",
}
API_PACKAGE = "tetragon_core.api.tetragon"
MIN_ROWS = 600

SCALAR_TYPES = {
    "double": FieldDescriptor.TYPE_DOUBLE,
    "float": FieldDescriptor.TYPE_FLOAT,
    "int32": FieldDescriptor.TYPE_INT32,
    "int64": FieldDescriptor.TYPE_INT64,
    "uint32": FieldDescriptor.TYPE_UINT32,
    "uint64": FieldDescriptor.TYPE_UINT64,
    "sint32": FieldDescriptor.TYPE_SINT32,
    "sint64": FieldDescriptor.TYPE_SINT64,
    "fixed32": FieldDescriptor.TYPE_FIXED32,
    "fixed64": FieldDescriptor.TYPE_FIXED64,
    "sfixed32": FieldDescriptor.TYPE_SFIXED32,
    "sfixed64": FieldDescriptor.TYPE_SFIXED64,
    "bool": FieldDescriptor.TYPE_BOOL,
    "string": FieldDescriptor.TYPE_STRING,
    "bytes": FieldDescriptor.TYPE_BYTES,
}
STREAMING = {
    "": (False, False),
    "server-stream": (False, True),
    "client-stream": (True, False),
    "bidi-stream": (True, True),
}

Row = dict[str, str]


def _read(path: Path) -> list[Row]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="module")
def table_rows() -> list[Row]:
    """The reference table's own rows."""
    if not TSV.is_file():
        pytest.fail(f"API table not found at {TSV} (expected ../shared/reference/api-fields.tsv)")
    table = _read(TSV)
    assert len(table) > MIN_ROWS, f"only {len(table)} rows in {TSV}"
    return table


@pytest.fixture(scope="module")
def rows(table_rows: list[Row]) -> list[Row]:
    """The table's rows plus the extra file's (see the module docstring)."""
    extra = _read(EXTRA_TSV)
    assert {r["scope"] for r in extra} == EXTRA_SCOPES
    assert [r["name"] for r in extra if r["kind"] == "rpc"] == ["GetStackTraceTree"]
    keys = {(r["kind"], r["scope"], r["name"]) for r in table_rows}
    assert not [r for r in extra if (r["kind"], r["scope"], r["name"]) in keys], "extra rows the table has"
    return table_rows + extra


@pytest.fixture(scope="module")
def files(rows: list[Row]) -> dict[str, FileDescriptor]:
    """Import our compiled module for every file the table names; return its descriptor by name."""
    out: dict[str, FileDescriptor] = {}
    for name in sorted({r["file"] for r in rows}):
        module: ModuleType = importlib.import_module(f"{API_PACKAGE}.{Path(name).stem}_pb2")
        fd: FileDescriptor = module.DESCRIPTOR
        assert fd.name == name
        assert fd.package == "tetragon"
        out[name] = fd
    return out


def _pool() -> descriptor_pool.DescriptorPool:
    return descriptor_pool.Default()


def _message(scope: str) -> Descriptor:
    return _pool().FindMessageTypeByName(f"tetragon.{scope}")


def _enum(scope: str) -> EnumDescriptor:
    return _pool().FindEnumTypeByName(f"tetragon.{scope}")


def _check_field(row: Row, enum_names: set[str]) -> list[str]:
    where = f"{row['scope']}.{row['name']}"
    try:
        msg = _message(row["scope"])
    except KeyError:
        return [f"{where}: message tetragon.{row['scope']} missing"]
    errors: list[str] = []
    if msg.file.name != row["file"]:
        errors.append(f"{where}: message in {msg.file.name}, table says {row['file']}")
    fd = msg.fields_by_name.get(row["name"])
    if fd is None:
        return [*errors, f"{where}: field missing"]
    if fd.number != int(row["number"]):
        errors.append(f"{where}: number {fd.number} != {row['number']}")

    t = row["type"]
    if t in SCALAR_TYPES:
        if fd.type != SCALAR_TYPES[t]:
            errors.append(f"{where}: type {fd.type} != {t}")
    elif t in enum_names:
        if fd.type != FieldDescriptor.TYPE_ENUM or fd.enum_type.full_name != t:
            errors.append(f"{where}: expected enum {t}")
    elif fd.type != FieldDescriptor.TYPE_MESSAGE or fd.message_type.full_name != t:
        got = fd.message_type.full_name if fd.message_type is not None else fd.type
        errors.append(f"{where}: type {got} != message {t}")

    if row["label"] not in ("optional", "repeated"):
        errors.append(f"{where}: unexpected label {row['label']!r} in table")
    if fd.is_repeated != (row["label"] == "repeated"):
        errors.append(f"{where}: repeated={fd.is_repeated}, table label {row['label']}")

    oneof = fd.containing_oneof.name if fd.containing_oneof is not None else ""
    if oneof != row["oneof"]:
        errors.append(f"{where}: oneof {oneof!r} != {row['oneof']!r}")
    if row["oneof"].startswith("_") and not fd.has_presence:
        errors.append(f"{where}: proto3 optional field without presence")
    if t in SCALAR_TYPES and not row["oneof"] and fd.has_presence:
        errors.append(f"{where}: plain proto3 scalar has explicit presence")
    return errors


def _is_map_entry_scope(scope: str) -> bool:
    return "." in scope and scope.endswith("Entry")


def test_fields(rows: list[Row], files: dict[str, FileDescriptor]) -> None:
    enum_names = {f"tetragon.{r['scope']}" for r in rows if r["kind"] == "enum"}
    field_rows = [r for r in rows if r["kind"] == "field"]
    errors = [e for r in field_rows for e in _check_field(r, enum_names)]
    # Nested *Entry scopes with key/value are map entries (``map<k, v>``), others nested messages.
    for scope in sorted({r["scope"] for r in field_rows}):
        is_entry = _message(scope).GetOptions().map_entry
        if is_entry != _is_map_entry_scope(scope):
            errors.append(f"{scope}: map_entry={is_entry}")
    assert not errors, "\n".join(errors)
    assert len(field_rows) > 400


def test_enum_values(rows: list[Row], files: dict[str, FileDescriptor]) -> None:
    enum_rows = [r for r in rows if r["kind"] == "enum"]
    errors: list[str] = []
    for r in enum_rows:
        where = f"{r['scope']}.{r['name']}"
        try:
            enum = _enum(r["scope"])
        except KeyError:
            errors.append(f"{where}: enum missing")
            continue
        if enum.file.name != r["file"]:
            errors.append(f"{where}: enum in {enum.file.name}, table says {r['file']}")
        value = enum.values_by_name.get(r["name"])
        if value is None:
            errors.append(f"{where}: value missing")
        elif value.number != int(r["number"]):
            errors.append(f"{where}: number {value.number} != {r['number']}")
    assert not errors, "\n".join(errors)
    assert len(enum_rows) > 150


def test_rpcs(rows: list[Row], files: dict[str, FileDescriptor]) -> None:
    rpc_rows = [r for r in rows if r["kind"] == "rpc"]
    errors: list[str] = []
    for r in rpc_rows:
        where = f"{r['scope']}/{r['name']}"
        try:
            service: ServiceDescriptor = _pool().FindServiceByName(r["scope"])
        except KeyError:
            errors.append(f"{where}: service missing")
            continue
        if service.file.name != r["file"]:
            errors.append(f"{where}: service in {service.file.name}, table says {r['file']}")
        method = service.methods_by_name.get(r["name"])
        if method is None:
            errors.append(f"{where}: method missing")
            continue
        request, response = r["type"].split(" -> ")
        if method.input_type.full_name != request:
            errors.append(f"{where}: request {method.input_type.full_name} != {request}")
        if method.output_type.full_name != response:
            errors.append(f"{where}: response {method.output_type.full_name} != {response}")
        if (method.client_streaming, method.server_streaming) != STREAMING[r["label"]]:
            errors.append(
                f"{where}: streaming ({method.client_streaming}, {method.server_streaming}) != {r['label']!r}"
            )
    assert not errors, "\n".join(errors)
    assert len(rpc_rows) >= 20
    assert (
        _pool()
        .FindServiceByName("tetragon.FineGuidanceSensors")
        .methods_by_name["GetEvents"]
        .server_streaming
    )


def test_nothing_beyond_the_table(rows: list[Row], files: dict[str, FileDescriptor]) -> None:
    """Every field, enum value and method in our descriptors has a row (the converse of the above)."""
    fields = {(f"tetragon.{r['scope']}", r["name"]) for r in rows if r["kind"] == "field"}
    values = {(f"tetragon.{r['scope']}", r["name"]) for r in rows if r["kind"] == "enum"}
    methods = {(r["scope"], r["name"]) for r in rows if r["kind"] == "rpc"}
    seen = 0
    extra: list[str] = []

    def walk_enum(e: EnumDescriptor) -> None:
        nonlocal seen
        for v in e.values:
            seen += 1
            if (e.full_name, v.name) not in values:
                extra.append(f"enum value {e.full_name}.{v.name}")

    def walk_message(m: Descriptor) -> None:
        nonlocal seen
        for f in m.fields:
            seen += 1
            if (m.full_name, f.name) not in fields:
                extra.append(f"field {m.full_name}.{f.name}")
        for nested in m.nested_types:
            walk_message(nested)
        for e in m.enum_types:
            walk_enum(e)

    for fd in files.values():
        for m in fd.message_types_by_name.values():
            walk_message(m)
        for e in fd.enum_types_by_name.values():
            walk_enum(e)
        for s in fd.services_by_name.values():
            for method in s.methods:
                seen += 1
                if (s.full_name, method.name) not in methods:
                    extra.append(f"method {s.full_name}/{method.name}")
    assert not extra, "not in the table:\n" + "\n".join(extra)
    assert seen == len(rows), f"{seen} descriptor items for {len(rows)} rows"


def test_every_row_checked(rows: list[Row], table_rows: list[Row]) -> None:
    kinds = {r["kind"] for r in rows}
    assert kinds == {"field", "enum", "rpc"}, f"unknown row kinds {kinds - {'field', 'enum', 'rpc'}}"
    checked = sum(r["kind"] in ("field", "enum", "rpc") for r in rows)
    assert checked == len(rows) > len(table_rows) > MIN_ROWS


def _load_generator() -> ModuleType:
    path = REPO_ROOT / "tools" / "gen_proto.py"
    name = "_tetragon_tools_gen_proto"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_checked_in_protos_are_generated(rows: list[Row]) -> None:
    """``proto/tetragon/*.proto`` is exactly what ``tools/gen_proto.py`` makes of the table."""
    gen = _load_generator()
    rendered: dict[str, str] = gen.render_all(gen.build_api(gen.load_rows(TSV, EXTRA_TSV)))
    assert set(rendered) == {r["file"] for r in rows}
    for name, text in rendered.items():
        path = REPO_ROOT / "proto" / name
        assert path.is_file(), f"{path} missing: run tools/gen_proto.py --compile"
        assert path.read_text() == text, f"{path} is stale: run tools/gen_proto.py --compile"


def test_the_extra_table_may_not_repeat_the_reference_table() -> None:
    gen = _load_generator()  # puts tools/ on sys.path
    table = importlib.import_module("proto_table")
    base = table.load_rows(TSV, None)
    with pytest.raises(table.TableError, match="already in the reference table"):
        table.merge_rows(base, base[:1])
    assert len(gen.load_rows(TSV, EXTRA_TSV)) == len(base) + len(table.read_rows(EXTRA_TSV))
