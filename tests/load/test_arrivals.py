"""The arrival process of a level, whatever its senders: the rate split, the phase, the seeds, the merged CV.

References are independent of the code under test: a constant stream of rate r has every gap equal to 1/r
(CV 0); a Poisson stream has exponential gaps (CV 1, and the rate r); copies of one stream, the defect this
guards against, merge into pairs (half the gaps 0: CV ~1.7 for Poisson, ~1 for constant).
"""

from __future__ import annotations

import array
import itertools
import math
import random
import subprocess

import pytest

from harness.errors import ConfigError
from harness.load.aggregate import Aggregator, WorkerDelta
from harness.load.arrivals import (
    CV_FLOOR,
    ZeroRateError,
    asked_cv,
    check_rate,
    cv_tolerance,
    inter_arrival_cv,
    keeps_schedule,
    merged_cv,
    parse_arrivals,
    schedule,
    sender_phase_s,
    sender_rate,
    sender_seed,
)
from harness.load.engine import compiled as native_engine
from harness.load.senders import SenderRegistry


def level_sends(rate: float, kind: str, senders: int, run_seed: int, per_sender: int) -> list[list[float]]:
    """Each sender's intended send times, as the engines compute them for a level of `senders` senders."""
    return [
        schedule(sender_rate(rate, senders), kind, sender_seed(run_seed, i), per_sender, sender_phase_s(i, rate))
        for i in range(senders)
    ]


@pytest.mark.parametrize("senders", [1, 2, 3, 4, 7])
def test_constant_senders_merge_into_one_evenly_spaced_stream(senders: int) -> None:
    rate = 25.0
    merged = sorted(t for times in level_sends(rate, "constant", senders, 0, 200) for t in times)
    gaps = [b - a for a, b in zip(merged, merged[1:], strict=False)]
    assert len(merged) == 200 * senders
    assert max(gaps) == pytest.approx(1 / rate, abs=1e-9) and min(gaps) == pytest.approx(1 / rate, abs=1e-9)
    assert merged_cv([merged]) == pytest.approx(0.0, abs=1e-6)


def test_without_the_phase_two_constant_senders_would_send_in_pairs() -> None:
    # The defect: two workers each sending r/2 from the same instant. Gaps alternate 0 and 2/r: CV 1.
    copies = [schedule(12.5, "constant", 0, 200) for _ in range(2)]
    assert merged_cv(copies) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("senders", [1, 2, 4])
def test_poisson_senders_are_independent_and_merge_into_poisson(senders: int) -> None:
    rate, per_sender = 200.0, 20000 // senders
    streams = level_sends(rate, "poisson", senders, 3, per_sender)
    assert len({tuple(times[:5]) for times in streams}) == senders  # no two senders share a stream
    merged = sorted(t for times in streams for t in times)
    span = min(times[-1] for times in streams)  # where every sender still sends
    in_span = [t for t in merged if t <= span]
    assert len(in_span) / span == pytest.approx(rate, rel=0.05)
    assert merged_cv(streams) == pytest.approx(1.0, abs=0.05)


def test_copied_poisson_streams_show_in_the_merged_cv() -> None:
    stream = schedule(100.0, "poisson", 7, 5000)
    assert merged_cv([stream, list(stream)]) > 1.6  # half the gaps are 0: sqrt(3) for exponential gaps


def test_sender_seeds_differ_by_sender_and_by_run_seed_and_repeat() -> None:
    seeds = {sender_seed(run, i) for run in range(5) for i in range(64)}
    assert len(seeds) == 5 * 64
    assert sender_seed(2, 9) == sender_seed(2, 9)


def test_merged_cv_counts_only_the_span_every_process_covers() -> None:
    # Two processes, perfectly interleaved every 10 ms, but one's report starts 1 s later: outside the common
    # span only one process's sends exist (20 ms gaps), which must not count as irregular arrivals.
    first = [0.01 * 2 * k for k in range(300)]
    second = [0.01 * (2 * k + 1) for k in range(50, 300)]
    assert merged_cv([first, second]) == pytest.approx(0.0, abs=1e-6)
    assert merged_cv([]) is None and merged_cv([[1.0, 2.0]]) is None


