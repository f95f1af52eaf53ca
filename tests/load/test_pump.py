"""The pump and the counters, against a fake engine at the frame-protocol seam (no Locust, no Triton).

The fake engine (helpers/fake_engine.py) is a real child process speaking the protocol: it answers with
scripted results frames, so every expected count below is read off the script, not the code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harness.load.counters import LoadCounters
from harness.load.engine.link import EngineLink
from harness.load.histogram import LatencyHistogram
from harness.load.options import LoadOptions
from harness.load.pump import pump
from harness.load.steering import EngineSteering
from helpers import fake_engine
from helpers.fake_engine import frame

OPTIONS = LoadOptions(triton_url="127.0.0.1:9", model="m")
FIRST = frame(
    [1000, 2000, 3000],
    [[4000, "UNAVAILABLE: server gone"]],
    cpu=0.25,
    late=2,
    max_lag_ms=3.5,
    dropped=1,
    in_flight=4,
    sent=[10.0, 10.5],
)
SECOND = frame(
    [500], [[600, "DEADLINE_EXCEEDED: too slow"]], cpu=0.5, late=1, max_lag_ms=1.0, dropped=2, in_flight=3, sent=[11.0]
)


@contextmanager
def pumping(tmp_path: Path, script: dict[str, Any]) -> Iterator[tuple[EngineSteering, LoadCounters, list[dict]]]:
    """A fake engine started and pumped in a thread (a greenlet under Locust); closed at the end."""
    command = fake_engine.command(script, tmp_path)
    steering = EngineSteering(
        OPTIONS, lambda: b"request", lambda url, payload, timeout: EngineLink(url, payload, timeout, command=command)
    )
    counters, fired = LoadCounters(), []
    steering.engine()
    thread = threading.Thread(target=pump, args=(steering, counters, lambda **event: fired.append(event), "m"))
    thread.start()
    try:
        yield steering, counters, fired
    finally:
        steering.close()
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_the_pump_counts_every_result_and_fires_one_request_event_each(tmp_path: Path) -> None:
    with pumping(tmp_path, {"on_config": [FIRST, SECOND]}) as (steering, counters, fired):
        steering.drain()
        delta = counters.flush("host-a", "fake")
    assert (delta.requests, delta.failures) == (6, 2)
    assert (delta.late_sends, delta.max_send_lag_ms, delta.dropped, delta.in_flight) == (3, 3.5, 3, 3)
    assert delta.first_error == "UNAVAILABLE: server gone"
    assert (delta.host, delta.engine) == ("host-a", "fake")
    assert list(memoryview(delta.sent).cast("d")) == [10.0, 10.5, 11.0]
    hist = LatencyHistogram()
    hist.add_encoded(delta.hist)
    assert hist.count == 6
    assert [e["response_time"] for e in fired] == [1.0, 2.0, 3.0, 4.0, 0.5, 0.6]
    assert [str(e["exception"]) if e["exception"] else None for e in fired] == [
        None,
        None,
        None,
        "UNAVAILABLE: server gone",
        None,
        "DEADLINE_EXCEEDED: too slow",
    ]
    assert {(e["request_type"], e["name"], e["response_length"]) for e in fired} == {("grpc", "m", 0)}


def test_drain_returns_only_once_the_results_before_the_stop_are_counted(tmp_path: Path) -> None:
    # The engine answers the stop (seq 1) late, with its last results in the frame that carries the ack.
    with pumping(tmp_path, {"on_ack": {"1": [FIRST]}, "ack_delay_s": 0.3}) as (steering, counters, _):
        steering.drain(timeout_s=5.0)
        delta = counters.flush("h", "fake")
    assert (delta.requests, delta.failures) == (4, 1)
    assert fake_engine.received(tmp_path)[1] == {"op": "stop", "seq": 1}


def test_lifetime_totals_are_the_sum_of_the_flushes(tmp_path: Path) -> None:
    script = {"on_config": [FIRST], "on_ack": {"1": [SECOND], "2": [FIRST, SECOND]}}
    with pumping(tmp_path, script) as (steering, counters, _):
        steering.drain()
        first = counters.flush("h", "fake")
        steering.drain()
        second = counters.flush("h", "fake")
        third = counters.flush("h", "fake")
    deltas = [first, second, third]
    assert [d.requests for d in deltas] == [4 + 2, 4 + 2, 0]
    assert [d.failures for d in deltas] == [2, 2, 0]
    assert third.in_flight == 3  # the engine's last in-flight count carries over an empty window
    counts = []
    for delta in deltas:
        hist = LatencyHistogram()
        if delta.hist:
            hist.add_encoded(delta.hist)
        counts.append(hist.count)
    assert counters.lifetime_totals() == {"requests": 12, "failures": 4, "histogram_count": sum(counts)}
    assert sum(counts) == 12


def test_an_engine_that_exits_on_its_own_becomes_the_first_error(tmp_path: Path) -> None:
    with pumping(tmp_path, {"on_config": [frame([100])], "exit": True}) as (_, counters, fired):
        for _ in range(500):  # the pump returns by itself once the engine's stdout closes
            if counters.first_error is not None:
                break
            time.sleep(0.01)
        delta = counters.flush("h", "fake")
    assert delta.first_error == "the lean load engine exited; see this process's stderr"
    assert (delta.requests, len(fired)) == (1, 1)


def test_an_engine_we_close_is_no_error(tmp_path: Path) -> None:
    with pumping(tmp_path, {"on_config": [frame([100])]}) as (steering, counters, _):
        steering.drain()
    assert counters.flush("h", "fake").first_error is None


def test_a_window_starts_again_at_each_flush_and_the_cpu_includes_the_engines(tmp_path: Path) -> None:
    counters = LoadCounters()
    counters.record(0.002, None)
    counters.record(0.004, "INTERNAL: boom")
    counters.refuse("later message")
    first = counters.flush("h", "e")
    assert (first.requests, first.failures, first.first_error) == (2, 1, "INTERNAL: boom")
    assert first.t1 >= first.t0
    second = counters.flush("h", "e")
    assert (second.requests, second.failures, second.first_error, second.hist) == (0, 0, None, "")
    assert second.t0 == pytest.approx(first.t1, abs=0.05)
    with pumping(tmp_path, {"on_config": [frame([1], cpu=2.0)]}) as (steering, pumped, _):
        steering.drain()
        assert pumped.flush("h", "e").cpu_s >= 2.0  # the engine reported two CPU seconds in this window
