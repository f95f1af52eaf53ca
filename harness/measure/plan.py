"""`harness plan`'s proposer: measure each candidate the way the queueing fit reads it, plan the fleet, confirm it.

1. Candidates: for each model asked (the original, then its variants), the curves `--instances` lists, or else the
   configuration search (harness.measure.configurations) for CPU and, where the server has one, GPU. Each is
   measured by the open-loop rate search with Poisson arrivals: its probes run the configuration from light load
   to past its capacity, which is what harness.analysis.queueing fits a queue on and cross-checks.
2. The plan (harness.analysis.plan): every measured curve a candidate, per traffic step the cheapest fleet per
   option.
3. Confirmation: the CPU-only fleet's configuration measured once more, one level at the rate one replica gets at
   the peak; predicted against measured goes into the answer, a miss over harness.analysis.plan.CONFIRM_ERROR said.
The budget (the run's --budget) is shared by all of it; a run that ends early is planned from what it measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from harness.analysis.capacity import curve_labels
from harness.analysis.plan import confirmation_target, confirmed, make_plan, plan_candidates, replica_rate, with_confirmation
from harness.analysis.traffic import Traffic
from harness.measure.configurations import ConfigurationSearch, SearchPlan
from harness.measure.ending import RUNNING
from harness.measure.fixed import FixedCurves
from harness.measure.job import CurveSpec, Proposer
from harness.record.model import Curve, FleetPart, Metadata, PlanResult, Run
from harness.sweep.spec import SweepSpec
from harness.textfmt import fmt_num
from harness.triton.control import ControlClient


@dataclass(frozen=True)
class PlanRequest:
    """What `harness plan` asked for beyond the levels: the traffic, the prices, the headroom, the candidates."""

    traffic: Traffic
    costs: dict[str, float] = field(default_factory=dict)
    headroom: float = 0.2
    search: SearchPlan | None = None  # None: the --instances list is the candidates


class PlanProposer:
    def __init__(self, spec: SweepSpec, request: PlanRequest) -> None:
        # the candidates' levels: the rate search from its start probe, Poisson arrivals (what the fit reads)
        self.spec = replace(spec, concurrency=None, rates=None, rate_auto=True, arrivals="poisson")
        self.request = request
        self._inners = self._candidate_proposers()
        self._proposals: list[CurveSpec] = []  # in the order their curves were measured
        self._curves: list[Curve] = []
        self._pending: CurveSpec | None = None
        self.plan: PlanResult | None = None
        self._confirming: FleetPart | None = None
        peak = max(step.rps for step in request.traffic.steps)
        self.title = (
            f"planning [bold]{', '.join(self.spec.all_models)}[/] for a peak of {fmt_num(peak)} req/s "
            f"({len(request.traffic.steps)} traffic step(s))"
        )
        self.planned_levels: int | None = None

    def _candidate_proposers(self) -> list[Proposer]:
        if self.request.search is None:
            return [FixedCurves(self.spec)]  # every model under every listed group
        models = self.spec.all_models
        return [ConfigurationSearch(replace(self.spec, model=m, models=()), self.request.search) for m in models]

    def check(self, control: ControlClient) -> None:
        for inner in self._inners:
            inner.check(control)

    def next(self) -> CurveSpec | None:
        while self._inners:
            if (proposal := self._inners[0].next()) is not None:
                self._pending = proposal
                return proposal
            self._inners.pop(0)
        if self.plan is None:
            self.plan = _off_the_event_loop(self._plan)
            return self._confirmation()
        return None

    def measured(self, curve: Curve) -> None:
        if self._confirming is not None:
            assert self.plan is not None
            level = curve.levels[0] if curve.levels else None
            measured_ms = level.latency_ms.get(self.spec.slo.percentile) if level is not None else None
            self.plan = with_confirmation(self.plan, confirmed(self.plan, self._confirming, self.spec.slo, measured_ms))
            self._confirming = None
            return
        assert self._pending is not None
        self._inners[0].measured(curve)
        self._proposals.append(self._pending)
        self._curves.append(curve)
        self._pending = None

    def _plan(self) -> PlanResult | None:
        """The plan from every candidate measured so far (None before the first)."""
        if not self._curves:
            return None
        candidates = plan_candidates([self._candidates_run()], self.spec.slo, self.request.costs)
        return make_plan(candidates, self.request.traffic, self.spec.slo, self.request.headroom)

    def _candidates_run(self) -> Run:
        """The candidates as one run: its curve labels are the plan's configuration names."""
        return Run(metadata=Metadata(model=self.spec.model), slo=self.spec.slo, curves=tuple(self._curves))

    def _confirmation(self) -> CurveSpec | None:
        """One more level: the CPU fleet's configuration at one replica's share of the peak (None: no CPU fleet)."""
        plan = self.plan
        part = confirmation_target(plan) if plan is not None else None
        if plan is None or part is None:
            return None
        labels = [label for _, _, label in curve_labels([self._candidates_run()])]
        proposal = self._proposals[labels.index(part.configuration)]
        rate = round(replica_rate(plan, part), 3)
        self._confirming = part
        spec = replace(proposal.spec, rates=(rate,), rate_auto=False, arrivals="poisson")
        announce = f"confirmation: {part.configuration} at {rate:g} req/s, one of {part.replicas} replicas at the peak"
        return CurveSpec(spec, proposal.group, name=f"confirm {proposal.name or proposal.group}", announce=announce)

    def section(self, run: Run, stopped: str, elapsed_s: float, budget_s: float | None) -> Run:
        if stopped == RUNNING and self.plan is None:
            return run  # planned once the candidates are measured, not after every curve
        plan = self.plan or _off_the_event_loop(self._plan)  # a run that ended early is planned from what it measured
        if plan is None:
            return run
        if self.plan is None:
            note = f"the run ended ({stopped}) after {len(self._curves)} candidate(s): the plan rests on those only"
            plan = replace(plan, notes=(*plan.notes, note))
        return replace(run, plan=plan)

    def summary(self, run: Run) -> list[str]:
        if run.plan is None:
            return ["\nplan: none (no candidate was measured)"]
        return [f"\nplan: {run.plan.sentence}", *(f"  note: {note}" for note in run.plan.notes)]


def _off_the_event_loop(compute: Callable[[], PlanResult | None]) -> PlanResult | None:
    """Run the plan's fits (tens of seconds of simulation) on an OS thread while the master's gevent loop goes on
    answering its workers' heartbeats: computed on the loop, a plan of 22 candidates once outlasted Locust's
    heartbeat timeout and the idle worker quit before the confirmation level."""
    import gevent  # the session's process runs Locust's master, so gevent is there; imported here, not for unit use

    return gevent.get_hub().threadpool.apply(compute)