def test_tally_merges_send_times_across_workers() -> None:
    def delta(times: list[float]) -> WorkerDelta:
        return WorkerDelta(hist="", requests=0, failures=0, t0=0.0, t1=1.0, cpu_s=0.0, sent=array.array("d", times).tobytes())

    aggregator = Aggregator()
    aggregator.ingest("a", delta([0.00, 0.02, 0.04]))
    aggregator.ingest("b", delta([0.01, 0.03, 0.05]))
    aggregator.ingest("a", delta([0.06]))
    window = aggregator.take_window()
    assert window.arrivals_cv == pytest.approx(0.0, abs=1e-9)
    assert list(window.workers["a"].sent) == [0.0, 0.02, 0.04, 0.06]
    assert len(aggregator.total.workers["a"].sent) == 0  # the whole test's tally keeps no send times


@pytest.mark.parametrize("rate", [0.0, -1.0, math.nan, math.inf])
def test_a_sender_without_a_positive_rate_is_refused(rate: float) -> None:
    with pytest.raises(ZeroRateError, match="open-loop users need a target rate above 0 req/s"):
        check_rate(rate)
    with pytest.raises(ZeroRateError):
        sender_rate(rate, 2)


def test_the_master_numbers_senders_across_processes() -> None:
    registry = SenderRegistry()
    registry.reset(100.0)
    assert registry.assign("w1", 100.0, [0]) == [[0, 0]]
    assert registry.assign("w2", 100.0, [0, 1]) == [[0, 1], [1, 2]]
    assert registry.assign("w1", 100.0, [1, 0]) == [[1, 3], [0, 0]]  # asked again: the same index
    assert registry.assign("w1", 99.0, [5]) == []  # a late question about the previous test
    registry.reset(101.0)
    assert registry.assign("w2", 101.0, [0]) == [[0, 0]]


