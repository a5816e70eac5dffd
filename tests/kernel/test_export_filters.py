"""Export-side filters on the live agent: allow/deny lists, field filters, redaction, rate limit."""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid

from tests.kernel.conftest import TETRAGON, execs, exits
from tests.kernel.test_export_and_cache import _free_port


def test_allow_deny_field_filters_and_redaction_shape_the_export(start_agent) -> None:
    token = "flt" + uuid.uuid4().hex[:8]
    agent = start_agent(
        "--export-allowlist",
        '{"binary_regex":["^/bin/echo$"]}\n{"event_set":["PROCESS_EXIT"]}',
        "--export-denylist",
        '{"arguments_regex":["skipme"]}',
        "--field-filters",
        '{"event_set":["PROCESS_EXEC"],"fields":"process.binary,process.arguments,process.pid","action":"INCLUDE"}',
        "--redaction-filters",
        r'{"redact":["--password[= ](\\S+)"]}',
        ready="log",  # the start-up snapshot is filtered too
    )
    subprocess.run(["/bin/echo", token, "--password", "hunter2"], stdout=subprocess.DEVNULL, check=True)
    subprocess.run(["/bin/echo", token, "skipme"], stdout=subprocess.DEVNULL, check=True)
    subprocess.run(["/bin/true", token], check=True)

    def done(evs: list[dict]) -> bool:
        # the echo with the password and /bin/true; the skipme process is denied, exit included
        return sum(1 for e in exits(evs) if e["process"].get("arguments", "").startswith(token)) >= 2

    evs = agent.wait_for(done)
    ex = [e for e in execs(evs) if token in e["process"].get("arguments", "")]
    # only /bin/echo execs pass the allow list, the skipme one is denied, /bin/true is not allowed
    assert len(ex) == 1, ex
    # INCLUDE kept only the listed fields of process_exec (and dropped parent)
    assert ex[0] == {
        "process": {
            "binary": "/bin/echo",
            "arguments": f"{token} --password *****",
            "pid": ex[0]["process"]["pid"],
        }
    }
    assert all(set(e) <= {"process_exit", "process_exec", "node_name", "time"} for e in evs)
    # every exit is allowed, whole; redaction applied in the cache shows there too
    (pw_exit,) = [e for e in exits(evs) if e["process"].get("arguments", "").endswith("*****")]
    assert "hunter2" not in json.dumps(evs)
    # the denied process's events are gone (the agent's own command line, with the filter text,
    # may show as the parent of a process the agent ran, e.g. git for the build info)
    denied = [
        e
        for e in evs
        for kind in ("process_exec", "process_exit")
        if "skipme" in e.get(kind, {}).get("process", {}).get("arguments", "")
    ]
    assert not denied, denied
    assert pw_exit["process"]["binary"] == "/bin/echo" and "parent" in pw_exit


def test_malformed_filter_json_fails_at_start_with_line_and_reason() -> None:
    r = subprocess.run(
        [TETRAGON, "--export-allowlist", '{"binary_regex":["a"]}\n{"binary_regex":["("]}'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "--export-allowlist: line 2" in r.stderr and "binary_regex" in r.stderr


def test_export_rate_limit_drops_and_counts(start_agent) -> None:
    port = _free_port()
    agent = start_agent("--export-rate-limit", "5", "--metrics-server", f"127.0.0.1:{port}", ready="log")
    token = "rl" + uuid.uuid4().hex[:8]
    subprocess.run(
        ["/bin/sh", "-c", f"i=0; while [ $i -lt 20 ]; do /bin/true {token}; i=$((i+1)); done"], check=True
    )
    subprocess.run(["/bin/sleep", "1"], check=True)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    dropped = [
        float(x.split()[-1])
        for x in body.splitlines()
        if x.startswith("tetragon_export_ratelimit_events_dropped_total")
    ]
    assert dropped and dropped[0] > 0
    assert len(agent.events()) <= 5  # the burst allowance of 5 per minute, snapshot included
