"""The capacity and SLO rules at their edges, where mutation testing (scripts/mutation.py) found them unguarded:
ties, boundaries, the stored capacity level, the probe evidence, labels and advice as users read them."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

from harness.analysis.capacity import (
    ALPHA,
    DRAW_NOISE_SIGMAS,
    FAILURE_SHARE,
    binomial_cdf,
    capacity,
    capacity_of,
    curve_labels,
    delivered,
    delivered_rate,
    failure_budget,
    failure_evidence,
    goodput,
    judged,
    meets_slo,
    probe_evidence,
    run_labels,
    share_evidence,
    slo_evidence,
    stability_advice,
)
from harness.record.model import Capacity, Slo, Window
from helpers.factories import SLO, curve, level, run


def _exact_cdf(k: int, n: int, p: float) -> float:
    q = Fraction(p)
    return float(sum(math.comb(n, j) * q**j * (1 - q) ** (n - j) for j in range(k + 1)))


# --- what a level is judged on -------------------------------------------------------------------------------------


def test_an_unstable_level_is_judged_on_the_worst_of_its_merged_figures_and_windows() -> None:
    windows = (Window(100.0, 50.0, 100, 1.0), Window(101.0, 51.0, 101, 1.0), Window(102.0, 52.0, 102, 1.0))
    worse_merged = level(4, 90.0, 200.0, stable=False, windows=windows)
    assert (judged(worse_merged, "p99").rps, judged(worse_merged, "p99").latency_ms) == (90.0, 200.0)


def test_one_request_can_meet_the_slo_and_the_limit_itself_is_within() -> None:
    assert meets_slo(level(1, 10.0, 50.0, requests=1), SLO)
    assert meets_slo(level(1, 10.0, 100.0), Slo("p99", 100.0))


# --- capacity ------------------------------------------------------------------------------------------------------


def test_capacity_is_the_best_level_not_the_last_and_a_tie_goes_to_the_stable_one() -> None:
    best_first = capacity([level(2, 200.0, 10.0), level(4, 100.0, 10.0)], SLO)
    assert (best_first.max_rps_within_slo, best_first.at_concurrency, best_first.level_index) == (200.0, 2, 0)
    flat = (0.0, 0.0, 0.0)  # windows equal to the merged figures: the unstable level is judged on the same rps
    tie = capacity([level(2, 200.0, 10.0), level(4, 200.0, 10.0, stable=False, spread=flat)], SLO)
    assert (tie.level_index, tie.from_unstable) == (0, False)
    tie_reversed = capacity([level(2, 200.0, 10.0, stable=False, spread=flat), level(4, 200.0, 10.0)], SLO)
    assert (tie_reversed.level_index, tie_reversed.from_unstable) == (1, False)


def test_capacity_names_its_load_in_the_mode_of_its_level_rounded_to_a_thousandth() -> None:
    by_rate = capacity([level(None, 123.45678, 10.0, mode="rate", offered=125.0)], SLO)
    assert by_rate == Capacity(max_rps_within_slo=123.457, at_concurrency=None, at_rate=125.0, level_index=0, reached=False)
    by_users = capacity([level(8, 50.0, 10.0, offered=60.0)], SLO)
    assert (by_users.at_concurrency, by_users.at_rate) == (8, None)
    rate_with_users = capacity([level(3, 50.0, 10.0, mode="rate", offered=50.0)], SLO)
    assert (rate_with_users.at_concurrency, rate_with_users.at_rate) == (None, 50.0)


def test_the_stored_capacity_level_is_used_from_index_zero_and_an_index_out_of_range_is_looked_up() -> None:
    levels = [level(2, 200.0, 10.0), level(4, 100.0, 10.0)]
    first = curve("CPU", 1, levels)
    assert first.capacity.level_index == 0 and capacity_of(first, None)[1] == levels[0]
    stale = dataclasses.replace(first, capacity=dataclasses.replace(first.capacity, level_index=2))
    assert capacity_of(stale, None)[1] == levels[0]  # by its concurrency, as runs without the index are read
    legacy = dataclasses.replace(first, capacity=dataclasses.replace(first.capacity, level_index=None, at_concurrency=4))
    assert capacity_of(legacy, None)[1] == levels[1]
    indexed = dataclasses.replace(first, capacity=Capacity(max_rps_within_slo=200.0, at_concurrency=4, level_index=0))
    assert capacity_of(indexed, None)[1] == levels[0]  # the stored index wins over a search by load


def test_a_legacy_rate_capacity_is_found_by_its_offered_rate() -> None:
    levels = [level(None, 100.0, 10.0, mode="rate", offered=100.0), level(None, 190.0, 10.0, mode="rate", offered=200.0)]
    old = dataclasses.replace(curve("CPU", 1, levels), capacity=Capacity(max_rps_within_slo=190.0, at_rate=200.0))
    assert capacity_of(old, None)[1] == levels[1]
    by_users = dataclasses.replace(
        curve("CPU", 1, [level(2, 100.0, 10.0)]), capacity=Capacity(max_rps_within_slo=100.0, at_rate=100.0)
    )
    assert capacity_of(by_users, None)[1] is None  # a rate capacity never names a closed-loop level


# --- probes ------------------------------------------------------------------------------------------------------


def test_an_open_loop_level_delivering_exactly_ninety_percent_got_its_load() -> None:
    assert delivered(level(None, 9.0, 10.0, mode="rate", offered=10.0))
    assert not delivered(level(None, 8.99, 10.0, mode="rate", offered=10.0))


def test_a_poisson_draw_below_the_offered_rate_is_the_load_that_was_offered() -> None:
    """Over 3 s at 30 req/s offered, sd of a Poisson count is sqrt(90) ~ 9.5 requests (3.2 req/s): a schedule that
    drew 26.8 req/s offered 26.8; a draw further below than DRAW_NOISE_SIGMAS sd is not excused."""
    floor = 30.0 - DRAW_NOISE_SIGMAS * math.sqrt(30.0 / 3.0)  # 20.51 req/s
    assert not delivered_rate(30.0, 26.7, None, 3.0)  # nominal only: short of 27
    assert delivered_rate(30.0, 26.7, 26.8, 3.0)
    assert not delivered_rate(30.0, 0.9 * 26.8 - 0.01, 26.8, 3.0)  # short of what the draw offered
    assert delivered_rate(30.0, 0.9 * floor, 10.0, 3.0) and not delivered_rate(30.0, 0.9 * floor - 0.01, 10.0, 3.0)
    assert delivered_rate(30.0, 27.0, 40.0, 3.0) and not delivered_rate(30.0, 26.99, 40.0, 3.0)  # never above offered
    assert not delivered_rate(30.0, 26.7, 26.8, 0.0)  # no span: the nominal rate


def test_delivered_judges_the_counted_windows_draw() -> None:
    """The noise allowance is over the counted (last 3) windows' span: 3 s here, not the 13 s of all four."""
    windows = tuple(Window(achieved_rps=21.0, p99_ms=5.0, requests=21, duration_s=d) for d in (10.0, 1.0, 1.0, 1.0))
    drawn = dataclasses.replace(level(None, 21.0, 10.0, mode="rate", offered=30.0), windows=windows, scheduled_rps=10.0)
    assert delivered(drawn)  # floor over 3 s: 20.51 req/s, 90 % of it 18.46
    assert not delivered(dataclasses.replace(drawn, scheduled_rps=None))  # the nominal 30: 27 needed
    assert not delivered(dataclasses.replace(drawn, windows=(Window(21.0, 5.0, 210, 13.0),)))  # floor over 13 s: 25.4


