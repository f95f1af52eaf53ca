"""`harness plan`'s proposer at its seam, no server: it proposes the candidates the way the queueing fit reads them
(the rate search, Poisson arrivals), plans from the curves it is handed (M/D/1 levels of a 10 ms service), then
proposes one confirming level at one replica's share of the peak, and says predicted against measured."""

from __future__ import annotations

import dataclasses
import math

from harness.analysis.plan import CONFIRM_ERROR
from harness.analysis.traffic import peak_traffic
from harness.measure.ending import RUNNING
from harness.measure.plan import PlanProposer, PlanRequest
from harness.record.model import Curve, InstanceGroup, Run, Slo
from harness.sweep.spec import SweepSpec
from helpers import factories as f
from helpers import queueing_theory as theory

S = 10.0
SLO = Slo("p99", 40.0)


def _spec() -> SweepSpec:
    return SweepSpec(model="fixed_delay", instances=(InstanceGroup("CPU", 1),), slo=SLO, concurrency=(1, 2))


def _measured_as_md1(rates: tuple[float, ...]) -> Curve:
    levels = [theory.md1_level(rate, S) for rate in rates]
    return dataclasses.replace(f.curve("CPU", 1, levels, slo=SLO, model="fixed_delay"), dynamic_batching=False)


def _run(curves: tuple[Curve, ...]) -> Run:
    return f.run(list(curves), slo=SLO, model="fixed_delay")


def test_candidates_then_the_plan_then_one_confirming_level() -> None:
    proposer = PlanProposer(_spec(), PlanRequest(traffic=peak_traffic(150.0), costs={"cpu:1": 0.05}, headroom=0.2))
    candidate = proposer.next()
    assert candidate is not None and candidate.group == InstanceGroup("CPU", 1)
    assert candidate.spec.rate_auto and candidate.spec.arrivals == "poisson" and candidate.spec.concurrency is None
    curve = _measured_as_md1((20.0, 40.0, 60.0, 75.0))
    proposer.measured(curve)
    assert proposer.section(_run((curve,)), RUNNING, 1.0, None).plan is None  # not planned after every curve

    confirm = proposer.next()
    assert confirm is not None and proposer.plan is not None
    (cpu,) = [o for o in proposer.plan.options if o.option == "CPU only"]
    replicas = cpu.peak.parts[0].replicas
    assert replicas == math.ceil(150 * 1.2 / (theory.md1_capacity(S, 40.0, 0.99) * 1000))  # 46.3 req/s a replica: 4
    assert confirm.spec.rates == (round(150.0 / replicas, 3),) and not confirm.spec.rate_auto
    assert confirm.name == "confirm cpu:1" and confirm.group == InstanceGroup("CPU", 1)

    proposer.measured(_measured_as_md1((150.0 / replicas,)))  # what M/D/1 itself says: the fit's own model
    assert proposer.next() is None
    plan = proposer.section(_run((curve,)), "done", 2.0, None).plan
    assert plan is not None and plan.confirmation is not None
    c = plan.confirmation
    assert (c.configuration, c.replicas, c.rate_rps) == ("cpu:1", replicas, round(150.0 / replicas, 3))
    assert c.measured_ms == round(theory.md1_sojourn_quantile(0.99, 150.0 / replicas / 1000, S), 3)
    assert c.error is not None and abs(c.error) < CONFIRM_ERROR and not c.missed
    assert f"Confirmed on one replica of cpu:1 at {150 / replicas:.3g} req/s" in plan.sentence
    assert "MISSED" not in plan.sentence


def test_a_confirmation_the_plan_missed_is_said() -> None:
    proposer = PlanProposer(_spec(), PlanRequest(traffic=peak_traffic(150.0), costs={"cpu:1": 0.05}))
    proposer.next()
    proposer.measured(_measured_as_md1((20.0, 40.0, 60.0, 75.0)))
    proposer.next()
    slow = _measured_as_md1((37.5,))
    slow = dataclasses.replace(slow, levels=(dataclasses.replace(slow.levels[0], latency_ms=f.latency(80.0)),))
    proposer.measured(slow)
    plan = proposer.section(_run(()), "done", 1.0, None).plan
    assert plan is not None and plan.confirmation is not None and plan.confirmation.missed
    assert "MISSED" in plan.sentence


def test_a_run_that_ended_before_any_candidate_has_no_plan_and_says_so() -> None:
    proposer = PlanProposer(_spec(), PlanRequest(traffic=peak_traffic(150.0)))
    proposer.next()
    assert proposer.section(_run(()), "budget", 5.0, 4.0).plan is None
    assert proposer.summary(_run(())) == ["\nplan: none (no candidate was measured)"]


def test_a_run_that_ended_early_is_planned_from_what_it_measured() -> None:
    spec = dataclasses.replace(_spec(), instances=(InstanceGroup("CPU", 1), InstanceGroup("CPU", 2)))
    proposer = PlanProposer(spec, PlanRequest(traffic=peak_traffic(150.0), costs={"cpu:1": 0.05}))
    proposer.next()
    proposer.measured(_measured_as_md1((20.0, 40.0, 60.0, 75.0)))
    proposer.next()  # cpu:2 proposed; the budget ends the run while it is measured
    plan = proposer.section(_run(()), "budget", 9.0, 8.0).plan
    assert plan is not None and plan.confirmation is None
    assert plan.notes[-1] == "the run ended (budget) after 1 candidate(s): the plan rests on those only"
