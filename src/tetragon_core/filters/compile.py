"""Compile one ``tetragon.Filter`` into a predicate over events (upstream ``pkg/filters``).

All fields set in one ``Filter`` are ANDed, the values inside one field are ORed, and a ``Filter``
with no field set matches every event. Per field (as upstream unless noted):

==========================  ===========================================================================
field                       matches when
==========================  ===========================================================================
``binary_regex``            an RE2 pattern finds a match in ``process.binary``
``parent_binary_regex``     … in ``parent.binary``
``ancestor_binary_regex``   … in the binary of any of ``ancestors`` (none: no match)
``namespace``               ``process.pod.namespace`` is one of the values; ``""`` matches a process
                            without pod (host)
``namespace_regex``         an RE2 pattern matches ``process.pod.namespace`` (host: no match)
``health_check``            true: ``pod.container.maybe_exec_probe`` on process or parent; false: on
                            neither
``pid``                     ``process.pid`` is one of the values
``pid_set``                 ``process.pid`` is one of the values or a descendant (see :mod:`.pidset`)
``event_set``               the ``EventType`` of the event is one of the values
``pod_regex``               an RE2 pattern matches ``process.pod.name`` (host: no match)
``container_id``            an RE2 pattern matches ``process.docker``
``container_name_regex``    an RE2 pattern matches ``process.pod.container.name`` (none: no match)
``arguments_regex``         an RE2 pattern matches ``process.arguments``
``parent_arguments_regex``  … ``parent.arguments``
``labels``                  a label selector (see :mod:`.labels`) selects ``process.pod.pod_labels``
                            (host: no match)
``policy_names``            the event's ``policy_name`` is one of the values (none: no match)
``capabilities``            see :mod:`.caps`
``in_init_tree``            ``process.in_init_tree`` (unset: false) equals the value
``cel_expression``          a CEL expression is true (see :mod:`.cel`)
==========================  ===========================================================================

Every field except ``event_set``, ``policy_names`` and ``cel_expression`` needs a process: events
without one (``rate_limit_info``…) never match them; ``health_check: false`` is the exception and
matches them, as upstream. Upstream panics on ``in_init_tree`` for such events; here they do not
match.

Not done here, as upstream does at filter build time from agent options: refusing
``capabilities`` when ``--enable-process-cred`` is off and ``ancestor_binary_regex`` when ancestors
are not enabled for the event types; the caller knows those options.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tetragon_core import plugin_events
from tetragon_core.api.tetragon import events_pb2
from tetragon_core.events import GetEventsResponse, Process
from tetragon_core.exceptions import ConfigError
from tetragon_core.filters.access import EventParts, event_parts, event_type_name
from tetragon_core.filters.caps import compile_caps
from tetragon_core.filters.labels import SelectorError, parse_selector
from tetragon_core.filters.pidset import PidSetTracker
from tetragon_core.filters.regex import compile_patterns

#: A compiled field check: the event and its parts (see :func:`event_parts`) → match.
Check = Callable[[GetEventsResponse, EventParts], bool]


def _binary_check(field: str, patterns: Sequence[str], which: str) -> Check:
    matches = compile_patterns(field, patterns)
    if which == "process":
        return lambda ev, p: p.process is not None and matches(p.process.binary)
    if which == "parent":
        return lambda ev, p: p.parent is not None and matches(p.parent.binary)
    return lambda ev, p: any(matches(a.binary) for a in p.ancestors)


def _arguments_check(field: str, patterns: Sequence[str], parent: bool) -> Check:
    matches = compile_patterns(field, patterns)
    if parent:
        return lambda ev, p: p.parent is not None and matches(p.parent.arguments)
    return lambda ev, p: p.process is not None and matches(p.process.arguments)


def _namespace_check(namespaces: Sequence[str]) -> Check:
    wanted = frozenset(namespaces)
    host = "" in wanted

    def check(ev: GetEventsResponse, p: EventParts) -> bool:
        process = p.process
        if process is None:
            return False
        pod = process.pod
        if pod is None:
            return host
        return pod.namespace in wanted

    return check


def _pod_field_check(field: str, patterns: Sequence[str], attr: str) -> Check:
    matches = compile_patterns(field, patterns)

    def check(ev: GetEventsResponse, p: EventParts) -> bool:
        process = p.process
        if process is None or process.pod is None:
            return False
        return matches(getattr(process.pod, attr))

    return check


def _container_name_check(patterns: Sequence[str]) -> Check:
    matches = compile_patterns("container_name_regex", patterns)

    def check(ev: GetEventsResponse, p: EventParts) -> bool:
        process = p.process
        if process is None or process.pod is None or process.pod.container is None:
            return False
        return matches(process.pod.container.name)

    return check


def _maybe_exec_probe(process: Process | None) -> bool:
    return (
        process is not None
        and process.pod is not None
        and process.pod.container is not None
        and process.pod.container.maybe_exec_probe
    )


def _health_check(value: bool) -> Check:
    if value:
        return lambda ev, p: _maybe_exec_probe(p.process) or _maybe_exec_probe(p.parent)
    return lambda ev, p: not _maybe_exec_probe(p.process) and not _maybe_exec_probe(p.parent)


def _pid_check(pids: Sequence[int]) -> Check:
    wanted = frozenset(pids)
    return lambda ev, p: p.process is not None and (p.process.pid or 0) in wanted


def _pid_set_check(pids: Sequence[int]) -> Check:
    tracker = PidSetTracker(pids)
    return lambda ev, p: tracker.match(p.process, p.parent)


def _event_set_check(types: Sequence[int]) -> Check:
    names = set()
    plugins = plugin_events.type_names()
    for number in types:
        try:
            names.add(events_pb2.EventType.Name(number))
        except ValueError:
            if number in plugins:  # a plugin's event type (plugin_events.py)
                names.add(plugins[number])
            # else a number without a name here: no event of ours carries it
    wanted = frozenset(names)
    return lambda ev, p: event_type_name(ev) in wanted


def _container_id_check(patterns: Sequence[str]) -> Check:
    matches = compile_patterns("container_id", patterns)
    return lambda ev, p: p.process is not None and matches(p.process.docker)


def _labels_check(selectors: Sequence[str]) -> Check:
    compiled = []
    for selector in selectors:
        try:
            compiled.append(parse_selector(selector))
        except SelectorError as exc:
            raise ConfigError(f"labels: invalid pod label selector {selector!r}: {exc}") from None

    def check(ev: GetEventsResponse, p: EventParts) -> bool:
        process = p.process
        if process is None or process.pod is None:
            return False
        labels = process.pod.pod_labels
        return any(sel(labels) for sel in compiled)

    return check


def _policy_names_check(names: Sequence[str]) -> Check:
    wanted = frozenset(names)
    return lambda ev, p: p.policy_name != "" and p.policy_name in wanted


def _in_init_tree_check(value: bool) -> Check:
    return lambda ev, p: p.process is not None and bool(p.process.in_init_tree) == value


def _build_checks(f: events_pb2.Filter) -> list[Check]:
    checks: list[Check] = []
    # pid_set goes first so that it learns descendants from every event (see pidset).
    if f.pid_set:
        checks.append(_pid_set_check(f.pid_set))
    # Cheap, selective checks next.
    if f.event_set:
        checks.append(_event_set_check(f.event_set))
    if f.namespace:
        checks.append(_namespace_check(f.namespace))
    if f.HasField("health_check"):
        checks.append(_health_check(f.health_check.value))
    if f.pid:
        checks.append(_pid_check(f.pid))
    if f.policy_names:
        checks.append(_policy_names_check(f.policy_names))
    if f.HasField("in_init_tree"):
        checks.append(_in_init_tree_check(f.in_init_tree.value))
    if f.HasField("capabilities"):
        caps = compile_caps(f.capabilities)
        checks.append(lambda ev, p: caps(p.process))
    if f.binary_regex:
        checks.append(_binary_check("binary_regex", f.binary_regex, "process"))
    if f.parent_binary_regex:
        checks.append(_binary_check("parent_binary_regex", f.parent_binary_regex, "parent"))
    if f.ancestor_binary_regex:
        checks.append(_binary_check("ancestor_binary_regex", f.ancestor_binary_regex, "ancestors"))
    if f.namespace_regex:
        checks.append(_pod_field_check("namespace_regex", f.namespace_regex, "namespace"))
    if f.pod_regex:
        checks.append(_pod_field_check("pod_regex", f.pod_regex, "name"))
    if f.container_name_regex:
        checks.append(_container_name_check(f.container_name_regex))
    if f.container_id:
        checks.append(_container_id_check(f.container_id))
    if f.arguments_regex:
        checks.append(_arguments_check("arguments_regex", f.arguments_regex, parent=False))
    if f.parent_arguments_regex:
        checks.append(_arguments_check("parent_arguments_regex", f.parent_arguments_regex, parent=True))
    if f.labels:
        checks.append(_labels_check(f.labels))
    if f.cel_expression:
        # imported here: celpy (and lark) cost a third of the agent's start-up imports
        from tetragon_core.filters.cel import compile_cel

        cel = compile_cel(f.cel_expression)
        checks.append(lambda ev, p: cel(ev))
    return checks


class CompiledFilter:
    """One compiled ``Filter``: call it with an event, or use :meth:`match` with precomputed parts."""

    __slots__ = ("_checks", "needs_parts", "source")

    def __init__(self, f: events_pb2.Filter) -> None:
        self.source = f
        self._checks = tuple(_build_checks(f))
        # event_set alone (the common allow list) needs no process lookup.
        only_event_set = not f.pid_set and len(self._checks) == 1 and bool(f.event_set)
        self.needs_parts = bool(self._checks) and not only_event_set

    def match(self, ev: GetEventsResponse, parts: EventParts) -> bool:
        """Whether ``ev`` (whose :func:`event_parts` are ``parts``) passes every field."""
        for check in self._checks:
            if not check(ev, parts):
                return False
        return True

    def __call__(self, ev: GetEventsResponse) -> bool:
        """Whether ``ev`` passes every field of the filter."""
        if not self._checks:
            return True
        return self.match(ev, event_parts(ev) if self.needs_parts else _NO_PARTS)


_NO_PARTS = EventParts("", None, None, (), "")


def compile_filter(f: events_pb2.Filter) -> Callable[[GetEventsResponse], bool]:
    """Compile one ``Filter`` message into ``event -> bool``.

    Fields are ANDed, values within a field ORed; an empty ``Filter`` matches everything. Raises
    :class:`ConfigError` naming the field for an invalid RE2 pattern, label selector, capability
    set or CEL expression. The result is a :class:`CompiledFilter`; a ``pid_set`` makes it
    stateful (it learns descendants), so compile one per consumer.
    """
    return CompiledFilter(f)
