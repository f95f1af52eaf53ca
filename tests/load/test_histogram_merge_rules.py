"""The histogram and the merge of worker reports, pinned exactly where mutation testing found them unguarded
(scripts/mutation.py): every percentile, the empty cases, the clamps, the resolution, each tally field."""

from __future__ import annotations

from array import array

import pytest

from harness.load.aggregate import Aggregator, Tally, WorkerDelta, WorkerTally
from harness.load.histogram import LatencyHistogram
from harness.record.model import Latency


def _hist(micros: list[int]) -> LatencyHistogram:
    hist = LatencyHistogram()
    for value in micros:
        hist.record_micros(value)
    return hist


# --- histogram --------------------------------------------------------------------------------------------------


def test_every_percentile_of_one_to_a_thousand_microseconds() -> None:
    """Below 2048 us HdrHistogram (3 significant figures) is exact: percentile q of 1..1000 us is q*10 us."""
    assert _hist(list(range(1, 1001))).summary() == Latency(
        p50=0.5, p90=0.9, p95=0.95, p99=0.99, p999=0.999, mean=0.5005, max=1.0, min=0.001
    )


def test_an_empty_histogram_reads_zero_everywhere() -> None:
    empty = LatencyHistogram()
    assert empty.count == 0 and empty.percentile_ms(99) == 0.0 and empty.encode()
    assert empty.summary() == Latency(p50=0.0, p90=0.0, p95=0.0, p99=0.0, p999=0.0, mean=0.0, max=0.0, min=0.0)


def test_values_are_clamped_to_one_microsecond_and_ten_minutes() -> None:
    low = LatencyHistogram()
    low.record_seconds(0.0)
    low.record_seconds(-1.0)
    low.record_micros(0)
    assert low.count == 3 and low.summary().max == 0.001 and low.summary().min == 0.001
    high = LatencyHistogram()
    high.record_seconds(3600.0)
    high.record_micros(10**12)
    assert high.count == 2
    assert high.summary().max == pytest.approx(600_000.0, rel=1e-3)  # 10 min, to 0.1 %


def test_record_seconds_counts_whole_microseconds() -> None:
    hist = LatencyHistogram()
    hist.record_seconds(0.0012349)  # 1234.9 us -> 1234 us (exact below 2048 us)
    assert hist.summary().max == 1.234
    just_under = LatencyHistogram()
    just_under.record_seconds(0.0009999999)  # 999.9999 us: truncated, not rounded up to 1 ms
    assert just_under.summary().max == 0.999


def test_resolution_is_three_significant_figures() -> None:
    """0.01 % apart: one bucket (no finer than promised, bounded memory); 0.2 % apart: two (as fine as promised)."""
    close = _hist([1_000_000, 1_000_100])
    assert close.percentile_ms(1) == close.percentile_ms(100)
    apart = _hist([1_000_000, 1_002_000])
    assert apart.percentile_ms(100) - apart.percentile_ms(1) == pytest.approx(2.0, abs=0.6)


def test_adding_an_empty_histogram_or_an_empty_encoding_changes_nothing() -> None:
    hist = _hist([100, 200])
    hist.add(LatencyHistogram())
    hist.add_encoded("")
    assert hist.summary() == _hist([100, 200]).summary()
    hist.add(_hist([300]))
    hist.add_encoded(_hist([400]).encode())
    assert hist.count == 4 and hist.summary().max == 0.4


# --- worker tallies ---------------------------------------------------------------------------------------------


def _delta(**fields: object) -> WorkerDelta:
    base = dict(hist=_hist([1000]).encode(), requests=1, failures=0, t0=0.0, t1=1.0, cpu_s=0.5)
    return WorkerDelta(**{**base, **fields})  # type: ignore[arg-type]


def test_a_delta_survives_the_trip_through_a_worker_report() -> None:
    delta = _delta(late_sends=3, max_send_lag_ms=4.5, dropped=2, in_flight=7, first_error="boom")
    assert WorkerDelta.from_message(delta.to_message()) == delta
    assert (WorkerDelta("", 0, 0, 0.0, 0.0, 0.0).late_sends, WorkerDelta("", 0, 0, 0.0, 0.0, 0.0).first_error) == (0, None)


def test_a_worker_tally_sums_counts_keeps_the_worst_lag_the_last_in_flight_and_the_first_error() -> None:
    tally = WorkerTally()
    tally.add(
        _delta(
            requests=10,
            failures=1,
            t0=0.0,
            t1=1.0,
            cpu_s=0.25,
            late_sends=2,
            max_send_lag_ms=9.0,
            dropped=1,
            in_flight=5,
            first_error="first",
        )
    )
    tally.add(
        _delta(
            requests=30,
            failures=2,
            t0=1.0,
            t1=3.0,
            cpu_s=0.75,
            late_sends=3,
            max_send_lag_ms=4.0,
            dropped=4,
            in_flight=2,
            first_error="second",
        )
    )
    assert tally == WorkerTally(
        requests=40,
        failures=3,
        span_s=3.0,
        cpu_s=1.0,
        late_sends=5,
        max_send_lag_ms=9.0,
        dropped=5,
        in_flight=2,
        first_error="first",
    )
    assert tally.rps == pytest.approx(40 / 3) and tally.cpu_percent == pytest.approx(100 / 3)


def test_a_backwards_span_counts_as_zero_and_a_zero_span_has_no_rate() -> None:
    tally = WorkerTally()
    tally.add(_delta(t0=2.0, t1=1.0, requests=5, cpu_s=1.0))
    assert tally.span_s == 0.0 and tally.rps == 0.0 and tally.cpu_percent == 0.0


