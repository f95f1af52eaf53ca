"""The client metrics endpoint (harness.load.client_metrics) served for real on loopback and read with prometheus_client's
own text parser; the levels are fed worker deltas whose percentiles are known by construction (no Locust here:
tests/load/test_client_metrics_live.py scrapes a real sweep and a real `harness ui`)."""

from __future__ import annotations

import pytest

from harness.errors import LoadError
from harness.load.aggregate import Tally, WorkerDelta
from harness.load.client_metrics import LevelLog, LevelSeries, LoadCollector, MetricsEndpoint
from harness.load.histogram import LatencyHistogram
from harness.net import LOOPBACK, free_port
from helpers.prometheus import Samples
from helpers.prometheus import scrape as scrape_url


def delta(micros: range, failures: int = 0, span_s: float = 1.0) -> WorkerDelta:
    hist = LatencyHistogram()
    for value in micros:
        hist.record_micros(value)
    return WorkerDelta(hist=hist.encode(), requests=len(micros), failures=failures, t0=0.0, t1=span_s, cpu_s=0.1)


def window(*deltas: tuple[str, WorkerDelta]) -> Tally:
    tally = Tally()
    for worker, d in deltas:
        tally.add(worker, d)
    return tally


def scrape(endpoint: MetricsEndpoint) -> Samples:
    samples = scrape_url(endpoint.url)
    assert samples is not None
    return samples


def key(name: str, level: str, curve: str = "cpu:2", **extra: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted({"model": "identity", "curve": curve, "level": level, **extra}.items()))


def test_a_sweeps_levels_read_as_their_measured_windows() -> None:
    """Level 1: two windows from two workers (a: 1 s each, b: 2 s each), 1..1000 us in all (the exact p50/p90/p99 of
    1..1000 are 500, 900 and 990 us); level 2, running: 2001..3000 us on one worker. Finished levels keep their last
    values."""
    log = LevelLog()
    with MetricsEndpoint(LoadCollector(log.series), LOOPBACK, 0) as endpoint:
        log.start("identity", "cpu:2", users=4, offered_rps=None)
        first = window(("a", delta(range(1, 301))), ("b", delta(range(301, 601), failures=3, span_s=2.0)))
        log.add(first)
        log.add(window(("a", delta(range(601, 801))), ("b", delta(range(801, 1001), span_s=2.0))))
        first.merge(window(("a", delta(range(5000, 5100)))))  # the sweep stretching its own window: not ours
        log.start("identity", "cpu:2", users=0, offered_rps=150.0)
        log.add(window(("a", delta(range(2001, 3001), span_s=2.0))))
        samples = scrape(endpoint)
    assert samples[key("harness_requests_total", "1")] == 1000
    assert samples[key("harness_failures_total", "1")] == 3
    # each worker's own rate, summed: a 500 requests in 2 s, b 500 in 4 s (not 1000 in the longer 4 s)
    assert samples[key("harness_requests_per_second", "1")] == pytest.approx(500 / 2.0 + 500 / 4.0)
    for quantile, micros in (("0.5", 500), ("0.9", 900), ("0.99", 990)):
        assert samples[key("harness_latency_seconds", "1", quantile=quantile)] == pytest.approx(micros / 1e6)
    assert samples[key("harness_latency_seconds_count", "1")] == 1000
    assert samples[key("harness_latency_seconds_sum", "1")] == pytest.approx(sum(range(1, 1001)) / 1e6, rel=1e-3)
    assert samples[key("harness_level_users", "1")] == 4 and key("harness_level_offered_rps", "1") not in samples
    assert samples[key("harness_level_running", "1")] == 0 and samples[key("harness_level_running", "2")] == 1
    assert samples[key("harness_requests_total", "2")] == 1000
    assert samples[key("harness_requests_per_second", "2")] == pytest.approx(500.0)
    assert samples[key("harness_level_offered_rps", "2")] == 150.0
    assert samples[key("harness_latency_seconds", "2", quantile="0.5")] == pytest.approx(2500 / 1e6, rel=1e-3)


def test_a_stopped_level_is_no_longer_running_and_a_window_before_any_level_is_ignored() -> None:
    log = LevelLog()
    log.add(window(("a", delta(range(1, 11)))))
    assert log.series() == []
    log.start("identity", "cpu:1", users=1, offered_rps=None)
    log.stop()
    assert [s.running for s in log.series()] == [False]


def test_a_live_test_is_one_series_without_curve_or_level() -> None:
    tally = window(("a", delta(range(1, 101))))
    series = LevelSeries(model="identity", users=2, tally=tally)
    with MetricsEndpoint(LoadCollector(lambda: [series]), LOOPBACK, 0) as endpoint:
        samples = scrape(endpoint)
        tally.add("b", delta(range(1, 51)))  # read at each scrape, not copied
        again = scrape(endpoint)
    assert samples[key("harness_requests_total", "", curve="")] == 100
    assert again[key("harness_requests_total", "", curve="")] == 150


def test_a_taken_port_is_one_line_naming_the_fix() -> None:
    port = free_port()
    with MetricsEndpoint(LoadCollector(list), LOOPBACK, port):
        with pytest.raises(LoadError, match=f"cannot serve Prometheus metrics on {LOOPBACK}:{port} .*--prometheus-port"):
            MetricsEndpoint(LoadCollector(list), LOOPBACK, port)


def test_a_mix_has_a_series_per_model_beside_the_whole() -> None:
    """A mixed level's window carries each model's part (Tally.models): each is a series labelled with its model,
    its own exact percentiles (a: 1..100 us, b: 1001..1100 us); the whole is labelled with the mix."""
    log = LevelLog()
    with MetricsEndpoint(LoadCollector(log.series), LOOPBACK, 0) as endpoint:
        log.start("a=3,b=1", "cpu:1", users=4, offered_rps=None)
        whole = window(("w", delta(range(1, 101))), ("v", delta(range(1001, 1101), failures=2)))
        whole.model("a").add("w", delta(range(1, 101)))
        whole.model("b").add("v", delta(range(1001, 1101), failures=2))
        log.add(whole)
        samples = scrape(endpoint)

    def mixed(name: str, model: str, **extra: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted({"model": model, "curve": "cpu:1", "level": "1", **extra}.items()))

    assert samples[mixed("harness_requests_total", "a=3,b=1")] == 200
    assert samples[mixed("harness_requests_total", "a")] == 100 and samples[mixed("harness_requests_total", "b")] == 100
    assert samples[mixed("harness_failures_total", "a")] == 0 and samples[mixed("harness_failures_total", "b")] == 2
    assert samples[mixed("harness_latency_seconds", "a", quantile="0.5")] == pytest.approx(50 / 1e6)
    assert samples[mixed("harness_latency_seconds", "b", quantile="0.5")] == pytest.approx(1050 / 1e6, rel=1e-3)
    assert samples[mixed("harness_level_users", "b")] == 4
