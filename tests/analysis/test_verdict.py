from __future__ import annotations

from typing import Literal

import pytest

from harness.analysis.verdict import (
    cost_per_million,
    decide,
    example_fleet_sentence,
    example_rate,
    format_verdict,
    parse_costs,
    replicas_needed,
    verdict_table,
)
from harness.errors import ConfigError, ResultsError
from harness.record.model import Curve, Slo
from helpers.factories import curve, run, sweep

SLO = Slo("p99", 50.0)


def _config(kind: Literal["CPU", "GPU"], count: int, capacity: float) -> Curve:
    """A curve whose capacity within p99 <= 50 ms is exactly `capacity` (its next level breaks the SLO)."""
    levels = sweep([(1, capacity / 2, 10.0), (2, capacity, 40.0), (4, capacity * 1.05, 200.0)])
    return curve(kind, count, levels, slo=SLO)


def test_replicas_and_cost_arithmetic() -> None:
    assert replicas_needed(500.0, 320.0) == 2
    assert replicas_needed(500.0, 250.0) == 2  # exactly twice: no third replica
    assert replicas_needed(500.0, 640.0) == 1
    assert cost_per_million(2, 0.20, 500.0) == pytest.approx(2 * 0.20 / (500 * 3600) * 1e6)
    assert cost_per_million(2, 0.20, 500.0) == pytest.approx(0.2222, abs=1e-4)


def test_rows_carry_capacity_replicas_and_cost() -> None:
    verdict = decide([run([_config("CPU", 1, 320.0), _config("GPU", 1, 2400.0)])], 500.0, SLO, {"cpu:1": 0.20})
    cpu, gpu = verdict.rows
    assert (cpu.config, cpu.capacity_rps, cpu.meets, cpu.replicas) == ("cpu:1", 320.0, False, 2)
    assert cpu.cost_per_million == pytest.approx(0.2222, abs=1e-4)
    assert (gpu.config, gpu.meets, gpu.replicas, gpu.cost_per_million) == ("gpu:1", True, 1, None)
    assert verdict.meets == ("gpu:1",)


def test_a_cpu_meeting_the_target_means_no_gpu_is_needed() -> None:
    runs = [run([_config("CPU", 1, 320.0), _config("CPU", 2, 640.0), _config("GPU", 1, 2400.0)])]
    verdict = decide(runs, 500.0, SLO, parse_costs("cpu:2=0.756,gpu:1=2.50"))
    assert verdict.sentence == (
        "A GPU is not necessary: cpu:2 sustains 640 req/s at p99 <= 50 ms, above the 500 req/s target, "
        "at $0.42 per million requests."  # 1 x 0.756 / (500 x 3600) x 1e6 = 0.42
    )
    assert (verdict.meets, verdict.closest) == (("cpu:2", "gpu:1"), "cpu:2")
    assert decide(runs, 500.0, SLO).sentence == (
        "A GPU is not necessary: cpu:2 sustains 640 req/s at p99 <= 50 ms, above the 500 req/s target."
    )


def test_the_cheapest_meeting_cpu_is_named_when_costs_are_known() -> None:
    runs = [run([_config("CPU", 2, 640.0), _config("CPU", 4, 900.0)])]
    assert decide(runs, 500.0, SLO).closest == "cpu:4"  # no costs: the highest capacity
    assert decide(runs, 500.0, SLO, {"cpu:2": 0.30, "cpu:4": 0.50}).closest == "cpu:2"


def test_only_a_gpu_meeting_the_target_means_a_gpu_is_needed() -> None:
    runs = [run([_config("CPU", 1, 160.0), _config("CPU", 2, 320.0), _config("GPU", 1, 2400.0)])]
    verdict = decide(runs, 500.0, SLO)
    assert verdict.sentence == (
        "A GPU is necessary: no CPU configuration reaches 500 req/s at p99 <= 50 ms (best: cpu:2 at 320 req/s); "
        "gpu:1 sustains 2400 req/s."
    )
    assert verdict.closest == "gpu:1"


def test_when_nothing_meets_the_target_the_closest_is_named() -> None:
    runs = [run([_config("CPU", 2, 320.0), _config("GPU", 1, 420.0)])]
    verdict = decide(runs, 500.0, SLO)
    assert verdict.sentence == (
        "No measured configuration meets 500 req/s at p99 <= 50 ms; the closest is gpu:1 at 420 req/s "
        "(would need 2 replicas, estimate)."
    )
    assert (verdict.meets, verdict.closest) == ((), "gpu:1")


