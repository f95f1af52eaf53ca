"""Unit tests of the pure sweep statistics: stability, capacity, Triton deltas, the two searches."""

from __future__ import annotations

import pytest

from harness.record.model import Latency, Level, Slo, Window
from harness.record.server_statistics import StatsSnapshot
from harness.sweep.rules import OVERLOAD_HEADROOM, ConcurrencySearch, RateSearch, failure_ceiling, is_stable, server_delta


def window(rps: float, p99: float, requests: int = 100) -> Window:
    return Window(achieved_rps=rps, p99_ms=p99, requests=requests, duration_s=1.0)


def level(
    rps: float,
    p99: float,
    *,
    concurrency: int | None = 1,
    stable: bool = True,
    failures: int = 0,
    offered: float | None = None,
    over: int | None = None,
    sample: int = 1000,
) -> Level:
    """A level; `over` of `sample` requests slower than the SLO limit (None: no count recorded)."""
    latency = Latency(p50=p99 / 2, p90=p99 * 0.8, p95=p99 * 0.9, p99=p99, p999=p99 * 1.5, mean=p99 / 2, max=p99 * 2)
    return Level(
        concurrency=concurrency,
        achieved_rps=rps,
        requests=sample,
        failures=failures,
        latency_ms=latency,
        stable=stable,
        client_saturated=False,
        mode="rate" if offered else "concurrency",
        offered_rps=offered,
        slo_over=over,
        slo_sample=sample,
    )


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


def test_server_delta_averages_per_request_and_batch_size() -> None:
    before = StatsSnapshot(
        success_count=10,
        success_ns=10_000_000,
        queue_ns=1_000_000,
        compute_input_ns=0,
        compute_infer_ns=5_000_000,
        compute_output_ns=0,
        inference_count=10,
        execution_count=10,
    )
    after = StatsSnapshot(
        success_count=110,
        success_ns=210_000_000,
        queue_ns=51_000_000,
        compute_input_ns=2_000_000,
        compute_infer_ns=105_000_000,
        compute_output_ns=1_000_000,
        inference_count=410,
        execution_count=60,
    )
    times, batch = server_delta(before, after)
    assert times is not None
    assert (times.queue, times.compute_input, times.compute_infer, times.compute_output) == (500, 20, 1000, 10)
    assert times.request == 2000
    assert batch == 8.0  # 400 inferences in 50 executions


def test_server_delta_without_requests_is_none() -> None:
    assert server_delta(StatsSnapshot(), StatsSnapshot()) == (None, None)


def test_auto_concurrency_doubles_until_gain_stops_or_slo_breaks() -> None:
    search = ConcurrencySearch(Slo("p99", 10.0), min_gain=0.05)
    assert search.next_level([]) == 1
    assert search.next_level([level(100, 2, concurrency=1)]) == 2
    assert search.next_level([level(100, 2, concurrency=1), level(180, 3, concurrency=2)]) == 4
    assert search.next_level([level(180, 3, concurrency=2), level(185, 4, concurrency=4)]) is None  # +2.8 %
    assert search.next_level([level(100, 2, concurrency=1), level(180, 30, concurrency=2)]) is None  # SLO broken
    # a noisy unstable level (one slow request of 150) is no evidence of a broken SLO: the search goes on
    noisy_level = level(180, 12, concurrency=2, stable=False, over=1, sample=150)
    assert search.next_level([level(100, 2, concurrency=1), noisy_level]) == 4


def test_auto_concurrency_respects_its_limit() -> None:
    assert ConcurrencySearch(Slo(), limit=8).next_level([level(100, 2, concurrency=8)]) is None


SLO = Slo("p99", 10.0)


def ok(rate: float) -> Level:
    """A probe far inside the SLO: none of 1000 requests beyond the limit (p99's tail would hold ~10)."""
    return level(rate, 5, concurrency=None, offered=rate, over=0)


def bad(rate: float) -> Level:
    """A probe that breaks the SLO on evidence (80 of 1000 beyond the limit) while the server kept up with it."""
    return level(rate, 50, concurrency=None, offered=rate, over=80)


def overloaded(rate: float, served: float) -> Level:
    """A probe the server fell behind: it served `served` of the `rate` offered, and latency grew with the queue."""
    return level(served, 500, concurrency=None, offered=rate, over=900)


def noisy(rate: float) -> Level:
    """~50 requests in each of 3 windows, unstable, where p99 is the window's maximum: one slow request (of 150)
    puts the observed p99 over the limit, which is no evidence that the SLO breaks (p99 allows 1.5 of 150)."""
    return level(rate, 12, concurrency=None, offered=rate, stable=False, over=1, sample=150)


