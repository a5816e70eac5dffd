"""Sensor discovery through importlib.metadata entry points.

Discovery, import and validation are separate steps: listing entry points imports nothing, so a
broken plugin that is not enabled cannot break the agent.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from tetragon_core.exceptions import SensorError
from tetragon_core.plugin_events import EventType, register as register_event
from tetragon_core.sensors.api import SDK_VERSION, Sensor

GROUP = "tetragon.sensors"
#: spec keys claimed by plugins: ``<key> = "<the module:Class of the sensor's own entry point>"``
SECTIONS_GROUP = "tetragon.policy_sections"
#: TracingPolicy spec sections a sensor may serve
POLICY_SECTIONS = (
    "kprobes",
    "tracepoints",
    "uprobes",
    "lsmhooks",
    "usdts",
    "fentries",
    "loader",
    "enforcers",
)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SECTION_RE = re.compile(r"^[a-z][A-Za-z0-9]{1,63}$")


@dataclass(frozen=True)
class SensorEntry:
    """A discovered, not yet imported, sensor."""

    name: str
    value: str
    distribution: str
    entry_point: EntryPoint | None = None


def discover(eps: Iterable[EntryPoint] | None = None) -> dict[str, SensorEntry]:
    """Every sensor registered in the ``tetragon.sensors`` group; duplicates are an error."""
    found: dict[str, SensorEntry] = {}
    for ep in eps if eps is not None else entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        if ep.name in found:
            other = found[ep.name]
            raise SensorError(
                f"duplicate sensor name {ep.name!r}: registered by {other.distribution} ({other.value}) "
                f"and by {dist} ({ep.value})"
            )
        found[ep.name] = SensorEntry(ep.name, ep.value, dist, ep)
    return found


def validate(cls: object, name: str, distribution: str = "?") -> type[Sensor]:
    """Check that ``cls`` is a usable Sensor class registered under ``name`` by ``distribution``."""
    if not inspect.isclass(cls) or not issubclass(cls, Sensor):
        raise SensorError(f"sensor {name!r}: entry point does not name a Sensor subclass (got {cls!r})")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise SensorError(f"sensor {name!r}: {cls.__name__} does not implement {missing}")
    cname = getattr(cls, "name", None)
    if not isinstance(cname, str) or not _NAME_RE.match(cname):
        raise SensorError(f"sensor {name!r}: class attribute 'name' must match {_NAME_RE.pattern}")
    if cname != name:
        raise SensorError(f"sensor {name!r}: entry point name differs from {cls.__name__}.name {cname!r}")
    version = getattr(cls, "sdk_version", None)
    if version is None:
        raise SensorError(
            f"sensor {name!r} ({distribution}): {cls.__name__} declares no sdk_version; this "
            f"tetragon-core provides SDK API version {SDK_VERSION}"
        )
    if version != SDK_VERSION:
        raise SensorError(
            f"sensor {name!r} ({distribution}) was built for SDK API version {version!r}; this "
            f"tetragon-core provides SDK API version {SDK_VERSION}"
        )
    sections = getattr(cls, "sections", ())
    bad = [x for x in sections if x not in POLICY_SECTIONS and not _SECTION_RE.match(str(x))]
    if bad:
        raise SensorError(
            f"sensor {name!r}: 'sections' names {bad}: a section is one of {', '.join(POLICY_SECTIONS)} "
            f"or a plugin's own key (lowerCamelCase, claimed in the {SECTIONS_GROUP} entry points)"
        )
    ops = getattr(cls, "ops", ())
    if not all(isinstance(o, int) and 0 < o < 256 for o in ops):
        raise SensorError(f"sensor {name!r}: 'ops' must be op codes between 1 and 255, got {ops!r}")
    for ev in getattr(cls, "events", ()):
        if not isinstance(ev, EventType):
            raise SensorError(f"sensor {name!r}: 'events' must hold EventType declarations, got {ev!r}")
    return cls


def load_sensor(entry: SensorEntry) -> Sensor:
    """Import, validate and instantiate one discovered sensor."""
    if entry.entry_point is None:
        raise SensorError(f"sensor {entry.name!r} has no entry point")
    try:
        cls = entry.entry_point.load()
    except Exception as e:
        raise SensorError(f"sensor {entry.name!r}: importing {entry.value} failed: {e}") from e
    sensor = validate(cls, entry.name, entry.distribution)()
    for ev in sensor.events:  # its own event types join the export, filters and GetEvents
        register_event(ev, entry.name)
    decs = sensor.decoders()
    if set(decs) != set(sensor.ops):
        raise SensorError(
            f"sensor {entry.name!r}: decoders cover ops {sorted(decs)} "
            f"but the class declares {sorted(sensor.ops)}"
        )
    return sensor


def load_enabled(enabled: Iterable[str], available: dict[str, SensorEntry] | None = None) -> list[Sensor]:
    """Import and validate exactly the ``enabled`` sensors; an unknown name is an error."""
    available = discover() if available is None else available
    out: list[Sensor] = []
    claimed: dict[int, str] = {}
    for name in enabled:
        if name not in available:
            have = ", ".join(sorted(available)) or "none"
            hint = "; the standard set: pip install 'tetragon-core[sensors]'" if not available else ""
            raise SensorError(f"sensor {name!r} is not installed (installed: {have}){hint}")
        s = load_sensor(available[name])
        for op in s.ops:
            if op in claimed:
                raise SensorError(
                    f"sensor {name!r}: op code {op} is already decoded by sensor {claimed[op]!r}"
                )
            claimed[op] = name
        out.append(s)
    return out


def register_installed_events() -> list[str]:
    """Register the event types of every installed sensor, for clients (``tetra``) that render
    them; a plugin that fails to import is skipped. Returns the sensors whose import failed."""
    failed = []
    for entry in discover().values():
        try:
            cls = entry.entry_point.load() if entry.entry_point is not None else None
            for ev in getattr(cls, "events", ()):
                if isinstance(ev, EventType):
                    register_event(ev, entry.name)
        except Exception:  # a client renders what it can: one broken plugin must not stop it
            failed.append(entry.name)
    return failed


def discover_sections(
    eps: Iterable[EntryPoint] | None = None, sensors: dict[str, SensorEntry] | None = None
) -> dict[str, str]:
    """Spec keys claimed by installed plugins → the sensor that serves each, without importing
    anything: a claim names the same ``module:Class`` as the sensor's own entry point. A claim
    of a core key, of a key claimed twice, or naming no installed sensor is an error."""
    sensors = discover() if sensors is None else sensors
    by_value = {e.value: e.name for e in sensors.values()}
    # the core's own spec keys (TracingPolicySpec): never a plugin's
    core = {*POLICY_SECTIONS, "podSelector", "containerSelector", "hostSelector", "nodeSelector"}
    core |= {"lists", "options", "selectorsMacros"}
    out: dict[str, str] = {}
    for ep in eps if eps is not None else entry_points(group=SECTIONS_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        sensor = by_value.get(ep.value)
        if sensor is None:
            raise SensorError(
                f"{dist}: policy section {ep.name!r} names {ep.value}, which is no installed sensor"
            )
        if ep.name in core or not _SECTION_RE.match(ep.name):
            raise SensorError(f"{dist}: policy section {ep.name!r} is a core key or not lowerCamelCase")
        if ep.name in out:
            raise SensorError(
                f"policy section {ep.name!r} is claimed by sensors {out[ep.name]!r} and {sensor!r}"
            )
        out[ep.name] = sensor
    return out