def test_no_sample_is_doubtful_and_one_slow_request_of_one_breaks_a_p99() -> None:
    assert slo_evidence(1, 0, SLO) == "doubtful"
    assert slo_evidence(1, 1, SLO) == "breaks"


def test_a_probe_of_one_good_request_without_a_count_is_within() -> None:
    assert probe_evidence(level(None, 10.0, 50.0, mode="rate", offered=10.0, requests=1), SLO) == "within"


# --- failures as evidence --------------------------------------------------------------------------------------------


def test_the_failure_budget_is_the_slo_tail_at_most_one_percent() -> None:
    assert FAILURE_SHARE == 0.01
    assert failure_budget(Slo("p50", 10.0)) == 0.01  # half may be slow, not half may fail
    assert failure_budget(Slo("p90", 10.0)) == 0.01
    assert failure_budget(Slo("p99", 10.0)) == 0.01
    assert math.isclose(failure_budget(Slo("p999", 10.0)), 0.001)


def test_failure_evidence_breaks_exactly_where_the_count_is_improbable_under_the_budget() -> None:
    """300 requests at a 1 % budget (3 expected): P(X >= 7) < ALPHA <= P(X >= 6), by the exact sum. No failure at
    all is 'within' from 299 requests (0.99^299 < ALPHA), as the SLO count is."""
    assert 1 - _exact_cdf(6, 300, 0.01) < ALPHA <= 1 - _exact_cdf(5, 300, 0.01)
    assert [failure_evidence(k, 300, SLO) for k in (0, 1, 6, 7)] == ["within", "doubtful", "doubtful", "breaks"]
    assert (failure_evidence(0, 298, SLO), failure_evidence(0, 299, SLO)) == ("doubtful", "within")
    assert failure_evidence(1, 3000, Slo("p999", 10.0)) == "doubtful"  # the tighter budget of a p99.9 SLO
    assert failure_evidence(1, 3000, SLO) == "within"
    assert share_evidence(0, 0, 0.5) == "doubtful"


