"""Kubernetes' CRD schema rules for the tests: a structural-schema checker and a validator of the
OpenAPI v3 subset Kubernetes uses (``x-kubernetes-validations`` rules evaluated with cel-python).
The validator reports what Kubernetes would prune (an unknown field under a non-preserving
object, a null where the schema is not nullable) as a problem: Kubernetes would drop it
silently."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import celpy
from celpy.adapter import json_to_cel

# --- a structural-schema checker -------------------------------------------------------------

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}
_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "properties",
        "required",
        "items",
        "enum",
        "additionalProperties",
        "nullable",
        "default",
        "format",
        "maxItems",
        "minItems",
        "maxLength",
        "minLength",
        "maxProperties",
        "minProperties",
        "pattern",
        "minimum",
        "maximum",
        "x-kubernetes-int-or-string",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-validations",
        "x-kubernetes-list-type",
        "x-kubernetes-map-type",
    }
)
_FORMATS = {
    "string": {"date-time", "date", "byte", "uri", "ipv4", "ipv6", "cidr"},
    "integer": {"int32", "int64"},
}


def structural_problems(schema: Any, path: str = "", *, root: bool = True) -> list[str]:
    """Why ``schema`` is not a structural schema in our subset (empty list: it is)."""
    where = path or "<root>"
    if not isinstance(schema, dict):
        return [f"{where}: a schema must be a mapping"]
    out = [f"{where}: keyword {k!r} is not in the supported subset" for k in schema if k not in _KEYWORDS]
    typ = schema.get("type")
    int_or_string = schema.get("x-kubernetes-int-or-string") is True
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    for flag in ("nullable", "x-kubernetes-int-or-string", "x-kubernetes-preserve-unknown-fields"):
        if flag in schema and not isinstance(schema[flag], bool):
            out.append(f"{where}: {flag} must be a boolean")
    if int_or_string and typ is not None:
        out.append(f"{where}: x-kubernetes-int-or-string must not have a type")
    if typ is None and not (int_or_string or preserve):
        out.append(f"{where}: no type")
    if typ is not None and typ not in _TYPES:
        out.append(f"{where}: unknown type {typ!r}")
    if "description" in schema and not isinstance(schema["description"], str):
        out.append(f"{where}: description must be a string")
    if "format" in schema and schema["format"] not in _FORMATS.get(typ or "", set()):
        out.append(f"{where}: format {schema['format']!r} does not fit type {typ!r}")
    props = schema.get("properties")
    addl = schema.get("additionalProperties")
    if typ == "object":
        if props is None and addl is None and not preserve:
            out.append(
                f"{where}: an object needs properties, additionalProperties or preserve-unknown-fields"
            )
        if props is not None and addl is not None:
            out.append(f"{where}: properties and additionalProperties are mutually exclusive")
    elif props is not None or addl is not None or "required" in schema:
        out.append(f"{where}: properties/additionalProperties/required on a non-object")
    if addl is not None and not isinstance(addl, dict):
        out.append(f"{where}: additionalProperties must be a schema (false/true are not structural)")
    for req in schema.get("required", []):
        if req not in (props or {}):
            out.append(f"{where}: required {req!r} is not a property")
    if typ == "array" and not isinstance(schema.get("items"), dict):
        out.append(f"{where}: an array needs one items schema")
    if typ != "array" and "items" in schema:
        out.append(f"{where}: items on a non-array")
    if "enum" in schema:
        bare = {k: v for k, v in schema.items() if k not in ("enum", "default", "x-kubernetes-validations")}
        for value in schema["enum"]:
            out += [f"{where}: enum value {value!r}: {p}" for p in validate(bare, value, path)]
    if "default" in schema:
        out += [f"{where}: default: {p}" for p in validate(schema, schema["default"], path)]
    for rule in schema.get("x-kubernetes-validations", []):
        if not isinstance(rule, dict) or not isinstance(rule.get("rule"), str):
            out.append(f"{where}: x-kubernetes-validations entries need a rule")
            continue
        try:
            _cel_program(rule["rule"])
        except Exception as exc:
            out.append(f"{where}: rule {rule['rule']!r} does not compile: {exc}")
    for key, sub in (props or {}).items():
        sub_path = f"{path}.{key}" if path else key
        if root and key == "metadata":
            if sub != {"type": "object"}:
                out.append(f"{sub_path}: metadata may only be {{type: object}} at the root")
            continue
        out += structural_problems(sub, sub_path, root=False)
    if isinstance(addl, dict):
        out += structural_problems(addl, f"{path}.*", root=False)
    if isinstance(schema.get("items"), dict):
        out += structural_problems(schema["items"], f"{path}[]", root=False)
    return out


# --- a validator of the OpenAPI v3 subset Kubernetes uses ------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reason a document does not fit a schema; ``pruned``: Kubernetes would drop the value."""

    path: str
    message: str
    pruned: bool = False

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {'pruned: ' if self.pruned else ''}{self.message}"


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@cache
def _cel_program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _kind(value: object) -> str:
    if value is None:
        return "null"
    for name, tp in _TYPES.items():
        if isinstance(value, bool) != (name == "boolean"):
            continue
        if isinstance(value, tp):
            return name
    return type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def validate(schema: dict[str, Any], value: Any, path: str = "", *, root: bool = False) -> list[Problem]:
    """Problems of ``value`` against ``schema``; ``root``: the schema is a CRD's openAPIV3Schema."""
    out: list[Problem] = []
    _validate(schema, value, path, out, root)
    return out


