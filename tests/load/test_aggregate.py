"""Histogram windowing and exact merging of worker deltas (no Locust, no server)."""

from __future__ import annotations

import array
import random

import pytest

from harness.load.aggregate import Aggregator, Tally, WorkerDelta
from harness.load.arrivals import schedule
from harness.load.counters import LoadCounters
from harness.load.engine.protocol import Batch
from harness.load.histogram import LatencyHistogram
from helpers.factories import recorded_window


def delta(latencies_s: list[float], t0: float, t1: float, cpu_s: float = 0.1, failures: int = 0) -> WorkerDelta:
    hist = LatencyHistogram()
    for value in latencies_s:
        hist.record_seconds(value)
    return WorkerDelta(hist=hist.encode(), requests=len(latencies_s), failures=failures, t0=t0, t1=t1, cpu_s=cpu_s)


def test_merged_histogram_equals_one_histogram_of_all_values() -> None:
    rng = random.Random(7)
    parts = [[rng.lognormvariate(-6, 1) for _ in range(500)] for _ in range(3)]
    aggregator = Aggregator()
    for index, values in enumerate(parts):
        aggregator.ingest(f"w{index}", WorkerDelta.from_message(delta(values, 0, 1).to_message()))
    single = LatencyHistogram()
    for value in (v for values in parts for v in values):
        single.record_seconds(value)
    assert aggregator.total.hist.count == 1500 == aggregator.total.requests
    assert aggregator.total.hist.summary() == single.summary()


def test_microsecond_resolution_below_one_millisecond() -> None:
    hist = LatencyHistogram()
    for micros in (101, 102, 103, 104):
        hist.record_seconds(micros / 1e6)
    assert hist.percentile_ms(50) == 0.102
    assert hist.summary().max == 0.104


def test_windows_split_deltas_and_the_total_keeps_everything() -> None:
    aggregator = Aggregator()
    aggregator.ingest("a", delta([0.001] * 10, 0.0, 1.0))
    first = aggregator.take_window()
    aggregator.ingest("a", delta([0.002] * 30, 1.0, 2.0))
    aggregator.ingest("b", delta([0.004] * 20, 1.0, 2.0))
    second = aggregator.take_window()
    assert (first.requests, second.requests, aggregator.total.requests) == (10, 50, 60)
    assert second.hist.percentile_ms(10) == 2.0
    assert second.hist.summary().max == pytest.approx(4.0, rel=1e-3)  # 3 significant figures above 1 ms
    assert aggregator.take_window().requests == 0


def test_rate_sums_each_workers_own_rate_whatever_the_report_alignment() -> None:
    tally = Tally()
    tally.add("a", delta([0.001] * 100, 0.0, 1.0))  # 100/s over its 1 s
    tally.add("b", delta([0.001] * 100, 0.3, 0.8))  # 200/s over its own 0.5 s
    assert tally.rps == 300.0


def test_cpu_percent_per_worker_and_max() -> None:
    tally = Tally()
    tally.add("a", delta([0.001], 0.0, 2.0, cpu_s=1.9))
    tally.add("b", delta([0.001], 0.0, 2.0, cpu_s=0.5))
    assert round(tally.workers["a"].cpu_percent) == 95
    assert round(tally.max_cpu_percent) == 95


def test_merging_tallies_adds_counts_exactly() -> None:
    one, two = Tally(), Tally()
    one.add("a", delta([0.001] * 5, 0, 1, failures=1))
    two.add("a", delta([0.003] * 7, 1, 2))
    two.add("b", delta([0.002] * 3, 1, 2))
    one.merge(two)
    assert (one.requests, one.failures, one.hist.count) == (15, 1, 15)
    assert one.workers["a"].span_s == 2.0


def test_seeded_poisson_schedules_are_reproducible_and_have_the_right_rate() -> None:
    first = schedule(200.0, "poisson", seed=3, count=4000)
    assert first == schedule(200.0, "poisson", seed=3, count=4000)
    assert first != schedule(200.0, "poisson", seed=4, count=4000)
    assert abs(4000 / first[-1] - 200.0) < 15.0  # mean rate within ~7 % over 4000 arrivals
    assert schedule(100.0, "constant", seed=0, count=3) == [0.01, 0.02, 0.03]


def test_good_requests_are_the_successes_within_the_limit_however_fast_a_failure_was() -> None:
    """At 10 ms: 1, 2, 9 and exactly 10 ms succeed within it; 11 and 50 ms are slow; a 3 ms failure (the server
    refused) and a 30 s timeout are never good. Merged from two workers: 4 + 2 good."""
    merged = recorded_window([(1, False), (2, False), (9, False), (10, False), (3, True), (50, False)])
    merged.merge(recorded_window([(4, False), (5, False), (11, False), (30_000, True)], worker="w2"))
    assert merged.requests == 10 and merged.failures == 2
    assert merged.succeeded_within_ms(10.0) == 6
    assert merged.succeeded_within_ms(2.999) == 2  # the 3 ms failure is within this limit too, and still not good
    assert merged.succeeded_within_ms(60_000.0) == 8


def test_send_lags_merge_exactly_across_workers_and_windows() -> None:
    """Each process counts its engine's lags (LoadCounters, from the results frames); the master's merge of their
    deltas is one histogram of every lag, whichever worker and window it came in."""
    rng = random.Random(3)
    parts = [[int(rng.expovariate(1 / 40)) for _ in range(300)] for _ in range(4)]  # microseconds; zeros too
    aggregator = Aggregator()
    for index, lags in enumerate(parts):
        counters = LoadCounters()
        counters.take(Batch(array.array("I"), [], 0.0, lags_us=array.array("I", lags)))
        aggregator.ingest(f"w{index % 2}", WorkerDelta.from_message(counters.flush("host", "native").to_message()))
        if index == 1:
            first = aggregator.take_window()
    single = LatencyHistogram()
    for micros in (v for lags in parts for v in lags):
        single.record_micros(micros)
    second = aggregator.take_window()
    merged = Tally()
    merged.merge(first)
    merged.merge(second)
    assert merged.send_lag.count == 1200 == aggregator.total.send_lag.count
    assert [merged.send_lag.percentile_us(p) for p in (50, 99, 100)] == [single.percentile_us(p) for p in (50, 99, 100)]
    assert merged.send_lag.max_us == single.max_us == max(max(lags) for lags in parts)
    assert first.send_lag.count == 600