def test_a_later_error_does_not_replace_none() -> None:
    tally = WorkerTally()
    tally.add(_delta(first_error=None))
    tally.add(_delta(first_error="late"))
    assert tally.first_error == "late"


# --- merged tallies and the aggregator --------------------------------------------------------------------------


def test_merging_tallies_carries_every_field() -> None:
    one, two = Tally(), Tally()
    one.add(
        "a", _delta(requests=2, failures=1, t0=0, t1=1, cpu_s=0.5, late_sends=1, max_send_lag_ms=2.0, dropped=1, in_flight=4)
    )
    two.add(
        "a",
        _delta(
            requests=3,
            failures=2,
            t0=1,
            t1=3,
            cpu_s=1.0,
            late_sends=2,
            max_send_lag_ms=7.0,
            dropped=3,
            in_flight=1,
            first_error="x",
        ),
    )
    two.add("b", _delta(requests=4, t0=0, t1=5, max_send_lag_ms=1.0, first_error="y"))
    one.merge(two)
    assert one.workers["a"] == WorkerTally(
        requests=5,
        failures=3,
        span_s=3.0,
        cpu_s=1.5,
        late_sends=3,
        max_send_lag_ms=7.0,
        dropped=4,
        in_flight=1,
        first_error="x",
    )
    assert (one.requests, one.failures, one.hist.count) == (9, 3, 3)
    assert one.span_s == 5.0 and one.total("dropped") == 4 and one.total("late_sends") == 3
    assert one.max_send_lag_ms == 7.0 and one.first_error == "x"


def test_merging_keeps_a_first_error_already_there() -> None:
    one, two = Tally(), Tally()
    one.add("a", _delta(first_error="mine"))
    two.add("a", _delta(first_error="theirs"))
    one.merge(two)
    assert one.workers["a"].first_error == "mine"


def test_an_empty_tally_reads_zero() -> None:
    empty = Tally()
    assert (
        empty.requests,
        empty.failures,
        empty.rps,
        empty.span_s,
        empty.max_cpu_percent,
        empty.max_send_lag_ms,
        empty.first_error,
        empty.total("dropped"),
    ) == (0, 0, 0.0, 0.0, 0.0, 0.0, None, 0)


def test_the_first_error_of_a_tally_is_the_first_worker_that_has_one() -> None:
    tally = Tally()
    tally.add("a", _delta())
    tally.add("b", _delta(first_error="from b"))
    tally.add("c", _delta(first_error="from c"))
    assert tally.first_error == "from b"


def test_reset_forgets_the_total_and_the_window() -> None:
    aggregator = Aggregator()
    aggregator.ingest("a", _delta(requests=3))
    aggregator.reset()
    assert aggregator.total.requests == 0 and aggregator.take_window().requests == 0
    aggregator.ingest("a", _delta(requests=2))
    assert aggregator.total.requests == 2 and aggregator.take_window().requests == 2


def test_the_aggregator_keeps_each_worker_apart_in_the_total_and_the_window() -> None:
    aggregator = Aggregator()
    aggregator.ingest("a", _delta(requests=1, t0=0.0, t1=1.0))
    aggregator.ingest("b", _delta(requests=1, t0=0.0, t1=0.5))
    window = aggregator.take_window()
    assert set(aggregator.total.workers) == {"a", "b"} == set(window.workers)
    assert aggregator.total.rps == 3.0 == window.rps  # 1/s + 2/s: each worker's own rate


@pytest.mark.parametrize("fold", ["add", "merge"])
def test_a_worker_keeps_its_host_and_engine_when_a_later_report_leaves_them_out(fold: str) -> None:
    """The first report names the machine and engine; later ones may not: the names stay, and a new name wins."""
    tally = WorkerTally()
    for delta in (_delta(host="h1", engine="native"), _delta()):
        tally.add(delta) if fold == "add" else tally.merge(_tally_of(delta))
    assert (tally.host, tally.engine) == ("h1", "native")
    renamed = _delta(host="h2", engine="python")
    tally.add(renamed) if fold == "add" else tally.merge(_tally_of(renamed))
    assert (tally.host, tally.engine) == ("h2", "python")


def test_the_whole_test_tally_keeps_no_send_times_but_the_window_does() -> None:
    """Send times serve the window's arrival CV; kept for a whole test they would pile up."""
    aggregator = Aggregator()
    aggregator.ingest("a", _delta(requests=1, sent=array("d", [0.0, 0.01]).tobytes()))
    assert len(aggregator.total.workers["a"].sent) == 0
    assert list(aggregator.take_window().workers["a"].sent) == [0.0, 0.01]


def _tally_of(delta: WorkerDelta) -> WorkerTally:
    tally = WorkerTally()
    tally.add(delta)
    return tally


def test_the_requests_slower_than_a_limit_are_counted_exactly_below_two_milliseconds() -> None:
    """1..1000 us, one each (exact below 2048 us): 500 are slower than 0.5 ms (501..1000; 500 itself is not)."""
    hist = _hist(list(range(1, 1001)))
    assert hist.count_above_ms(0.5) == 500
    assert hist.count_above_ms(0.0) == 1000 and hist.count_above_ms(1.0) == 0 and hist.count_above_ms(0.999) == 1
    assert LatencyHistogram().count_above_ms(1.0) == 0
    assert _hist(list(range(1, 1101))).count_above_ms(1.0) == 100  # 1001..1100 us: the limit is 1000 us, not more