def _validate(schema: dict[str, Any], value: Any, path: str, out: list[Problem], root: bool) -> None:
    if value is None:
        if not schema.get("nullable"):
            out.append(Problem(path, "null is not allowed here (not nullable)"))
        return
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            out.append(Problem(path, f"expected an integer or a string, got {_kind(value)}"))
            return
    elif "type" in schema:
        if _kind(value) != schema["type"] and not (schema["type"] == "number" and _kind(value) == "integer"):
            out.append(Problem(path, f"expected {schema['type']}, got {_kind(value)}"))
            return
    elif not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.append(Problem(path, "the schema has no type"))
        return
    if "enum" in schema and value not in schema["enum"]:
        out.append(Problem(path, f"{value!r} is not one of {schema['enum']}"))
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(Problem(path, f"longer than {schema['maxLength']} characters"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(Problem(path, f"shorter than {schema['minLength']} characters"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(Problem(path, f"{value!r} does not match {schema['pattern']!r}"))
        if schema.get("format") == "date-time" and not _DATE_TIME.match(value):
            out.append(Problem(path, f"{value!r} is not an RFC 3339 date-time"))
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(Problem(path, f"{value} is less than {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            out.append(Problem(path, f"{value} is greater than {schema['maximum']}"))
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(Problem(path, f"at most {schema['maxItems']} items allowed, got {len(value)}"))
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append(Problem(path, f"at least {schema['minItems']} items needed, got {len(value)}"))
        items = schema.get("items")
        for i, item in enumerate(value):
            if items is not None:
                _validate(items, item, f"{path}[{i}]", out, False)
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                out.append(Problem(f"{path}[{i}]", "no items schema", pruned=True))
    if isinstance(value, dict):
        _validate_object(schema, value, path, out, root)
    for rule in schema.get("x-kubernetes-validations", []):
        try:
            ok = _cel_program(rule["rule"]).evaluate({"self": json_to_cel(value)})
        except Exception as exc:
            ok = exc
        if ok is not True and not (isinstance(ok, celpy.celtypes.BoolType) and bool(ok)):
            out.append(Problem(path, f"{rule.get('message', 'rule failed')} (rule {rule['rule']!r})"))


def _validate_object(
    schema: dict[str, Any], value: dict[str, Any], path: str, out: list[Problem], root: bool
) -> None:
    props: dict[str, Any] = schema.get("properties", {})
    addl = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        out.append(Problem(path, f"at most {schema['maxProperties']} properties allowed"))
    for req in schema.get("required", []):
        if value.get(req) is None:
            out.append(Problem(_join(path, req), "required field is missing"))
    for key, item in value.items():
        sub = _join(path, str(key))
        if root and key == "metadata":
            if not isinstance(item, dict):
                out.append(Problem(sub, f"expected object, got {_kind(item)}"))
            continue  # ObjectMeta is the API server's
        if key in props:
            if item is None and not props[key].get("nullable"):
                out.append(Problem(sub, "null value of a non-nullable field", pruned=True))
                continue
            _validate(props[key], item, sub, out, False)
        elif isinstance(addl, dict):
            _validate(addl, item, sub, out, False)
        elif not preserve:
            out.append(Problem(sub, "unknown field", pruned=True))
