"""Actions Tetragon performs from user space when a hook's event arrives: GetUrl (an HTTP GET of
``argUrl``) and DnsLookup (a lookup of ``argFqdn``), as canaries that notify an outside service.

The kernel marks the event (action GETURL/DNSLOOKUP, ``action_arg_id`` = the index of the
selector's URL or name); the decoder hands it here. Requests run on one worker thread, so the
ring reader never waits on the network; each outcome is counted.
"""

from __future__ import annotations

import logging
import socket
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tetragon_core.metrics import Registry

log = logging.getLogger(__name__)

GETURL, DNSLOOKUP = 6, 7  # KPROBE_ACTION_GETURL / _DNSLOOKUP
TIMEOUT_S = 5.0
MAX_QUEUED = 256


class UserActions:
    """Runs GetUrl/DnsLookup in the background; drops (and counts) beyond MAX_QUEUED waiting."""

    def __init__(self, registry: Registry | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tg-user-actions")
        self._queued = 0
        self._count = (registry or Registry()).counter(
            "tetragon_user_actions_total",
            "GetUrl and DnsLookup actions performed from user space, by outcome.",
            ("action", "outcome"),
        )

    def perform(self, action: int, target: str) -> None:
        """Start ``action`` (GETURL or DNSLOOKUP) on ``target``; never blocks."""
        name = "GetUrl" if action == GETURL else "DnsLookup"
        if self._queued >= MAX_QUEUED:
            self._count.inc(name, "dropped")
            return
        self._queued += 1
        self._pool.submit(self._run, name, target)

    def _run(self, name: str, target: str) -> None:
        try:
            if name == "GetUrl":
                with urllib.request.urlopen(target, timeout=TIMEOUT_S) as r:
                    r.read(1 << 16)
            else:
                socket.getaddrinfo(target, None)
            self._count.inc(name, "ok")
        except (OSError, ValueError) as e:
            log.warning("%s %s failed: %s", name, target, e)
            self._count.inc(name, "error")
        finally:
            self._queued -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
