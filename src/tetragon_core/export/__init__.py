"""Event sinks: the rotated JSON-lines file exporter and the compact text renderer.

* :mod:`~tetragon_core.export.timefmt`: protojson timestamps and BPF ktime conversion.
* :mod:`~tetragon_core.export.rotate`: a lumberjack-compatible rotating file.
* :mod:`~tetragon_core.export.jsonexport`: ``--export-filename``, written off the event loop.
* :mod:`~tetragon_core.export.compact`: ``tetra getevents -o compact`` lines.
"""

from tetragon_core.export.compact import render_compact
from tetragon_core.export.jsonexport import JsonExporter
from tetragon_core.export.rotate import RotatingFile
from tetragon_core.export.timefmt import KtimeClock, rfc3339_nanos

__all__ = ["JsonExporter", "KtimeClock", "RotatingFile", "render_compact", "rfc3339_nanos"]