def test_rate_search_doubles_then_bisects_to_tolerance() -> None:
    search = RateSearch(SLO, start_rps=100, tolerance=0.05)
    assert search.next_rate([]) == 100
    assert search.next_rate([ok(100)]) == 200
    assert search.next_rate([ok(100), ok(200), bad(400)]) == 300
    assert search.next_rate([ok(100), ok(200), bad(400), ok(300), bad(350)]) == 325
    assert search.next_rate([ok(100), ok(200), bad(400), ok(300), bad(310)]) is None  # within 5 %


def test_a_noisy_first_probe_does_not_drag_the_search_down() -> None:
    """The defect users met: a tiny unstable first probe counted as a failure and the search bisected down."""
    search = RateSearch(SLO, start_rps=10)
    assert search.next_rate([noisy(10)]) == 20


def test_a_noisy_failure_below_a_later_pass_is_ignored() -> None:
    search = RateSearch(SLO, start_rps=100, tolerance=0.05)
    # a probe at 150 failed (requests failed: evidence), yet 200 later passed: the bracket is 200..400
    flaky = level(150, 5, concurrency=None, offered=150, failures=2, over=0)
    assert search.next_rate([ok(100), flaky, ok(200), bad(400)]) == 300


def test_one_timeout_does_not_cap_the_search() -> None:
    """One failed request of 1,000 used to break its probe, and the probe's rate bounded every later one: the search
    stopped climbing there for the rest of the run. Failures are evidence with a bound now: it climbs on."""
    search = RateSearch(SLO, start_rps=100, tolerance=0.05)
    timeout = level(200, 5, concurrency=None, offered=200, failures=1, over=1)
    assert search.next_rate([ok(100), timeout]) == 400
    assert search.next_rate([ok(100), timeout, bad(400)]) == 300
    # failures on evidence still break it: 25 of 1,000 where a p99 SLO allows 1 %
    failing = level(200, 5, concurrency=None, offered=200, failures=25, over=25)
    assert search.next_rate([ok(100), failing]) == 150


def test_a_failed_first_probe_halves_only_on_evidence() -> None:
    search = RateSearch(SLO, start_rps=100)
    assert search.next_rate([bad(100)]) == 50
    assert search.next_rate([noisy(100)]) == 200


def test_a_probe_fails_only_on_evidence() -> None:
    """4 of 200 beyond the limit (observed p99 11 ms > 10): p99 allows 2, and P(X >= 4) = 0.14: no evidence.
    7 of 200: P(X >= 7) = 0.005, a break."""
    search = RateSearch(SLO, start_rps=100)
    assert search.next_rate([level(100, 11, concurrency=None, offered=100, over=4, sample=200)]) == 200
    assert search.next_rate([level(100, 11, concurrency=None, offered=100, over=7, sample=200)]) == 50


def test_rate_probe_needs_the_offered_rate_delivered() -> None:
    search = RateSearch(SLO, start_rps=100)
    assert search.next_rate([level(95, 5, concurrency=None, offered=100, over=0)]) == 200
    # 60 of 100 served: a failure whose ceiling is 1.1 x 60 = 66, halved
    assert search.next_rate([level(60, 5, concurrency=None, offered=100, over=0)]) == 33


def test_a_failure_the_server_kept_up_with_bounds_the_search_at_its_offered_rate() -> None:
    assert failure_ceiling(bad(400)) == 400
    assert failure_ceiling(level(50, 500, concurrency=None, offered=None, over=900)) == 0.0  # no offered rate: 0
    assert failure_ceiling(overloaded(400, 400 / OVERLOAD_HEADROOM)) == pytest.approx(400)


def test_an_overloaded_failure_bounds_the_search_just_above_what_the_server_served() -> None:
    """fixed_delay (capacity ~94 req/s): 92 passes, 183 offered is served at 93. Capacity is below 93 x 1.1, so the
    search bisects 92..102.3 instead of 92..183 (which took 5 overloaded probes, each leaving a queue)."""
    assert failure_ceiling(overloaded(183, 93)) == pytest.approx(102.3)
    assert RateSearch(SLO).next_rate([ok(92), overloaded(183, 93)]) == 97.15
    assert RateSearch(SLO).next_rate([ok(92), overloaded(183, 93), ok(97.15)]) == 99.725  # 5.3 % apart
    assert RateSearch(SLO).next_rate([ok(92), overloaded(183, 93), ok(97.15), ok(99.725)]) is None  # 2.6 %


def test_a_ceiling_at_or_below_the_best_pass_ends_the_search_there() -> None:
    assert RateSearch(SLO).next_rate([ok(92), overloaded(183, 80)]) is None  # ceiling 88 < 92


def test_an_unstable_probe_that_delivered_its_rate_within_the_slo_passes() -> None:
    search = RateSearch(SLO, start_rps=100)
    assert search.next_rate([level(95, 5, concurrency=None, offered=100, stable=False, over=0)]) == 200


@pytest.mark.parametrize("tolerance", [0.0, 0.01])
def test_zero_spread_is_stable_at_any_tolerance(tolerance: float) -> None:
    assert is_stable([window(100, 5)] * 3, tolerance)
