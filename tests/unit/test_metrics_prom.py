"""The aioprometheus exposition, read back by prometheus_client: escaping, unlabelled zeros,
cumulative histogram buckets, and a scrape from a thread while the loop keeps counting."""

from __future__ import annotations

import threading

from tests.promtext import families, value
from tetragon_core.metrics import Registry
from tetragon_core.metrics_prom import PromMirror


def test_label_values_are_escaped_and_untouched_families_show_zero() -> None:
    reg = Registry()
    c = reg.counter("tetragon_events_total", "events", ("binary",))
    c.inc('/tmp/a "quoted"\\path\nx', by=3)
    reg.counter("tetragon_events_missing_process_info_total", "missing")
    reg.gauge("tetragon_labelled_gauge", "labelled, never set", ("map",))
    text = reg.exposition()
    assert value(text, "tetragon_events_total", binary='/tmp/a "quoted"\\path\nx') == 3
    assert value(text, "tetragon_events_missing_process_info_total") == 0
    assert families(text)["tetragon_labelled_gauge"].samples == []  # no label values to invent


def test_histogram_buckets_are_cumulative() -> None:
    reg = Registry()
    h = reg.histogram("tetragon_handling_latency", "latency", ("op",), (10.0, 100.0))
    for v in (5, 50, 50, 500):
        h.observe(v, "5")
    text = reg.exposition()
    got = [value(text, "tetragon_handling_latency_bucket", op="5", le=le) for le in ("10.0", "100.0", "+Inf")]
    assert got == [1, 3, 4]
    assert value(text, "tetragon_handling_latency_count", op="5") == 4
    assert value(text, "tetragon_handling_latency_sum", op="5") == 605


def test_a_scrape_in_a_thread_while_counting_goes_on() -> None:
    reg = Registry()
    c = reg.counter("tetragon_events_total", "events", ("binary",))
    mirror = PromMirror(reg)
    stop = threading.Event()
    errors: list[BaseException] = []

    def scrape() -> None:
        try:
            while not stop.is_set():
                mirror.render()
        except BaseException as e:  # the test fails on any
            errors.append(e)

    t = threading.Thread(target=scrape)
    t.start()
    for i in range(20000):
        c.inc(f"/bin/b{i % 3000}")
    stop.set()
    t.join()
    assert errors == []
    text = mirror.render()[0].decode()
    assert sum(s.value for s in families(text)["tetragon_events_total"].samples) == 20000
