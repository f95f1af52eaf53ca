"""Unit tests of the pure sweep statistics: stability, capacity, Triton deltas, the two searches."""

from __future__ import annotations

import pytest

from harness.record.model import Latency, Level, Slo, Window
from harness.sweep.rules import AutoConcurrency, RateSearch, capacity, is_stable, rate_ok, server_delta
from harness.triton.control import StatsSnapshot


def window(rps: float, p99: float, requests: int = 100) -> Window:
    return Window(achieved_rps=rps, p99_ms=p99, requests=requests, duration_s=1.0)


def level(rps: float, p99: float, *, concurrency: int | None = 1, stable: bool = True, failures: int = 0,
          offered: float | None = None) -> Level:
    latency = Latency(p50=p99 / 2, p90=p99 * 0.8, p95=p99 * 0.9, p99=p99, p999=p99 * 1.5, mean=p99 / 2, max=p99 * 2)
    return Level(concurrency=concurrency, achieved_rps=rps, requests=1000, failures=failures, latency_ms=latency,
                 stable=stable, client_saturated=False, mode="rate" if offered else "concurrency", offered_rps=offered)


def test_stable_when_last_three_windows_agree_within_tolerance() -> None:
    windows = [window(50, 30), window(100, 5.0), window(104, 5.2), window(97, 4.9)]
    assert is_stable(windows, 0.10)


def test_unstable_on_throughput_or_p99_spread_or_too_few_windows() -> None:
    assert not is_stable([window(100, 5), window(100, 5)], 0.10)
    assert not is_stable([window(100, 5), window(130, 5), window(100, 5)], 0.10)
    assert not is_stable([window(100, 5), window(100, 7), window(100, 5)], 0.10)
    assert not is_stable([window(100, 5), window(100, 5), window(0, 0, requests=0)], 0.10)


def test_tolerance_boundary_is_relative_to_the_mean() -> None:
    # mean 100; 109 is 9 % above it: within 10 %, outside 5 %
    windows = [window(91, 5), window(100, 5), window(109, 5)]
    assert is_stable(windows, 0.10)
    assert not is_stable(windows, 0.05)


def test_capacity_is_the_best_stable_failure_free_level_within_the_slo() -> None:
    slo = Slo("p99", 10.0)
    levels = [level(100, 2, concurrency=1), level(300, 6, concurrency=4), level(350, 9, concurrency=8, stable=False),
              level(340, 12, concurrency=16), level(320, 8, concurrency=32, failures=3)]
    cap = capacity(levels, slo)
    assert (cap.max_rps_within_slo, cap.at_concurrency) == (300, 4)


def test_capacity_empty_when_nothing_qualifies() -> None:
    cap = capacity([level(100, 50)], Slo("p99", 10.0))
    assert cap.max_rps_within_slo is None and cap.at_concurrency is None


def test_capacity_of_rate_levels_names_the_rate() -> None:
    cap = capacity([level(98, 5, concurrency=None, offered=100)], Slo("p99", 10.0))
    assert (cap.max_rps_within_slo, cap.at_rate, cap.at_concurrency) == (98, 100, None)


def test_server_delta_averages_per_request_and_batch_size() -> None:
    before = StatsSnapshot(success_count=10, success_ns=10_000_000, queue_ns=1_000_000, compute_input_ns=0,
                           compute_infer_ns=5_000_000, compute_output_ns=0, inference_count=10, execution_count=10)
    after = StatsSnapshot(success_count=110, success_ns=210_000_000, queue_ns=51_000_000, compute_input_ns=2_000_000,
                          compute_infer_ns=105_000_000, compute_output_ns=1_000_000, inference_count=410,
                          execution_count=60)
    times, batch = server_delta(before, after)
    assert times is not None
    assert (times.queue, times.compute_input, times.compute_infer, times.compute_output) == (500, 20, 1000, 10)
    assert times.request == 2000
    assert batch == 8.0  # 400 inferences in 50 executions


def test_server_delta_without_requests_is_none() -> None:
    assert server_delta(StatsSnapshot(), StatsSnapshot()) == (None, None)


def test_auto_concurrency_doubles_until_gain_stops_or_slo_breaks() -> None:
    search = AutoConcurrency(Slo("p99", 10.0), min_gain=0.05)
    assert search.next_level([]) == 1
    assert search.next_level([level(100, 2, concurrency=1)]) == 2
    assert search.next_level([level(100, 2, concurrency=1), level(180, 3, concurrency=2)]) == 4
    assert search.next_level([level(180, 3, concurrency=2), level(185, 4, concurrency=4)]) is None  # +2.8 %
    assert search.next_level([level(100, 2, concurrency=1), level(180, 30, concurrency=2)]) is None  # SLO broken


def test_auto_concurrency_respects_its_limit() -> None:
    assert AutoConcurrency(Slo(), limit=8).next_level([level(100, 2, concurrency=8)]) is None


def test_rate_search_doubles_then_bisects_to_tolerance() -> None:
    slo = Slo("p99", 10.0)
    search = RateSearch(slo, start_rps=100, tolerance=0.05)
    ok = lambda r: level(r, 5, concurrency=None, offered=r)  # noqa: E731
    bad = lambda r: level(r * 0.8, 50, concurrency=None, offered=r)  # noqa: E731
    assert search.next_rate([]) == 100
    assert search.next_rate([ok(100)]) == 200
    assert search.next_rate([ok(100), ok(200), bad(400)]) == 300
    assert search.next_rate([ok(100), ok(200), bad(400), ok(300), bad(350)]) == 325
    assert search.next_rate([ok(100), ok(200), bad(400), ok(300), bad(310)]) is None  # within 5 %


def test_rate_search_halves_when_the_first_probe_fails() -> None:
    search = RateSearch(Slo("p99", 10.0), start_rps=100)
    assert search.next_rate([level(20, 50, concurrency=None, offered=100)]) == 50


def test_rate_probe_needs_the_offered_rate_delivered() -> None:
    slo = Slo("p99", 10.0)
    assert rate_ok(level(95, 5, concurrency=None, offered=100), slo)
    assert not rate_ok(level(60, 5, concurrency=None, offered=100), slo)
    assert not rate_ok(level(95, 5, concurrency=None, offered=100, stable=False), slo)


@pytest.mark.parametrize("tolerance", [0.0, 0.01])
def test_zero_spread_is_stable_at_any_tolerance(tolerance: float) -> None:
    assert is_stable([window(100, 5)] * 3, tolerance)
