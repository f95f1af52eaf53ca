"""The sweep's pure rules at their edges, where mutation testing (scripts/mutation.py) found them unguarded:
boundaries of the stability rule, the server deltas' rounding and empty cases, the searches' limits."""

from __future__ import annotations

from harness.record.model import Level, ServerTimes, Window
from harness.record.server_statistics import StatsSnapshot
from harness.sweep.rules import ConcurrencySearch, RateSearch, is_stable, server_delta
from helpers.factories import SLO, level


def _windows(rps: float, p99: float, requests: int) -> tuple[Window, ...]:
    return tuple(Window(rps, p99, requests, 1.0) for _ in range(3))


# --- stability ---------------------------------------------------------------------------------------------------


def test_a_single_request_per_window_can_be_stable() -> None:
    assert is_stable(_windows(100.0, 5.0, requests=1), 0.1)


def test_windows_without_throughput_are_never_stable() -> None:
    assert not is_stable(_windows(0.0, 5.0, requests=5), 0.1)
    assert not is_stable(_windows(100.0, 0.0, requests=5), 0.1)


def test_small_values_that_agree_are_stable() -> None:
    assert is_stable(_windows(0.5, 0.5, requests=3), 0.1)


# --- server deltas -----------------------------------------------------------------------------------------------


def _snapshots(requests: int, executions: int, inferences: int) -> tuple[StatsSnapshot, StatsSnapshot]:
    after = StatsSnapshot(
        success_count=requests,
        success_ns=9_876_543 * requests,
        queue_ns=1_234_567 * requests,
        compute_input_ns=2_345_678 * requests,
        compute_infer_ns=3_456_789 * requests,
        compute_output_ns=4_567_891 * requests,
        inference_count=inferences,
        execution_count=executions,
    )
    return StatsSnapshot(), after


def test_server_times_are_microseconds_per_request_to_two_decimals() -> None:
    times, batch = server_delta(*_snapshots(requests=1, executions=3, inferences=10))
    assert times == ServerTimes(
        queue=1234.57, compute_input=2345.68, compute_infer=3456.79, compute_output=4567.89, request=9876.54
    )
    assert batch == 3.333


def test_an_execution_counted_before_its_inferences_still_averages_one_or_more() -> None:
    """CI saw 0.999: a snapshot between a batch's two counter updates. A batch holds at least one inference."""
    assert server_delta(*_snapshots(requests=999, executions=1000, inferences=999))[1] == 1.0
    assert server_delta(*_snapshots(requests=1001, executions=1000, inferences=1001))[1] == 1.001


def test_one_execution_gives_its_batch_and_none_gives_no_batch() -> None:
    assert server_delta(*_snapshots(requests=4, executions=1, inferences=4))[1] == 4.0
    times, batch = server_delta(*_snapshots(requests=4, executions=0, inferences=0))
    assert times is not None and batch is None


def test_no_request_between_snapshots_gives_nothing() -> None:
    same = StatsSnapshot(success_count=7, queue_ns=5)
    assert server_delta(same, same) == (None, None)


# --- concurrency search ------------------------------------------------------------------------------------------


def test_concurrency_doubles_up_to_the_limit_itself() -> None:
    search = ConcurrencySearch(SLO, limit=8)
    assert search.next_level([level(2, 100.0, 10.0), level(4, 200.0, 10.0)]) == 8
    assert search.next_level([level(4, 100.0, 10.0), level(8, 200.0, 10.0)]) is None


def test_concurrency_keeps_doubling_at_exactly_the_minimum_gain() -> None:
    search = ConcurrencySearch(SLO, min_gain=0.5)
    assert search.next_level([level(1, 100.0, 10.0), level(2, 150.0, 10.0)]) == 4
    assert search.next_level([level(1, 100.0, 10.0), level(2, 149.0, 10.0)]) is None


# --- rate search -------------------------------------------------------------------------------------------------


def _probe(rate: float | None, ok: bool = True) -> Level:
    return level(None, rate or 5.0, 10.0 if ok else 500.0, mode="rate", offered=rate)


def test_the_rate_search_stops_at_exactly_max_probes() -> None:
    search = RateSearch(SLO, max_probes=2)
    assert search.next_rate([_probe(10.0)]) == 20.0
    assert search.next_rate([_probe(10.0), _probe(20.0)]) is None


def test_rates_are_rounded_to_a_thousandth() -> None:
    assert RateSearch(SLO, start_rps=10.12345).next_rate([]) == 10.123
    assert RateSearch(SLO).next_rate([_probe(10.12345)]) == 20.247
    assert RateSearch(SLO, min_rps=1.0).next_rate([_probe(5.0006, ok=False)]) == 2.5
    assert RateSearch(SLO, tolerance=0.0001).next_rate([_probe(1.0), _probe(1.2345, ok=False)]) == 1.117


def test_halving_stops_below_the_minimum_rate_but_not_at_it() -> None:
    assert RateSearch(SLO, min_rps=1.0).next_rate([_probe(1.5, ok=False)]) is None
    assert RateSearch(SLO, min_rps=1.0).next_rate([_probe(2.0, ok=False)]) == 1.0
    assert RateSearch(SLO, min_rps=0.25).next_rate([_probe(0.8, ok=False)]) == 0.4


def test_bisection_stops_at_exactly_the_tolerance() -> None:
    search = RateSearch(SLO, tolerance=0.05)
    assert search.next_rate([_probe(100.0), _probe(105.0, ok=False)]) is None
    assert search.next_rate([_probe(100.0), _probe(106.0, ok=False)]) == 103.0


def test_a_failure_at_the_passing_rate_itself_does_not_bound_the_search() -> None:
    assert RateSearch(SLO).next_rate([_probe(100.0), _probe(100.0, ok=False)]) == 200.0


def test_a_probe_without_an_offered_rate_counts_as_zero() -> None:
    assert RateSearch(SLO).next_rate([_probe(None)]) == 0.0
    assert RateSearch(SLO, min_rps=0.1).next_rate([_probe(None, ok=False), _probe(3.0, ok=False)]) == 1.5
