"""The ``pid_set`` filter: a set of pids and every descendant of them, learned as events arrive.

As upstream (``pkg/filters/pidSet.go``), this is best effort and meant for tests and development
(the agent refuses it in export lists unless ``--enable-pid-set-filter`` is given): there is no
process tree to ask, so descendants are learned from the events themselves. An event matches if its
process pid is one of the given pids or a remembered child; otherwise, if its *parent's* pid is, the
process pid is remembered as a child (so its own children match later) and the event matches.

Differences from upstream, on purpose:

* The child set is bounded (:data:`DEFAULT_MAX_CHILDREN`); when full, the oldest learned child is
  forgotten (insertion order). Upstream grows without bound and logs a warning each time the size
  doubles past 8192. The given pids are never forgotten.
* Learning happens on every event the filter is asked about, even when another field of the same
  ``Filter`` rejects the event; upstream evaluates the fields in order and stops at the first
  failing one, so there a preceding field could hide a fork from the tracker.

Pids are reused by the kernel, and exits are not used to forget children, so a long-lived tracker
can match an unrelated process that got a recycled pid.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from tetragon_core.events import Process

DEFAULT_MAX_CHILDREN = 65536

_log = logging.getLogger(__name__)


class PidSetTracker:
    """The state of one ``pid_set`` filter: the root pids and a bounded set of learned children."""

    __slots__ = ("_children", "_max", "_roots", "_warned")

    def __init__(self, pids: Iterable[int], max_children: int = DEFAULT_MAX_CHILDREN) -> None:
        self._roots = frozenset(pids)
        self._children: dict[int, None] = {}  # insertion-ordered set
        self._max = max_children
        self._warned = False

    def __contains__(self, pid: int) -> bool:
        return pid in self._roots or pid in self._children

    @property
    def children(self) -> frozenset[int]:
        """The descendant pids learned so far."""
        return frozenset(self._children)

    def _remember(self, pid: int) -> None:
        if pid in self._children or pid in self._roots:
            return
        if len(self._children) >= self._max:
            if not self._warned:
                _log.warning(
                    "pid_set filter child cache is full (%d entries); forgetting the oldest children",
                    self._max,
                )
                self._warned = True
            del self._children[next(iter(self._children))]
        self._children[pid] = None

    def match(self, process: Process | None, parent: Process | None) -> bool:
        """Whether ``process`` is in the set or a descendant; learns it if its parent is."""
        if process is None:
            return False
        pid = process.pid or 0
        if pid in self._roots or pid in self._children:
            return True
        if parent is None:
            return False
        ppid = parent.pid or 0
        if ppid in self._roots or ppid in self._children:
            self._remember(pid)
            return True
        return False
