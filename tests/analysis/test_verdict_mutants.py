"""The verdict pinned where mutation testing (scripts/mutation.py) found it unguarded: every row and cell of a
mixed run (priced, unpriced, unstable, skipped), the sentence with its caveat, and the picks."""

from __future__ import annotations

import dataclasses

from harness.analysis.verdict import VerdictRow, decide, format_verdict, verdict_table
from harness.record.model import Window
from helpers.factories import SLO, curve, level, run, sweep

ADVICE = (
    "for stable levels measure longer: --window 20 (was 10), --max-windows 12 (was 6), "
    "or accept more spread with --stability 0.2 (was 0.1)"
)


def _curves():  # noqa: ANN202
    """Each measured curve runs past its capacity (a level at a higher load breaks the SLO): capacities reached."""
    cpu1 = curve("CPU", 1, sweep([(1, 100.0, 10.0), (2, 180.0, 20.0), (4, 190.0, 150.0)]))
    cpu2 = curve(
        "CPU",
        2,
        [level(1, 150.0, 10.0), level(2, 260.0, 40.0, stable=False, spread=(0.0, 0.0, 0.0)), level(4, 270.0, 300.0)],
    )
    gpu1 = curve("GPU", 1, sweep([(1, 400.0, 5.0), (4, 900.0, 30.0), (8, 950.0, 200.0)]))
    gpu2 = curve("GPU", 2, skipped="no GPU on this host")
    return cpu1, cpu2, gpu1, gpu2


def test_every_row_of_a_mixed_run() -> None:
    """cpu:1 180 req/s: 3 replicas for 500, 3 x $0.20 / (500 x 3600 s) x 1e6 = $0.33 per million; cpu:2 260 from
    an unstable level (flat windows), unpriced; gpu:1 900 meets alone at $2.50 / 1.8e6 x 1e6 = $1.39."""
    verdict = decide([run(list(_curves()), label="x")], 500.0, SLO, {"cpu:1": 0.2, "gpu:1": 2.5})
    assert verdict.rows == (
        VerdictRow("cpu:1", False, 180.0, False, 3, 0.2, 3 * 0.2 / (500 * 3600) * 1e6, reached=True),
        VerdictRow("cpu:2", False, 260.0, False, 2, None, None, from_unstable=True, advice=ADVICE, reached=True),
        VerdictRow("gpu:1", True, 900.0, True, 1, 2.5, 2.5 / (500 * 3600) * 1e6, reached=True),
        VerdictRow("gpu:2", True, None, False, None, None, None, skipped_reason="no GPU on this host"),
    )
    assert (verdict.meets, verdict.closest) == (("gpu:1",), "gpu:1")
    assert verdict.sentence == (
        "A GPU is necessary: no CPU configuration reaches 500 req/s at p99 <= 100 ms (best: cpu:2 at 260 req/s); "
        "gpu:1 sustains 900 req/s, at $1.39 per million requests. Caveat: cpu:2 measured from unstable levels "
        f"(judged on their worst windows); {ADVICE}."
    )


def test_the_table_as_users_read_it() -> None:
    verdict = decide([run(list(_curves()), label="x")], 500.0, SLO, {"cpu:1": 0.2, "gpu:1": 2.5})
    headers, cells = verdict_table(verdict)
    assert headers == ["config", "capacity req/s", "meets target", "replicas (estimate)", "$/hour", "$/million req"]
    assert cells == [
        ["cpu:1", "180", "no", "3", "$0.20", "$0.33"],
        ["cpu:2", "260 (unstable)", "no", "2", "-", "-"],
        ["gpu:1", "900", "yes", "1", "$2.50", "$1.39"],
        ["gpu:2", "-", "skipped: no GPU on this host", "-", "-", "-"],
    ]
    text = format_verdict(verdict)
    assert text.startswith(verdict.sentence + "\n\n") and text.splitlines()[2].startswith("config")


def test_none_meets_names_the_closest_with_its_caveat() -> None:
    cpu1, cpu2, _, _ = _curves()
    verdict = decide([run([cpu1, cpu2], label="x")], 500.0, SLO)
    assert verdict.sentence == (
        "No measured configuration meets 500 req/s at p99 <= 100 ms; the closest is cpu:2 at 260 req/s "
        f"(would need 2 replicas, estimate). Caveat: cpu:2 measured from unstable levels (judged on their worst "
        f"windows); {ADVICE}."
    )
    assert (verdict.meets, verdict.closest) == ((), "cpu:2")


