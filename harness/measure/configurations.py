"""`harness search`'s proposer: the configuration search's generator (harness.sweep.configuration_search, quick or
brute) proposes a configuration, the session measures it as one curve, the generator reacts; the run's `search`
section ranks them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from harness.analysis.capacity import capacity_of
from harness.analysis.saturation import read_level
from harness.analysis.verdict import cost_per_million
from harness.measure.job import CurveSpec
from harness.record.model import Curve, InstanceGroup, Run, SearchResult, SearchRow
from harness.record.sysinfo import host_info
from harness.sweep.configuration_search import Candidate, Outcome, SearchSpace, brute_next, quick_next
from harness.sweep.spec import SweepSpec
from harness.triton.control import ControlClient
from harness.triton.variants import check_deployment

NEXT = {"quick": quick_next, "brute": brute_next}


@dataclass(frozen=True)
class SearchPlan:
    """What `harness search` asked for beyond the levels: the space, the generator, the prices."""

    space: SearchSpace
    mode: str = "quick"  # a key of NEXT
    costs: dict[str, float] = field(default_factory=dict)  # per hour, "cpu:1" -> 0.20


class ConfigurationSearch:
    def __init__(self, spec: SweepSpec, plan: SearchPlan) -> None:
        self.spec, self.plan = spec, plan
        self.title = f"searching configurations of [bold]{spec.model}[/] ({plan.mode})"
        self.planned_levels: int | None = None
        self.outcomes: list[Outcome] = []
        self.latencies: dict[str, float | None] = {}
        self._host_cores: int | None = None
        self._pending: Candidate | None = None

    def check(self, control: ControlClient) -> None:
        """Every configuration reloads the model: the server must allow it (explicit model control)."""
        check_deployment(control, self.spec.model, (InstanceGroup(),))
        self._host_cores = host_info().get("cores")

    def next(self) -> CurveSpec | None:
        candidate = NEXT[self.plan.mode](self.plan.space, self.outcomes, self._host_cores)
        if candidate is None:
            return None
        self._pending = candidate
        tried = {o.candidate for o in self.outcomes}
        left = len([c for c in self.plan.space.all() if c not in tried]) - 1
        spec = replace(
            self.spec,
            instances=(candidate.group,),
            max_batch_size=candidate.max_batch_size or None,
            dynamic_batching=candidate.queue_delay_us is not None,
            queue_delay_us=candidate.queue_delay_us,
        )
        announce = f"configuration {len(self.outcomes) + 1}: {candidate} ({len(self.outcomes)} done, at most {left} left)"
        return CurveSpec(spec, candidate.group, name=str(candidate), announce=announce)

    def measured(self, curve: Curve) -> None:
        assert self._pending is not None
        candidate, self._pending = self._pending, None
        read = read_level(curve)  # the level the saturation sentence reads: an unstable one's CPU is not evidence
        cpu = read[0].server_cpu_cores if read else None
        skipped = curve.skipped_reason is not None
        self.outcomes.append(Outcome(candidate, curve.capacity.max_rps_within_slo, cpu, skipped=skipped))
        _, level = capacity_of(curve, None)  # the SLO percentile there: the configuration's y on the Pareto front
        self.latencies[str(candidate)] = None if level is None else level.latency_ms.get(self.spec.slo.percentile)

    def section(self, run: Run, stopped: str, elapsed_s: float, budget_s: float | None) -> Run:
        return replace(run, search=self._result(stopped, elapsed_s, budget_s))

    def _result(self, stopped: str, elapsed_s: float, budget_s: float | None) -> SearchResult:
        rows = [self._row(rank, o) for rank, o in enumerate(_ranked(self.outcomes), start=1)]
        best = {
            kind: next((r.configuration for r in rows if r.kind == kind and r.capacity_rps), None) for kind in ("CPU", "GPU")
        }
        return SearchResult(
            mode=self.plan.mode,
            configurations=tuple(rows),
            best_cpu=best["CPU"],
            best_gpu=best["GPU"],
            elapsed_s=round(elapsed_s, 1),
            budget_s=budget_s,
            stopped=stopped,
        )

    def _row(self, rank: int, o: Outcome) -> SearchRow:
        per_hour = self.plan.costs.get(f"{o.candidate.group.kind.lower()}:{o.candidate.group.count}")
        cost = cost_per_million(1, per_hour, o.capacity_rps) if per_hour is not None and o.capacity_rps else None
        return SearchRow(
            rank=rank,
            configuration=str(o.candidate),
            kind=o.candidate.group.kind,
            capacity_rps=o.capacity_rps,
            server_cpu_cores=o.server_cpu_cores,
            slo_latency_ms=self.latencies.get(str(o.candidate)),
            cost_per_million=None if cost is None else round(cost, 4),
            skipped_reason="skipped" if o.skipped else None,
        )

    def summary(self, run: Run) -> list[str]:
        result = run.search
        if result is None:
            return []
        lines = [
            f"\nsearch ({result.mode}, {result.elapsed_s:.0f} s, {len(result.configurations)} configurations, "
            f"ended: {result.stopped})"
        ]
        for row in result.configurations:
            capacity = f"{row.capacity_rps:,.0f} req/s" if row.capacity_rps else "-"
            lines.append(f"  {row.rank:>2}. {row.configuration:<24} {capacity:>14}  {row.skipped_reason or ''}")
        lines.append(f"  best CPU: {result.best_cpu or 'none within the SLO'}; best GPU: {result.best_gpu or 'none'}")
        return lines


def _ranked(outcomes: list[Outcome]) -> list[Outcome]:
    return sorted(outcomes, key=lambda o: (o.skipped, -(o.capacity_rps or 0.0)))