def test_when_nothing_stays_within_the_slo() -> None:
    verdict = decide([run([_config("CPU", 2, 320.0)])], 500.0, Slo("p99", 5.0))
    assert verdict.sentence == (
        "No measured configuration meets 500 req/s at p99 <= 5 ms; none stays within p99 <= 5 ms at any measured load."
    )
    assert verdict.closest is None


def test_without_a_cpu_measurement_the_question_stays_open() -> None:
    verdict = decide([run([_config("GPU", 1, 2400.0)])], 500.0, SLO)
    assert verdict.sentence.startswith("Only GPU configurations were measured: gpu:1 sustains 2400 req/s")
    assert "measure a CPU configuration" in verdict.sentence


def test_skipped_configs_are_listed_but_not_weighed() -> None:
    runs = [run([_config("CPU", 2, 640.0), curve("GPU", 1, skipped="no GPU on this host")])]
    verdict = decide(runs, 500.0, SLO)
    assert verdict.rows[1].skipped_reason == "no GPU on this host" and not verdict.rows[1].meets
    assert "skipped: no GPU on this host" in format_verdict(verdict)
    with pytest.raises(ResultsError, match="no measured configuration"):
        decide([run([curve("GPU", 1, skipped="no GPU")])], 500.0, SLO)


def test_several_runs_qualify_configs_by_run_label() -> None:
    runs = [run([_config("CPU", 2, 320.0)], label="fp32"), run([_config("CPU", 2, 640.0)], label="int8")]
    verdict = decide(runs, 500.0, SLO, {"cpu:2": 0.40})
    assert [r.config for r in verdict.rows] == ["fp32 cpu:2", "int8 cpu:2"]
    assert verdict.sentence.startswith("A GPU is not necessary: int8 cpu:2 sustains 640 req/s")


def test_parse_costs() -> None:
    assert parse_costs("cpu:1=0.20,gpu:1=2.50") == {"cpu:1": 0.20, "gpu:1": 2.50}
    assert parse_costs(" CPU:2=0.4 , gpu:1=.9 ") == {"cpu:2": 0.4, "gpu:1": 0.9}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "cpu:1",
        "cpu1=0.2",
        "cpu:1=abc",
        "cpu:1=",
        "tpu:1=1.0",
        "cpu:0=1",
        "cpu:1=-1",
        "cpu:1=0.2;gpu:1=2",
        "cpu:1=0.2,,gpu:1=2",
    ],
)
def test_malformed_costs_are_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--cost"):
        parse_costs(text)


def test_duplicate_costs_are_refused() -> None:
    with pytest.raises(ConfigError, match="given twice"):
        parse_costs("cpu:1=0.2,CPU:1=0.3")


@pytest.mark.parametrize("target", [0.0, -5.0, float("nan"), float("inf")])
def test_target_must_be_positive(target: float) -> None:
    with pytest.raises(ConfigError, match="target throughput"):
        decide([run([_config("CPU", 2, 320.0)])], target, SLO)


def _unstable(kind: Literal["CPU", "GPU"], count: int, rps: float, p99: float) -> Curve:
    """A curve whose every level is unstable: windows that disagree by +-30 % around rps and p99."""
    levels = sweep([(1, rps / 2, p99 * 0.8), (2, rps, p99)], stable=False, spread=(-0.3, 0.0, 0.3))
    return curve(kind, count, levels, slo=SLO)


def test_unstable_levels_are_evidence_with_a_caveat() -> None:
    """The case users met: every level unstable, p99 3-5 ms, SLO 5000 ms: not 'none stays within'."""
    slo = Slo("p99", 5000.0)
    runs = [
        run([_unstable("CPU", 1, 400.0, 4.0)], label="a", settings={"window_s": 2, "max_windows": 6, "stability": 0.1}),
        run([_unstable("CPU", 2, 700.0, 5.0)], label="b"),
    ]
    verdict = decide(runs, 1.0, slo)
    assert verdict.closest == "b cpu:2"
    # worst counted window of the best level: 700 * (1 - 0.3)
    assert [(r.config, r.capacity_rps, r.from_unstable) for r in verdict.rows] == [
        ("a cpu:1", 280.0, True),
        ("b cpu:2", 490.0, True),
    ]
    assert verdict.sentence.startswith("A GPU is not necessary: b cpu:2 sustains at least 490 req/s (from unstable levels)")
    assert "--window" in verdict.sentence and "--max-windows" in verdict.sentence and "--stability" in verdict.sentence
    assert "none stays within" not in verdict.sentence


