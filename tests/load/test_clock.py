"""Clock offsets between a worker and its master: NTP's arithmetic on hand-made timestamps, and where the offset is
applied (a schedule's origin, the send times a worker reports). The real handshake, over Locust's messages, is
tested in tests/load/test_distributed.py with a worker whose clock is skewed on purpose."""

from __future__ import annotations

import array

import pytest

from harness.load.aggregate import WorkerDelta
from harness.load.clock import SKEW_ENV, ClockSample, WorkerClock, best_sample, clock_sample, injected_skew_s


def test_an_exchange_gives_the_offset_whatever_the_delay_when_both_ways_take_as_long() -> None:
    # The worker's clock runs 7 ms ahead; each way takes 2 ms; the master answers 1 ms after the ask arrives.
    t0 = 100.007  # worker clock (true time 100.000)
    t1, t2 = 100.002, 100.003  # master clock
    t3 = 100.005 + 0.007  # true 100.005 on the worker's clock
    got = clock_sample(t0, t1, t2, t3)
    assert got.offset_s == pytest.approx(0.007) and got.delay_s == pytest.approx(0.004)


def test_an_asymmetric_exchange_is_wrong_by_half_the_asymmetry_and_the_shortest_round_trip_wins() -> None:
    # True offset 7 ms; there 9 ms, back 1 ms: the estimate is off by (9 - 1) / 2 = 4 ms.
    slow = clock_sample(100.007, 100.009, 100.009, 100.010 + 0.007)
    assert slow.offset_s == pytest.approx(0.007 - 0.004)
    fast = clock_sample(200.007, 200.0005, 200.0005, 200.001 + 0.007)
    assert best_sample([slow, fast, slow]) == fast and fast.offset_s == pytest.approx(0.007)


def test_a_skewed_host_measured_at_the_handshake_sends_and_reports_on_the_masters_clock() -> None:
    clock = WorkerClock(skew_s=0.007)
    clock.offset_s = 0.007  # what the handshake measures for a host 7 ms ahead
    assert clock.engine_time(1000.0) == pytest.approx(1000.0)  # the engine, on the real clock, sends on time
    assert clock.master_time(1000.5) == pytest.approx(1000.5)
    unmeasured = WorkerClock(skew_s=0.007)
    assert unmeasured.engine_time(1000.0) == pytest.approx(999.993)  # without the offset: 7 ms early


def test_reported_send_times_are_moved_onto_the_masters_clock_with_the_offset_recorded() -> None:
    clock = WorkerClock(offset_s=0.0025)  # a real host 2.5 ms ahead (no test skew)
    sent = array.array("d", [1000.0025, 1000.0125])
    delta = WorkerDelta(hist="", requests=2, failures=0, t0=999.0, t1=1001.0, cpu_s=0.1, sent=sent.tobytes())
    moved = clock.on_master_clock(delta)
    times = array.array("d")
    times.frombytes(moved.sent)
    assert list(times) == pytest.approx([1000.0, 1000.01]) and moved.clock_offset_ms == 2.5
    assert WorkerClock().on_master_clock(delta) == delta  # one process, no master of its own: nothing to move


def test_the_skew_is_read_from_the_test_only_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SKEW_ENV, raising=False)
    assert injected_skew_s() == 0.0
    monkeypatch.setenv(SKEW_ENV, "7")
    assert injected_skew_s() == pytest.approx(0.007)
    assert isinstance(best_sample([ClockSample(0.0, 1.0)]), ClockSample)
