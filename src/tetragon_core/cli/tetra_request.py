"""tetra getevents' filter flags → one GetEventsRequest, as upstream builds it.

All filter flags go into a single allow-list Filter (fields ANDed); -f/-F become field filters.
"""

from __future__ import annotations

import argparse

from google.protobuf import field_mask_pb2

from tetragon_core.api.tetragon import events_pb2
from tetragon_core.exceptions import TetragonError


def add_filter_flags(ge: argparse.ArgumentParser) -> None:
    """The getevents flags that select and shape events."""
    ge.add_argument("-f", "--include-fields", action="append", default=[], help="Include only these fields")
    ge.add_argument("-F", "--exclude-fields", action="append", default=[], help="Exclude these fields")
    ge.add_argument("-e", "--event-types", action="append", default=[], help="Include only these event types")
    ge.add_argument(
        "-n", "--namespace", "--namespaces", action="append", default=[], help="Kubernetes namespaces"
    )
    ge.add_argument("--process", "--processes", action="append", default=[], help="Process binary regexes")
    ge.add_argument("--pod", "--pods", action="append", default=[], help="Pod name regexes")
    ge.add_argument("--host", action="store_true", help='Get host events (namespace "")')
    ge.add_argument("--policy-names", action="append", default=[], help="Tracing policy names")
    ge.add_argument("--cel-expression", action="append", default=[], help="CEL expressions")
    ge.add_argument("--namespace-regex", action="append", default=[], help="Namespace regexes")


def _split(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def build_request(args: argparse.Namespace) -> events_pb2.GetEventsRequest:
    """The request tetra sends for these flags (an empty Filter is not sent)."""
    f = events_pb2.Filter()
    types = [t.upper() for t in _split(args.event_types)]
    for t in types:
        if t not in events_pb2.EventType.keys():
            raise TetragonError(
                f"--event-types: unknown event type {t!r} (known: {', '.join(events_pb2.EventType.keys())})"
            )
        f.event_set.append(events_pb2.EventType.Value(t))
    f.binary_regex.extend(_split(args.process))
    f.pod_regex.extend(_split(args.pod))
    namespaces = _split(args.namespace) + ([""] if args.host else [])
    f.namespace.extend(namespaces)
    f.policy_names.extend(_split(args.policy_names))
    f.cel_expression.extend(args.cel_expression)
    f.namespace_regex.extend(_split(args.namespace_regex))
    req = events_pb2.GetEventsRequest()
    if f.ListFields():
        req.allow_list.append(f)
    for fields, action in (
        (args.include_fields, events_pb2.INCLUDE),
        (args.exclude_fields, events_pb2.EXCLUDE),
    ):
        paths = _split(fields)
        if paths:
            req.field_filters.append(
                events_pb2.FieldFilter(fields=field_mask_pb2.FieldMask(paths=paths), action=action)
            )
    return req