def test_a_stable_capacity_gets_no_advice_and_a_curve_without_levels_is_skipped() -> None:
    empty = curve("CPU", 4, [])
    verdict = decide([run([curve("CPU", 1, [level(1, 600.0, 10.0)]), empty], label="x")], 500.0, SLO)
    assert verdict.rows[0].advice == "" and verdict.rows[1].skipped_reason == "no levels"
    assert verdict.sentence == (
        "A GPU is not necessary: cpu:1 sustains at least 600 req/s at p99 <= 100 ms, above the 500 req/s target."
    )


def test_meeting_the_target_exactly_counts() -> None:
    verdict = decide([run([curve("CPU", 1, [level(1, 500.0, 10.0)])], label="x")], 500.0, SLO)
    assert verdict.rows[0].meets and verdict.rows[0].replicas == 1


def test_the_cheapest_pick_wins_over_the_biggest_and_unpriced_capacity_counts_as_zero() -> None:
    big = curve("CPU", 2, [level(1, 2000.0, 10.0)])
    cheap = curve("CPU", 1, [level(1, 600.0, 10.0)])
    verdict = decide([run([big, cheap], label="x")], 500.0, SLO, {"cpu:2": 1.0, "cpu:1": 0.1})
    assert verdict.closest == "cpu:1"
    unpriced = decide([run([big, cheap], label="x")], 500.0, SLO)
    assert unpriced.closest == "cpu:2"


def test_only_gpus_measured_leaves_the_question_open() -> None:
    verdict = decide([run([curve("GPU", 1, [level(1, 900.0, 5.0)])], label="x")], 500.0, SLO, {"gpu:1": 2.5})
    assert verdict.sentence == (
        "Only GPU configurations were measured: gpu:1 sustains at least 900 req/s at p99 <= 100 ms, above the 500 req/s "
        "target, at $1.39 per million requests; measure a CPU configuration to tell whether a GPU is necessary."
    )


def test_rows_without_capacity_keep_their_price_and_a_cpu_within_no_slo_is_said() -> None:
    slow_cpu = curve("CPU", 1, [level(1, 100.0, 300.0)])
    gpu = curve("GPU", 1, [level(1, 900.0, 5.0)])
    skipped = curve("GPU", 2, skipped="no GPU on this host")
    verdict = decide([run([slow_cpu, gpu, skipped], label="x")], 500.0, SLO, {"cpu:1": 0.2, "gpu:2": 5.0})
    assert verdict.rows[0] == VerdictRow("cpu:1", False, None, False, None, 0.2, None)
    assert verdict.rows[2] == VerdictRow("gpu:2", True, None, False, None, 5.0, None, skipped_reason="no GPU on this host")
    assert verdict.sentence == (
        "A GPU is necessary: no CPU configuration reaches 500 req/s at p99 <= 100 ms "
        "(none stays within p99 <= 100 ms); gpu:1 sustains at least 900 req/s."
    )


def test_an_unstable_row_without_capacity_keeps_its_advice_and_two_unstable_configs_are_both_named() -> None:
    flat = (0.0, 0.0, 0.0)
    cpu = curve("CPU", 1, [level(1, 260.0, 40.0, stable=False, spread=flat)])
    gpu = curve("GPU", 1, [level(1, 900.0, 5.0, stable=False, spread=flat)])
    verdict = decide([run([cpu, gpu], label="x")], 500.0, SLO)
    assert "Caveat: gpu:1, cpu:1 measured from unstable levels" in verdict.sentence
    stalled = dataclasses.replace(
        level(1, 100.0, 10.0, stable=False),
        windows=(Window(0.0, 10.0, 0, 1.0), Window(100.0, 10.0, 100, 1.0), Window(100.0, 10.0, 100, 1.0)),
    )
    row = decide([run([curve("CPU", 2, [stalled])], label="x")], 500.0, SLO, {"cpu:2": 0.3}).rows[0]
    assert row == VerdictRow("cpu:2", False, 0.0, False, None, 0.3, None, from_unstable=True, advice=ADVICE)


def test_a_free_configuration_is_the_cheapest() -> None:
    cheap = curve("CPU", 1, [level(1, 600.0, 10.0)])
    pricey = curve("CPU", 2, [level(1, 700.0, 10.0)])
    verdict = decide([run([pricey, cheap], label="x")], 500.0, SLO, {"cpu:1": 0.0, "cpu:2": 0.001})
    assert verdict.closest == "cpu:1"