def test_an_unstable_level_whose_worst_window_breaks_the_slo_does_not_count() -> None:
    # merged p99 40 ms meets 50 ms, but the worst counted window (40 * 1.3 = 52 ms) breaks it
    verdict = decide([run([_unstable("CPU", 1, 400.0, 40.0)])], 100.0, SLO)
    row = verdict.rows[0]
    assert (row.capacity_rps, row.from_unstable) == (200.0 * 0.7, True)  # the first level: p99 32 * 1.3 = 41.6


def test_none_stays_within_only_when_none_did() -> None:
    slow = curve("CPU", 1, sweep([(1, 100.0, 80.0), (2, 150.0, 90.0)]), slo=SLO)
    verdict = decide([run([slow])], 100.0, SLO)
    assert verdict.sentence.endswith(f"none stays within {SLO} at any measured load.")
    assert verdict.rows[0].capacity_rps is None


def test_a_cpu_measured_only_below_the_target_leaves_the_question_open() -> None:
    """cpu:1's highest level (concurrency 2) still met the SLO with throughput growing: it may well reach 500 req/s,
    so 'a GPU is necessary' would be a guess; the gpu:1 that meets is named, not recommended."""
    cpu = curve("CPU", 1, sweep([(1, 100.0, 10.0), (2, 180.0, 20.0)]))
    gpu = curve("GPU", 1, sweep([(1, 400.0, 5.0), (4, 900.0, 30.0), (8, 950.0, 200.0)]))
    verdict = decide([run([cpu, gpu])], 500.0, SLO, {"gpu:1": 2.5})
    assert verdict.sentence == (
        "Not decided: cpu:1 (at least 180 req/s) still met p99 <= 50 ms at the highest load measured, below the "
        "500 req/s target; measure higher loads (--concurrency auto, a higher --max-concurrency, or --rate auto) "
        "before concluding that a GPU is necessary. Meanwhile gpu:1 sustains 900 req/s, at $1.39 per million requests."
    )
    assert (verdict.meets, verdict.closest) == (("gpu:1",), None)
    assert verdict_table(verdict)[1][0][1:3] == ["at least 180", "not measured up to it"]
    reached = curve("CPU", 1, sweep([(1, 100.0, 10.0), (2, 180.0, 20.0), (4, 185.0, 300.0)]))
    assert decide([run([reached, gpu])], 500.0, SLO).sentence.startswith("A GPU is necessary: no CPU configuration")
    above = decide([run([cpu, gpu])], 150.0, SLO)  # a lower bound above the target answers it
    assert above.sentence.startswith("A GPU is not necessary: cpu:1 sustains at least 180 req/s")


def test_example_rate_is_a_round_rate_about_twice_the_best_capacity() -> None:
    assert example_rate([4977.0, 7952.0]) == 20_000
    assert example_rate([250.0, 400.0]) == 800
    assert example_rate([500.0]) == 1_000  # exactly twice stays, no step up


def test_example_fleet_says_what_each_capacity_means_in_replicas() -> None:
    sized = run([_config("CPU", 1, 250.0), _config("CPU", 2, 400.0)], slo=SLO)
    sentence = example_fleet_sentence(sized, headroom=0.2)
    # 800 req/s x 1.2 = 960: 960/250 = 3.84 -> 4 replicas of cpu:1, 960/400 = 2.4 -> 3 of cpu:2
    assert sentence is not None and "800 req/s within p99 <= 50 ms with 20% headroom takes 4 of cpu:1 or 3 of cpu:2" in sentence


def test_example_fleet_of_a_lower_bound_is_an_upper_bound_on_replicas() -> None:
    growing = curve("CPU", 1, sweep([(1, 100.0, 5.0), (2, 200.0, 6.0), (4, 400.0, 7.0)]), slo=SLO)
    sentence = example_fleet_sentence(run([growing], slo=SLO), headroom=0.0)
    assert sentence is not None and "takes at most 2 of cpu:1" in sentence
    assert example_fleet_sentence(run([curve("GPU", 1, skipped="no GPU")], slo=SLO), headroom=0.2) is None
