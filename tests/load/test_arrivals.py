"""The arrival process of a level, whatever its senders: the rate split, the phase, the seeds, the merged CV.

References are independent of the code under test: a constant stream of rate r has every gap equal to 1/r
(CV 0); a Poisson stream has exponential gaps (CV 1, and the rate r); copies of one stream, the defect this
guards against, merge into pairs (half the gaps 0: CV ~1.7 for Poisson, ~1 for constant).
"""

from __future__ import annotations

import array
import math
import subprocess

import pytest

from harness.load.aggregate import Aggregator, WorkerDelta
from harness.load.arrivals import (
    ZeroRateError,
    check_rate,
    merged_cv,
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