def test_the_slo_count_is_judged_against_the_slo_tail_not_the_failure_budget() -> None:
    """A p50 SLO allows half the requests over its limit: 40 of 100 is evidence it holds (P(X <= 40) = 0.028 at
    0.5), however far over the 1 % that may fail."""
    assert _exact_cdf(40, 100, 0.5) < ALPHA
    assert slo_evidence(40, 100, Slo("p50", 10.0)) == "within"
    assert failure_evidence(40, 100, Slo("p50", 10.0)) == "breaks"


def _probe(failures: int, requests: int, over: int, sample: int):  # noqa: ANN202
    return level(None, 100.0, 10.0, mode="rate", offered=100.0, failures=failures, requests=requests, slo_over=over,
                 slo_sample=sample)  # fmt: skip


def test_a_probe_is_the_worse_of_what_its_failures_and_its_slo_count_say() -> None:
    assert probe_evidence(_probe(1, 300, 0, 600), SLO) == "doubtful"  # failures doubtful, SLO within
    assert probe_evidence(_probe(7, 300, 0, 600), SLO) == "breaks"  # failures break, SLO within
    assert probe_evidence(_probe(1, 300, 20, 600), SLO) == "breaks"  # failures doubtful, SLO breaks
    assert probe_evidence(_probe(1, 3000, 20, 600), SLO) == "breaks"  # failures within, SLO breaks
    assert probe_evidence(_probe(1, 3000, 0, 600), SLO) == "within"
    assert probe_evidence(_probe(1, 3000, 3, 300), SLO) == "doubtful"  # failures within, SLO doubtful


def test_no_failure_leaves_the_decision_to_the_slo_count() -> None:
    """200 counted requests without a failure are too few to show the failure share within 1 %; they show nothing
    against it either: the SLO count over every window (600, none slow) decides."""
    assert probe_evidence(_probe(0, 200, 0, 600), SLO) == "within"
    assert probe_evidence(_probe(0, 200, 0, 200), SLO) == "doubtful"


def test_a_level_without_a_slo_count_is_judged_on_its_observed_figures_and_failure_evidence() -> None:
    assert probe_evidence(level(None, 10.0, 50.0, mode="rate", offered=10.0, requests=300, failures=1), SLO) == "doubtful"
    assert probe_evidence(level(None, 10.0, 50.0, mode="rate", offered=10.0, requests=300, failures=7), SLO) == "breaks"
    assert probe_evidence(level(None, 10.0, 150.0, mode="rate", offered=10.0, requests=3000), SLO) == "breaks"


def test_goodput_is_the_achieved_rate_times_the_good_share() -> None:
    assert goodput(100.0, 300, 240) == 80.0
    assert goodput(100.0, 300, 300) == 100.0
    assert goodput(100.0, 0, 0) == 0.0
    assert goodput(50.0, 1, 1) == 50.0  # one request, good: all of the rate


def test_binomial_cdf_is_exactly_one_at_n_and_exact_at_the_switch_to_the_normal() -> None:
    assert binomial_cdf(5, 5, 0.3) == 1.0
    assert binomial_cdf(5, 6, 0.001) == 1.0  # the pmf sum rounds to 1.0000000000000002: capped
    assert abs(binomial_cdf(800, 1600, 0.5) - _exact_cdf(800, 1600, 0.5)) < 1e-9  # variance 400: still exact
    normal = 0.5 * math.erfc(-((801 + 0.5 - 801) / math.sqrt(400.5)) / math.sqrt(2.0))
    assert binomial_cdf(801, 1602, 0.5) == normal  # variance 400.5: the normal approximation


# --- labels and advice -------------------------------------------------------------------------------------------


def test_two_models_are_named_in_the_labels() -> None:
    runs = [run([curve("CPU", 1, model="a")], label="x", model="a"), run([curve("CPU", 1, model="b")], label="y", model="b")]
    assert [label for _, _, label in curve_labels(runs, with_run=False)] == ["a cpu:1", "b cpu:1"]


def test_run_labels_number_unlabelled_runs_and_tell_two_equal_labels_apart() -> None:
    assert run_labels([run([], label=""), run([], label="")]) == ["run1", "run2"]
    assert run_labels([run([], label="x"), run([], label="x"), run([], label="y")]) == ["x#1", "x#2", "y"]


def test_stability_advice_doubles_each_setting_and_caps_the_spread_at_half() -> None:
    assert stability_advice({"window_s": 3, "max_windows": 4, "stability": 0.3}) == (
        "for stable levels measure longer: --window 6 (was 3), --max-windows 8 (was 4), "
        "or accept more spread with --stability 0.5 (was 0.3)"
    )
    assert stability_advice({}) == (
        "for stable levels measure longer: --window 4 (was 2), --max-windows 12 (was 6), "
        "or accept more spread with --stability 0.2 (was 0.1)"
    )