@pytest.mark.parametrize(
    ("rate", "kind", "seed", "phase"),
    [(12.5, "constant", 0, 0.04), (50.0, "poisson", 1_000_004, 0.02), (300.0, "poisson", 3, 0.0)],
)
def test_compiled_phase_shifted_schedule_is_the_python_one(rate: float, kind: str, seed: int, phase: float) -> None:
    printed = subprocess.run(
        [str(native_engine.build()), "--schedule", str(rate), kind, str(seed), "500", repr(phase)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [float(t) for t in printed] == schedule(rate, kind, seed, 500, phase)


# ---- gamma:CV and replayed traces: one stream common to all senders ------------------------------------------


def common_stream(rate: float, kind: str, senders: int, per_sender: int, trace: list[float] | None = None) -> list[float]:
    """Every sender's slots of a common stream, merged (sender i sends slots i, i + n, ...)."""
    streams = [schedule(rate, kind, 3, per_sender, 0.0, i, senders, trace or []) for i in range(senders)]
    return sorted(t for times in streams for t in times)


def gamma_gaps(rate: float, cv: float, seed: int, count: int) -> list[float]:
    """Gaps of a gamma renewal process from Python's own gammavariate: shape 1/CV^2, mean 1/rate."""
    rng = random.Random(seed)
    shape = 1.0 / (cv * cv)
    return [rng.gammavariate(shape, 1.0 / (rate * shape)) for _ in range(count)]


@pytest.mark.parametrize("senders", [1, 2, 3, 8])
def test_gamma_senders_merge_into_the_one_stream_whatever_their_number(senders: int) -> None:
    """The merged sends are the seeded gamma stream itself (its cumulative gaps), so their CV is the stream's."""
    merged = common_stream(200.0, "gamma:3", senders, 3000 // senders)
    stream = list(itertools.accumulate(gamma_gaps(200.0, 3.0, 3, len(merged))))
    assert merged == pytest.approx(stream, abs=1e-9)
    assert merged_cv([merged]) == pytest.approx(inter_arrival_cv(stream), abs=1e-9)


def test_independent_gamma_senders_would_merge_towards_poisson() -> None:
    """The defect a common stream avoids: 16 senders with gamma:3 streams of their own merge far below CV 3."""
    streams = [schedule(200.0 / 16, "gamma:3", sender_seed(3, i), 2500) for i in range(16)]
    common = common_stream(200.0, "gamma:3", 16, 2500)
    assert merged_cv(streams) < 0.8 * 3.0 < merged_cv([common])


@pytest.mark.parametrize("cv", [0.5, 1.0, 3.0])
def test_a_long_gamma_stream_has_the_asked_rate_and_cv(cv: float) -> None:
    times = schedule(100.0, f"gamma:{cv:g}", 11, 40_000)
    assert len(times) / times[-1] == pytest.approx(100.0, rel=0.05)
    assert inter_arrival_cv(times) == pytest.approx(cv, rel=0.05)


def test_a_trace_split_over_senders_replays_its_gaps_in_a_loop() -> None:
    trace = [0.010, 0.0, 0.030, 0.002]  # a burst of two, a long gap
    merged = common_stream(1.0, "trace", 3, 8, trace)  # rate is not used: the trace's gaps are the schedule
    assert merged == pytest.approx(list(itertools.accumulate(trace * 6)), abs=1e-12)


@pytest.mark.parametrize(
    ("text", "kind"), [("constant", "constant"), ("Poisson", "poisson"), ("gamma:3", "gamma:3"), ("gamma:0.50", "gamma:0.5")]
)
def test_arrival_processes_are_read_in_their_canonical_form(text: str, kind: str) -> None:
    assert parse_arrivals(text) == kind


@pytest.mark.parametrize("text", ["gamma", "gamma:0", "gamma:-1", "gamma:x", "gamma:inf", "uniform", ""])
def test_an_unknown_arrival_process_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(ConfigError, match="use constant, poisson or gamma:CV") as refused:
        parse_arrivals(text)
    assert "\n" not in str(refused.value)


def test_asked_cv_per_kind() -> None:
    assert (asked_cv("constant"), asked_cv("poisson"), asked_cv("gamma:2.5")) == (0.0, 1.0, 2.5)
    gaps = [0.01, 0.03]  # mean 0.02, std 0.01
    assert asked_cv("trace", gaps) == pytest.approx(0.5)


@pytest.mark.parametrize(("kind", "gaps"), [("poisson", 300), ("gamma:3", 1200), ("gamma:0.5", 300), ("gamma:3", 8000)])
def test_the_cv_tolerance_covers_the_sampling_spread_of_the_asked_process(kind: str, gaps: int) -> None:
    """Windows of seeded draws from the asked process itself (no generator jitter): the measured CV strays beyond
    the tolerance in at most 1 % of them; draws of a process 1.5 times as variable are caught in 95 %."""
    cv = asked_cv(kind)
    tolerance = cv_tolerance(kind, gaps)

    def strays(drawn: str) -> int:
        estimates = [inter_arrival_cv(schedule(200.0, drawn, seed, gaps + 1)) for seed in range(300)]
        return sum(abs(e - cv) > tolerance for e in estimates)

    assert strays(kind) <= 3, tolerance
    assert strays(f"gamma:{1.5 * cv:g}") >= 285, tolerance


def test_a_constant_stream_is_held_to_the_floor_alone() -> None:
    assert cv_tolerance("constant", 10) == CV_FLOOR == cv_tolerance("constant", 10_000)


def test_a_schedule_is_kept_while_the_lag_p99_is_within_one_gap() -> None:
    assert keeps_schedule(500.0, 2000.0) and not keeps_schedule(501.0, 2000.0)
    assert keeps_schedule(9_000.0, 100.0)
