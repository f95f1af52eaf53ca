"""The fleet a plan recommends, against what can be worked out without the planner: queueing theory for the replica
count (tests/helpers/queueing_theory.py), hand arithmetic for costs, a brute-force scan for the break-even."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import pytest

from harness.analysis.plan import make_plan, plan_candidates
from harness.analysis.traffic import parse_traffic, peak_traffic
from harness.errors import ConfigError
from harness.record.model import Curve, PlanCandidate, QueueFit, Run, Slo
from helpers import factories as f
from helpers import queueing_theory as theory

S = 10.0
SLO = Slo("p99", 40.0)
FIT = QueueFit(servers=1, service_ms=S, service_cv=0.0, overhead_ms=(0.0,) * 5)


def fixed_delay_curve(service_ms: float = S, kind: Literal["CPU", "GPU"] = "CPU") -> Curve:
    """Four Poisson levels at 20 %, 40 %, 60 % and 75 % utilisation, measured as M/D/1 says."""
    levels = [theory.md1_level(r * 10.0 / service_ms, service_ms) for r in (20, 40, 60, 75)]
    return dataclasses.replace(f.curve(kind, 1, levels, slo=SLO, model="fixed_delay"), dynamic_batching=False)


def fixed_delay_run(*curves: Curve) -> Run:
    return f.run(list(curves) or [fixed_delay_curve()], slo=SLO, model="fixed_delay")


def test_the_replica_count_is_what_m_d_1_per_replica_gives() -> None:
    """The done-when of issue 23 on theory-built levels: S = 10 ms, p99 <= 40 ms, 150 req/s, headroom 20 %. Each of
    N replicas gets 150 / N req/s of Poisson arrivals (random split); theory's N is the fewest whose capacity
    (M/D/1's highest rate with p99 within 40 ms) carries 150 x 1.2."""
    candidates = plan_candidates([fixed_delay_run()], SLO, {"cpu:1": 0.05})
    plan = make_plan(candidates, peak_traffic(150.0), SLO, headroom=0.2)
    (choice,) = [c for c in plan.steps[0].choices if c.option == "CPU only"]
    (part,) = choice.parts
    capacity = theory.md1_capacity(S, 40.0, 0.99) * 1000  # 46.3 req/s per replica
    expected = math.ceil(150 * 1.2 / capacity)
    assert abs(part.replicas - expected) <= 1 and expected == 4
    theory_p99 = theory.md1_sojourn_quantile(0.99, 150 / part.replicas / 1000, S)
    assert choice.predicted_ms == pytest.approx(theory_p99, rel=0.15)
    assert "headroom 20%" in plan.sentence and f"{part.replicas} x cpu:1" in plan.sentence


def priced(name: str, kind: str, capacity: float, price: float | None, energy: float | None = None) -> PlanCandidate:
    """A candidate as the planner takes it, its capacity given (the planner does not fit again)."""
    return PlanCandidate(name, kind, fit=FIT, capacity_rps=capacity, price_per_hour=price, energy_j_per_1k=energy)


def test_cost_per_day_and_per_million_requests_by_hand() -> None:
    """Two 12-hour steps at 100 and 300 req/s on replicas of 100 req/s at $1 an hour, no headroom: 1 then 3
    replicas, $12 + $36 = $48 a day over (100 + 300) x 43,200 = 17.28 million requests."""
    traffic = parse_traffic("00:00,100\n12:00,300\n", "day.csv")
    plan = make_plan([priced("cpu:1", "CPU", 100.0, 1.0)], traffic, SLO, headroom=0.0)
    (option, *_) = plan.options
    assert [s.choices[0].parts[0].replicas for s in plan.steps] == [1, 3]
    assert option.cost_per_day == pytest.approx(48.0)
    assert option.cost_per_million == pytest.approx(48.0 / 17.28)
    assert option.peak.parts[0].replicas == 3 and option.energy_j_per_1k is None


def test_a_traffic_shorter_than_a_day_is_costed_per_day() -> None:
    """Two 1-hour steps at 100 and 300 req/s cost $1 + $3 over 2 hours: $48 a day at that pace."""
    plan = make_plan([priced("cpu:1", "CPU", 100.0, 1.0)], parse_traffic("08:00,100\n09:00,300\n", "f.csv"), SLO, 0.0)
    assert plan.options[0].cost_per_day == pytest.approx(48.0)


@pytest.mark.parametrize(("headroom", "replicas"), [(0.0, 1), (0.2, 2), (1.5, 3)])
def test_the_headroom_is_capacity_to_spare(headroom: float, replicas: int) -> None:
    """100 req/s on replicas of 100 req/s: one without headroom, two with 20 % (120 needed), three with 150 %."""
    plan = make_plan([priced("cpu:1", "CPU", 100.0, 1.0)], peak_traffic(100.0), SLO, headroom=headroom)
    assert plan.steps[0].choices[0].parts[0].replicas == replicas


def test_a_mixed_fleet_can_be_cheaper_than_either_kind_alone() -> None:
    """1,100 req/s needed: 11 CPUs ($11) or 2 GPUs ($10), but one GPU topped up with one CPU costs $6."""
    candidates = [priced("cpu:1", "CPU", 100.0, 1.0), priced("gpu:1", "GPU", 1000.0, 5.0, energy=50.0)]
    plan = make_plan(candidates, peak_traffic(1100.0), SLO, headroom=0.0)
    by_option = {c.option: c for c in plan.steps[0].choices}
    assert [(p.configuration, p.replicas) for p in by_option["CPU only"].parts] == [("cpu:1", 11)]
    assert [(p.configuration, p.replicas) for p in by_option["GPU only"].parts] == [("gpu:1", 2)]
    assert [(p.configuration, p.replicas) for p in by_option["mixed"].parts] == [("cpu:1", 1), ("gpu:1", 1)]
    assert by_option["mixed"].cost_per_hour == 6.0
    energy = {o.option: o.energy_j_per_1k for o in plan.options}
    assert energy == {"CPU only": None, "GPU only": 50.0, "mixed": None}  # a CPU's energy was not measured


def scan_break_even(cpu: tuple[float, float], gpu: tuple[float, float], headroom: float) -> float:
    """The last rate (in steps of 0.1 req/s up to 20,000) at which the GPU fleet is not cheaper."""
    last = 0.0
    for i in range(1, 200_001):
        rate = i / 10
        need = rate * (1 + headroom)
        cpu_cost = cpu[1] * max(1, math.ceil(need / cpu[0] - 1e-9))
        gpu_cost = gpu[1] * max(1, math.ceil(need / gpu[0] - 1e-9))
        if gpu_cost >= cpu_cost:
            last = rate
    return last


@pytest.mark.parametrize(("cpu", "gpu"), [((100.0, 1.0), (1000.0, 5.0)), ((46.3, 0.05), (945.0, 0.6))])
def test_the_break_even_is_where_a_gpu_fleet_stays_cheaper(cpu: tuple[float, float], gpu: tuple[float, float]) -> None:
    candidates = [priced("cpu:1", "CPU", *cpu), priced("gpu:1", "GPU", *gpu)]
    plan = make_plan(candidates, peak_traffic(100.0), SLO, headroom=0.2)
    assert plan.break_even_rps == pytest.approx(scan_break_even(cpu, gpu, 0.2), abs=0.1)
    assert f"cheaper above {plan.break_even_rps:.0f} req/s" in plan.sentence


def test_no_break_even_where_a_gpu_costs_more_per_request_at_any_scale() -> None:
    candidates = [priced("cpu:1", "CPU", 100.0, 1.0), priced("gpu:1", "GPU", 1000.0, 20.0)]
    assert make_plan(candidates, peak_traffic(100.0), SLO).break_even_rps is None


def test_a_candidate_without_a_price_is_shown_and_said_once_but_never_costed() -> None:
    candidates = [priced("cpu:1", "CPU", 100.0, 1.0), priced("cpu:2", "CPU", 250.0, None), priced("gpu:1", "GPU", 900, None)]
    traffic = parse_traffic("00:00,100\n12:00,300\n", "day.csv")
    plan = make_plan(candidates, traffic, SLO)
    assert [c.configuration for c in plan.candidates] == ["cpu:1", "cpu:2", "gpu:1"]
    assert plan.notes == ("cpu:2, gpu:1: no price given (--cost): measured and shown, not costed",)
    used = {p.configuration for s in plan.steps for c in s.choices for p in c.parts}
    assert used == {"cpu:1"} and [o.option for o in plan.options] == ["CPU only"]


def test_an_slo_no_candidate_meets_at_any_replica_count_names_the_closest() -> None:
    """p99 <= 5 ms with a 10 ms service (CPU) and a 25 ms one (GPU): no number of replicas helps."""
    run = fixed_delay_run(fixed_delay_curve(), fixed_delay_curve(service_ms=25.0, kind="GPU"))
    tight = Slo("p99", 5.0)
    candidates = plan_candidates([run], tight, {"cpu:1": 0.05, "gpu:1": 2.5})
    plan = make_plan(candidates, peak_traffic(150.0), tight)
    assert plan.options == () and all(s.choices == () for s in plan.steps)
    (note,) = plan.notes
    assert (
        note.startswith("no candidate meets p99 <= 5 ms at any replica count")
        and "the closest, cpu:1, is predicted at 10" in note
    )
    assert "no fleet could be costed" in plan.sentence


def test_a_skipped_configuration_is_a_candidate_with_its_reason() -> None:
    run = fixed_delay_run(fixed_delay_curve(), f.curve("GPU", 1, model="fixed_delay", skipped="no GPU on this host"))
    candidates = plan_candidates([run], SLO, {"cpu:1": 0.05, "gpu:1": 2.5})
    gpu = candidates[1]
    assert (gpu.configuration, gpu.fit, gpu.note) == ("gpu:1", None, "skipped: no GPU on this host")
    assert "gpu:1: skipped: no GPU on this host" in make_plan(candidates, peak_traffic(10.0), SLO).notes


def test_every_fleet_keeps_one_replica_at_a_step_without_traffic() -> None:
    plan = make_plan([priced("cpu:1", "CPU", 100.0, 1.0)], parse_traffic("00:00,0\n01:00,50\n", "f.csv"), SLO)
    assert plan.steps[0].choices[0].parts[0].replicas == 1


@pytest.mark.parametrize("headroom", [-0.1, float("nan")])
def test_a_negative_headroom_is_refused(headroom: float) -> None:
    with pytest.raises(ConfigError, match="give a share of 0 or more"):
        make_plan([priced("cpu:1", "CPU", 100.0, 1.0)], peak_traffic(10.0), SLO, headroom=headroom)


def test_candidates_carry_their_fit_its_cross_check_and_the_measured_capacity() -> None:
    (candidate,) = plan_candidates([fixed_delay_run()], SLO, {"cpu:1": 0.05})
    assert candidate.fit is not None and candidate.fit.service_ms == pytest.approx(S)
    assert len(candidate.held_out) == 4 and candidate.error_max is not None and candidate.error_max < 0.05
    assert candidate.measured_capacity_rps == 40.0  # M/D/1's p99 at 40 req/s is 35 ms, at 60 req/s 55 ms
    assert candidate.capacity_rps == pytest.approx(theory.md1_capacity(S, 40.0, 0.99) * 1000, rel=0.02)


def test_a_fit_that_misses_its_held_out_levels_is_said_not_to_be_trusted() -> None:
    good = priced("cpu:1", "CPU", 100.0, 1.0)
    plan = make_plan([good, dataclasses.replace(good, configuration="cpu:2", error_max=0.4)], peak_traffic(50.0), SLO)
    assert plan.notes == (
        "cpu:2: its fit missed a held-out level by 40% (more than 15%): do not trust its predictions; measure it "
        "again, open loop with Poisson arrivals",
    )
