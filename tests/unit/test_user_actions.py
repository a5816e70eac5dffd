"""GetUrl and DnsLookup, performed from user space off the ring reader's thread."""

from __future__ import annotations

import http.server
import threading
import time

from tetragon_core.metrics import Registry
from tetragon_core.sensors.useractions import DNSLOOKUP, GETURL, UserActions


def wait_for(pred, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_get_url_hits_the_url_and_dns_lookup_resolves() -> None:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    reg = Registry()
    ua = UserActions(reg)
    try:
        t0 = time.monotonic()
        ua.perform(GETURL, f"http://127.0.0.1:{srv.server_port}/canary?x=1")
        assert time.monotonic() - t0 < 0.1  # the caller never waits on the network
        ua.perform(DNSLOOKUP, "localhost")
        ua.perform(GETURL, "http://127.0.0.1:1/refused")
        count = reg["tetragon_user_actions_total"]
        wait_for(
            lambda: (
                count.get("GetUrl", "ok") + count.get("GetUrl", "error") + count.get("DnsLookup", "ok") == 3
            )
        )
        assert hits == ["/canary?x=1"]
        assert (count.get("GetUrl", "ok"), count.get("GetUrl", "error"), count.get("DnsLookup", "ok")) == (
            1,
            1,
            1,
        )
    finally:
        ua.close()
        srv.shutdown()
