"""The one home of the capacity and SLO rules: judged figures of unstable levels, the stored capacity level,
the probe evidence (checked against an exact binomial computed here with integers), and curve labels."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import pytest

from harness.analysis.capacity import (
    binomial_cdf,
    capacity,
    capacity_of,
    capacity_text,
    curve_labels,
    meets_slo,
    probe_passes,
    slo_evidence,
    stability_advice,
    upgraded,
)
from harness.record.model import SCHEMA_VERSION, Capacity, Slo, Window
from helpers.factories import curve, level, run

SLO = Slo("p99", 100.0)


def _exact_cdf(k: int, n: int, p: float) -> float:
    q = Fraction(p).limit_denominator(10_000)
    return float(sum(math.comb(n, j) * q**j * (1 - q) ** (n - j) for j in range(k + 1)))


def test_capacity_skips_failing_slow_and_empty_levels() -> None:
    levels = (
        level(1, 100.0, 10.0),
        level(2, 200.0, 20.0),
        level(8, 350.0, 40.0, failures=106),  # of 10,500 requests: over the 1 % a p99 SLO allows to fail
        level(16, 380.0, 120.0),
        level(32, 0.0, 0.0, requests=0),  # served nothing: never a capacity, whatever its latency reads
    )
    cap = capacity(levels, SLO)
    assert (cap.max_rps_within_slo, cap.at_concurrency, cap.level_index, cap.from_unstable) == (200.0, 2, 1, False)
    assert capacity(levels, Slo("p99", 5.0)).max_rps_within_slo is None
    assert not meets_slo(levels[4], Slo("p99", 1000.0))


def test_a_few_failures_within_the_budget_do_not_disqualify_a_level() -> None:
    """The rule that replaced 'no failure at all': 3 timeouts of 10,500 requests are 0.03 %, within the 1 % a p99
    SLO leaves (its latency percentile already counts their times); a p99.9 SLO leaves 0.1 %: 10 of 10,500."""
    levels = (level(2, 200.0, 20.0), level(8, 350.0, 40.0, failures=3))
    assert capacity(levels, SLO).max_rps_within_slo == 350.0
    assert meets_slo(level(8, 350.0, 40.0, failures=105), SLO)
    assert meets_slo(level(8, 350.0, 40.0, failures=10), Slo("p999", 100.0))
    assert not meets_slo(level(8, 350.0, 40.0, failures=11), Slo("p999", 100.0))
    assert meets_slo(level(8, 350.0, 40.0, failures=105), Slo("p50", 100.0))  # at most 1 %, whatever the tail
    assert not meets_slo(level(8, 350.0, 40.0, failures=106), Slo("p50", 100.0))


def test_an_unstable_level_is_judged_on_its_worst_window() -> None:
    windows = (
        Window(500.0, 80.0, 100, 1.0),
        Window(280.0, 35.0, 100, 1.0),
        Window(300.0, 30.0, 100, 1.0),
        Window(320.0, 25.0, 100, 1.0),
    )  # the first window is not counted (the level uses the last 3)
    shaky = level(4, 300.0, 30.0, stable=False, windows=windows)
    cap = capacity((level(1, 100.0, 10.0), shaky), SLO)
    assert (cap.max_rps_within_slo, cap.level_index, cap.from_unstable) == (280.0, 1, True)
    # its worst counted p99 (35) breaks an SLO of 33 that the merged p99 (30) meets
    cap = capacity((level(1, 100.0, 10.0), shaky), Slo("p99", 33.0))
    assert (cap.max_rps_within_slo, cap.level_index, cap.from_unstable) == (100.0, 0, False)


def test_the_recorded_capacity_level_is_read_not_searched_for() -> None:
    # two rate levels offered the same rate (a search probed it twice): only the stored index tells them apart
    first = level(None, 95.0, 10.0, mode="rate", offered=100.0)
    second = level(None, 99.0, 12.0, mode="rate", offered=100.0)
    c = curve("CPU", 1, (first, second))
    cap, lv = capacity_of(c, None)
    assert cap.level_index == 1 and lv is second
    cap, lv = capacity_of(c, Slo("p99", 11.0))
    assert cap.level_index == 0 and lv is first


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [(0, 300, 0.01), (3, 300, 0.01), (12, 1000, 0.01), (40, 100, 0.5), (5, 2000, 0.001), (980, 2000, 0.5), (1020, 2000, 0.5)],
)
def test_binomial_cdf_matches_the_exact_sum(k: int, n: int, p: float) -> None:
    assert binomial_cdf(k, n, p) == pytest.approx(_exact_cdf(k, n, p), abs=2e-3)


def test_slo_evidence_thresholds() -> None:
    # p99: with no slow request, 299 requests are the fewest that show the SLO holds (0.99^299 < 0.05)
    assert (slo_evidence(0, 298, SLO), slo_evidence(0, 299, SLO)) == ("doubtful", "within")
    # 6 of 200 beyond the limit: P(X >= 6) = 0.016, a break; 5 of 200: P = 0.052, not yet
    assert (slo_evidence(5, 200, SLO), slo_evidence(6, 200, SLO)) == ("doubtful", "breaks")
    assert slo_evidence(0, 0, SLO) == "doubtful"


def test_a_probe_fails_on_failures_or_an_undelivered_rate_not_on_a_noisy_maximum() -> None:
    noisy = level(None, 50.0, 150.0, mode="rate", offered=50.0, stable=False, slo_over=1, slo_sample=150)
    assert probe_passes(noisy, SLO)  # observed p99 150 ms > 100, one slow request of 150: no evidence
    assert not probe_passes(level(None, 40.0, 10.0, mode="rate", offered=50.0, slo_over=0, slo_sample=900), SLO)
    # 1,500 requests: a p99 SLO allows 15 failures; 24 have P(X >= 24) = 0.02 under that share: evidence
    assert not probe_passes(level(None, 50.0, 10.0, mode="rate", offered=50.0, failures=24, slo_over=0), SLO)


def test_one_failed_request_is_no_evidence_against_a_probe() -> None:
    """The defect users met: one timeout broke a probe, and its rate capped the search for the rest of the run."""
    one_timeout = level(None, 50.0, 10.0, mode="rate", offered=50.0, failures=1, slo_over=1, slo_sample=1500)
    assert probe_passes(one_timeout, SLO)


def test_curve_labels_qualify_only_as_far_as_needed() -> None:
    one = run([curve("CPU", 1), curve("CPU", 2)], label="a")
    assert [label for _, _, label in curve_labels([one])] == ["cpu:1", "cpu:2"]
    two = [one, run([curve("CPU", 1)], label="b")]
    assert [label for _, _, label in curve_labels(two)] == ["a cpu:1", "a cpu:2", "b cpu:1"]
    assert [label for _, _, label in curve_labels(two, with_run=False)] == ["cpu:1", "cpu:2", "cpu:1"]
    batched = run([curve("CPU", 1), curve("CPU", 1, batch_size=4), curve("GPU", 1, model="bert")])
    assert [label for _, _, label in curve_labels([batched])] == ["resnet cpu:1 b1", "resnet cpu:1 b4", "bert gpu:1 b1"]


def test_stability_advice_names_the_flags() -> None:
    text = stability_advice({"window_s": 2.0, "max_windows": 6, "stability": 0.1})
    assert "--window 4 (was 2)" in text and "--max-windows 12 (was 6)" in text and "--stability 0.2 (was 0.1)" in text


def test_a_capacity_at_the_highest_load_measured_is_a_lower_bound_unless_throughput_had_stopped_growing() -> None:
    broke_above = capacity([level(1, 100.0, 10.0), level(2, 180.0, 20.0), level(4, 190.0, 150.0)], SLO)
    assert (broke_above.max_rps_within_slo, broke_above.reached) == (180.0, True)
    served_no_more_above = capacity([level(2, 180.0, 20.0), level(4, 170.0, 60.0)], SLO)  # within, but less
    assert (served_no_more_above.max_rps_within_slo, served_no_more_above.reached) == (180.0, True)
    growing = capacity([level(1, 100.0, 10.0), level(2, 180.0, 20.0)], SLO)
    assert (growing.max_rps_within_slo, growing.reached) == (180.0, False)
    plateau = capacity([level(4, 180.0, 20.0), level(8, 188.0, 40.0)], SLO)  # +4.4 %: saturated, more only queues
    assert (plateau.max_rps_within_slo, plateau.reached) == (188.0, True)
    edge = capacity([level(4, 180.0, 20.0), level(8, 189.0, 40.0)], SLO)  # +5 % exactly: still growing
    assert edge.reached is False
    assert capacity([level(1, 100.0, 10.0)], SLO).reached is False  # one level: nothing says where the limit is


def test_open_loop_levels_are_ordered_by_their_offered_rate() -> None:
    measured_in_search_order = [
        level(None, 200.0, 20.0, mode="rate", offered=200.0),
        level(None, 150.0, 15.0, mode="rate", offered=150.0),
    ]
    assert capacity(measured_in_search_order, SLO).reached is False  # 200 was the highest rate offered
    beyond = [*measured_in_search_order, level(None, 230.0, 400.0, mode="rate", offered=300.0)]
    assert capacity(beyond, SLO).reached is True


def test_capacity_text_says_at_least_for_a_lower_bound_and_nothing_for_an_old_run() -> None:
    assert capacity_text(capacity([level(1, 100.0, 10.0)], SLO)) == "at least 100 req/s"
    assert capacity_text(capacity([level(1, 100.0, 10.0), level(2, 110.0, 500.0)], SLO)) == "100 req/s"
    assert capacity_text(Capacity(max_rps_within_slo=100.0)) == "100 req/s"  # recorded before the rule
    assert capacity_text(Capacity()) == "none"


def test_a_schema_1_run_is_read_with_its_capacities_decided_again() -> None:
    levels = (level(1, 100.0, 10.0), level(2, 180.0, 20.0))
    old = dataclasses.replace(
        run([dataclasses.replace(curve("CPU", 1, levels), capacity=Capacity(max_rps_within_slo=100.0))]),
        schema_version=1,
    )
    new = upgraded(old)
    assert new.schema_version == SCHEMA_VERSION == 2
    assert new.curves[0].capacity == capacity(levels, SLO) and new.curves[0].capacity.max_rps_within_slo == 180.0
    assert upgraded(new) is new  # a current run is left as it is


def test_a_schema_1_run_is_read_with_the_failure_rule_of_today() -> None:
    """Schema 1 disqualified a level for one failed request; today 3 of 5,400 are within a p99 SLO's budget."""
    levels = (level(1, 100.0, 10.0), level(2, 180.0, 20.0, failures=3))
    recorded = Capacity(max_rps_within_slo=100.0, at_concurrency=1, level_index=0, reached=True)
    old = dataclasses.replace(run([dataclasses.replace(curve("CPU", 1, levels), capacity=recorded)]), schema_version=1)
    assert upgraded(old).curves[0].capacity.max_rps_within_slo == 180.0
