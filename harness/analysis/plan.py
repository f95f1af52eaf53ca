"""The fleet a plan recommends: for every traffic step, the cheapest replicas per option (CPU only, GPU only,
mixed) that carry the step's rate times (1 + headroom) within the SLO, as each candidate's fitted queue predicts
(harness.analysis.queueing); what each option costs a day and per million requests, its energy per 1,000 requests
where measured, the rate above which a GPU fleet is the cheaper, and the sentence that says it.

Replicas get Poisson arrivals split at random (queueing's `random` balancing), so N replicas carry N times one
replica's predicted capacity. A mixed fleet (replicas of one CPU and one GPU configuration) is balanced in
proportion to capacity: every replica then runs at the same share of its own capacity, and the fleet's SLO
percentile is at most its worst part's. Every fleet keeps at least one replica, even at a step with no traffic.

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from harness.analysis.agreement import variant_note
from harness.analysis.capacity import capacity_of, curve_labels, run_labels
from harness.analysis.queueing import cross_check, error_summary, fit_queue, predict_latency, predicted_capacity
from harness.analysis.traffic import DAY_S, Traffic
from harness.analysis.verdict import replicas_needed
from harness.defaults import PLAN_HEADROOM
from harness.errors import ConfigError, ResultsError
from harness.record.model import (
    Curve,
    FleetChoice,
    FleetPart,
    PlanCandidate,
    PlanConfirmation,
    PlanOption,
    PlanResult,
    PlanStep,
    QueueFit,
    Run,
    Slo,
)
from harness.textfmt import fmt_cost, fmt_num, fmt_share, percentile_name

CPU_ONLY, GPU_ONLY, MIXED = "CPU only", "GPU only", "mixed"
BREAK_EVEN_SCAN = 100_000  # capacity steps scanned for the break-even; beyond, its bound is given instead
TRUSTED_ERROR = 0.15  # a fit that missed a held-out level by more is said to be untrustworthy (issue 23's bound)


# --- candidates -------------------------------------------------------------------------------------------------


def plan_candidates(runs: Sequence[Run], slo: Slo, costs: dict[str, float]) -> tuple[PlanCandidate, ...]:
    """Every curve of runs as a candidate: fitted, cross-checked, priced where costs name it."""
    return tuple(candidate(curve, label, slo, costs) for _, curve, label in curve_labels(runs))


def candidate(curve: Curve, label: str, slo: Slo, costs: dict[str, float]) -> PlanCandidate:
    base = PlanCandidate(
        configuration=label,
        kind=curve.instance_group.kind,
        measured_capacity_rps=capacity_of(curve, slo)[0].max_rps_within_slo,
        price_per_hour=price_of(curve, costs),
        energy_j_per_1k=energy_per_1k_requests(curve, slo),
        agreement=variant_note(curve.variant),
    )
    if curve.skipped_reason is not None:
        return replace(base, note=f"skipped: {curve.skipped_reason}")
    try:
        fit = fit_queue(curve)
    except ResultsError as exc:
        return replace(base, note=str(exc))
    checks = cross_check(curve, slo)
    mean, worst = error_summary(checks)
    return replace(
        base,
        fit=fit,
        capacity_rps=round(predicted_capacity(fit, slo), 3),
        held_out=checks,
        error_mean=mean,
        error_max=worst,
        note=_fit_note(fit, len(checks)),
    )


def price_of(curve: Curve, costs: dict[str, float]) -> float | None:
    """The price per replica-hour (harness.analysis.verdict.parse_costs's keys): by the exact instance group, else
    by kind and count (cpu:2x4 is priced as cpu:2: the prices are per machine, which threads do not change)."""
    group = curve.instance_group
    return costs.get(str(group), costs.get(f"{group.kind.lower()}:{group.count}"))


def energy_per_1k_requests(curve: Curve, slo: Slo) -> float | None:
    """GPU energy per 1,000 requests where measured: at the capacity level (replicas run near their capacity),
    else at the busiest level that has it. A level's figure is per 1,000 inferences: a request holds batch_size."""
    level = capacity_of(curve, slo)[1]
    if level is None or level.energy_j_per_1k is None:
        measured = [lv for lv in curve.levels if lv.energy_j_per_1k is not None]
        level = max(measured, key=lambda lv: lv.achieved_rps, default=None)
    if level is None or level.energy_j_per_1k is None:
        return None
    return level.energy_j_per_1k * curve.batch_size


def _fit_note(fit: QueueFit, checks: int) -> str:
    notes = []
    if fit.cv_assumed:
        notes.append("service time variability assumed exponential (no open-loop level queued enough to measure it)")
    if fit.batch_limit > 1 and fit.per_extra_request_ms == fit.service_ms:
        notes.append("no gain from batching assumed (the levels' batch sizes did not differ enough to measure it)")
    if checks == 0:
        notes.append("not cross-checked (fewer than two usable levels)")
    return "; ".join(notes)


# --- fleets -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Priced:
    """A candidate the plan can cost: fitted, within the SLO at some rate, with a price."""

    configuration: str
    is_gpu: bool
    fit: QueueFit
    capacity_rps: float
    price: float
    energy: float | None


Fleet = tuple[tuple[_Priced, int], ...]  # (candidate, replicas) per part


def make_plan(candidates: Sequence[PlanCandidate], traffic: Traffic, slo: Slo, headroom: float = PLAN_HEADROOM) -> PlanResult:
    """Per step of traffic, the cheapest fleet of each option; per option its cost over the day."""
    if not math.isfinite(headroom) or headroom < 0:
        raise ConfigError(f"headroom {headroom!r}: give a share of 0 or more, e.g. 20%")
    priced = _priced(candidates)
    latency: dict[tuple[QueueFit, float], float | None] = {}  # predictions shared by the options' fleets
    steps = tuple(PlanStep(s.time, s.offset_s, s.rps, _choices(priced, s.rps, slo, headroom, latency)) for s in traffic.steps)
    options = tuple(o for name in (CPU_ONLY, GPU_ONLY, MIXED) if (o := _option(name, steps, traffic, priced)) is not None)
    plan = PlanResult(
        headroom=headroom,
        step_s=traffic.step_s,
        steps=steps,
        options=options,
        candidates=tuple(candidates),
        break_even_rps=break_even_rps(priced, headroom),
        notes=_notes(candidates, priced, slo),
    )
    return replace(plan, sentence=plan_sentence(plan, traffic, slo))


def _priced(candidates: Sequence[PlanCandidate]) -> list[_Priced]:
    return [
        _Priced(c.configuration, c.kind == "GPU", c.fit, c.capacity_rps, c.price_per_hour, c.energy_j_per_1k)
        for c in candidates
        if c.fit is not None and c.capacity_rps and c.price_per_hour is not None
    ]


def _choices(
    priced: list[_Priced], rps: float, slo: Slo, headroom: float, latency: dict[tuple[QueueFit, float], float | None]
) -> tuple[FleetChoice, ...]:
    need = rps * (1 + headroom)
    fleets = {
        CPU_ONLY: _cheapest(_single(p, need) for p in priced if not p.is_gpu),
        GPU_ONLY: _cheapest(_single(p, need) for p in priced if p.is_gpu),
        MIXED: _cheapest(fleet for c in priced if not c.is_gpu for g in priced if g.is_gpu for fleet in _mixes(c, g, need)),
    }
    return tuple(_choice(name, fleet, rps, slo, latency) for name, fleet in fleets.items() if fleet)


def _single(candidate: _Priced, need: float) -> Fleet:
    return ((candidate, replicas_needed(need, candidate.capacity_rps)),)


def _mixes(cpu: _Priced, gpu: _Priced, need: float) -> Iterable[Fleet]:
    """Every fleet of n GPU replicas topped up with the fewest CPU replicas, n from 0 to all-GPU."""
    for gpus in range(replicas_needed(need, gpu.capacity_rps) + 1):
        rest = need - gpus * gpu.capacity_rps
        cpus = replicas_needed(rest, cpu.capacity_rps) if rest > 0 or gpus == 0 else 0
        yield tuple((p, n) for p, n in ((cpu, cpus), (gpu, gpus)) if n > 0)


def _cheapest(fleets: Iterable[Fleet]) -> Fleet | None:
    """The lowest cost per hour; on a tie, fewer replicas, then more capacity."""
    return min(
        fleets,
        key=lambda f: (_cost(f), sum(n for _, n in f), -_capacity(f)),
        default=None,
    )


def _cost(fleet: Fleet) -> float:
    return sum(p.price * n for p, n in fleet)


def _capacity(fleet: Fleet) -> float:
    return sum(p.capacity_rps * n for p, n in fleet)


def _choice(name: str, fleet: Fleet, rps: float, slo: Slo, latency: dict[tuple[QueueFit, float], float | None]) -> FleetChoice:
    """The fleet as recorded, with its predicted SLO percentile at rps: each replica gets rps in proportion to its
    capacity; the fleet's percentile is at most its worst part's."""
    total = _capacity(fleet)
    predicted = []
    for part, _ in fleet:
        rate = rps * part.capacity_rps / total
        if (part.fit, rate) not in latency:
            latency[(part.fit, rate)] = predict_latency(part.fit, rate, slo.percentile)
        predicted.append(latency[(part.fit, rate)])
    worst = None if any(p is None for p in predicted) else max(p for p in predicted if p is not None)
    parts = tuple(FleetPart(p.configuration, n) for p, n in fleet)
    return FleetChoice(name, parts, round(total, 3), round(_cost(fleet), 6), None if worst is None else round(worst, 3))


def _option(name: str, steps: Sequence[PlanStep], traffic: Traffic, priced: list[_Priced]) -> PlanOption | None:
    """One option over the traffic: cost a day (the span scaled to 24 h), per million requests, energy."""
    choices = [next((c for c in s.choices if c.option == name), None) for s in steps]
    if any(c is None for c in choices):
        return None
    chosen = [c for c in choices if c is not None]
    hours = traffic.step_s / 3600.0
    cost = sum(c.cost_per_hour * hours for c in chosen)
    requests = sum(s.rps * traffic.step_s for s in steps)
    peak_index = max(range(len(steps)), key=lambda i: steps[i].rps)
    return PlanOption(
        option=name,
        cost_per_day=round(cost * DAY_S / traffic.span_s, 6),
        cost_per_million=round(cost / requests * 1e6, 6) if requests > 0 else None,
        energy_j_per_1k=_energy(steps, chosen, priced, traffic.step_s),
        peak=chosen[peak_index],
    )


def _energy(steps: Sequence[PlanStep], chosen: Sequence[FleetChoice], priced: list[_Priced], step_s: float) -> float | None:
    """Joules per 1,000 requests over the traffic, where every configuration the option uses was measured."""
    energy = {p.configuration: p.energy for p in priced}
    capacity = {p.configuration: p.capacity_rps for p in priced}
    joules = requests = 0.0
    for step, choice in zip(steps, chosen, strict=True):
        for part in choice.parts:
            per_1k = energy[part.configuration]
            if per_1k is None:
                return None
            served = step.rps * step_s * part.replicas * capacity[part.configuration] / choice.capacity_rps
            joules, requests = joules + per_1k * served / 1000.0, requests + served
    return round(joules / requests * 1000.0, 3) if requests > 0 else None


def break_even_rps(priced: Sequence[_Priced], headroom: float) -> float | None:
    """The rate above which the cheapest GPU-only fleet always costs less than the cheapest CPU-only one; None
    where a GPU never stays cheaper (its price per req/s of capacity is not below the CPUs'), 0 where it is cheaper
    at every rate. Fleet costs are steps (whole replicas): they may cross several times before GPUs stay ahead."""
    cpus, gpus = [p for p in priced if not p.is_gpu], [p for p in priced if p.is_gpu]
    if not cpus or not gpus:
        return None
    cpu_slope, gpu_slope = (min(p.price / p.capacity_rps for p in group) for group in (cpus, gpus))
    if gpu_slope >= cpu_slope:
        return None
    best_gpu = min(gpus, key=lambda p: p.price / p.capacity_rps)
    bound = best_gpu.price / (cpu_slope - gpu_slope)  # above: gpu <= p (need / c + 1) < need x cpu_slope <= cpu
    edges = _edges(cpus + gpus, bound)
    if edges is None:
        return round(bound / (1 + headroom), 3)
    last_not_cheaper = 0.0
    for edge in edges:  # the costs are constant on (previous edge, edge]: judged at edge
        if _fleet_cost(gpus, edge) >= _fleet_cost(cpus, edge):
            last_not_cheaper = edge
    return round(last_not_cheaper / (1 + headroom), 3)


def _edges(priced: Sequence[_Priced], bound: float) -> list[float] | None:
    """The capacities needed at which some fleet adds a replica, up to bound (None: too many to scan)."""
    if sum(bound / p.capacity_rps for p in priced) > BREAK_EVEN_SCAN:
        return None
    return sorted({k * p.capacity_rps for p in priced for k in range(1, math.ceil(bound / p.capacity_rps) + 2)})


def _fleet_cost(group: Sequence[_Priced], need: float) -> float:
    return min(p.price * replicas_needed(need, p.capacity_rps) for p in group)


# --- words ------------------------------------------------------------------------------------------------------


def _notes(candidates: Sequence[PlanCandidate], priced: list[_Priced], slo: Slo) -> tuple[str, ...]:
    notes = []
    unpriced = [c.configuration for c in candidates if c.price_per_hour is None]
    if unpriced:
        notes.append(f"{', '.join(unpriced)}: no price given (--cost): measured and shown, not costed")
    notes += [f"{c.configuration}: {c.note}" for c in candidates if c.fit is None and c.note]
    notes += [
        f"{c.configuration}: its fit missed a held-out level by {fmt_share(c.error_max)} (more than "
        f"{fmt_share(TRUSTED_ERROR)}): do not trust its predictions; measure it again, open loop with Poisson arrivals"
        for c in candidates
        if c.error_max is not None and c.error_max > TRUSTED_ERROR
    ]
    fitted = [c for c in candidates if c.fit is not None]
    if fitted and not any(c.capacity_rps for c in fitted):
        notes.append(_none_meets(fitted, slo))
    elif not priced:
        notes.append("no candidate is both priced and within the SLO: no fleet is costed; give --cost for them")
    return tuple(notes)


def _none_meets(fitted: Sequence[PlanCandidate], slo: Slo) -> str:
    """No replica count meets the SLO: name the candidate whose light-load latency comes closest."""
    light = {c.configuration: predict_latency(c.fit, 0.0, slo.percentile) for c in fitted if c.fit is not None}
    closest = min(light, key=lambda name: light[name] or math.inf)
    return (
        f"no candidate meets {slo} at any replica count: even at light load the closest, {closest}, is predicted at "
        f"{fmt_num(light[closest])} ms; a faster configuration (a GPU, a smaller or quantized model) is needed"
    )


def fleet_text(choice: FleetChoice) -> str:
    return " + ".join(f"{p.replicas} x {p.configuration}" for p in choice.parts)


def plan_sentence(plan: PlanResult, traffic: Traffic, slo: Slo) -> str:
    """The answer in words: the cheapest fleet at the peak, the other options, the break-even, how well the
    predictions were checked."""
    head = f"At a peak of {fmt_num(traffic.peak_rps)} req/s within {slo} (headroom {fmt_share(plan.headroom)})"
    if not plan.options:
        return f"{head}, no fleet could be costed: {'; '.join(plan.notes) or 'no candidate was measured'}."
    best = min(plan.options, key=lambda o: o.cost_per_day)
    others = [o for o in plan.options if o is not best and fleet_text(o.peak) != fleet_text(best.peak)]
    parts = [f"{head}, the cheapest is {_option_text(best, slo, plan.candidates)}"]
    parts += [f"{o.option}: {_option_text(o, slo, plan.candidates)}" for o in others]
    if plan.break_even_rps is not None:
        parts.append(f"a GPU fleet is the cheaper above {fmt_num(plan.break_even_rps)} req/s")
    return "; ".join(parts) + ". " + _accuracy(plan.candidates)


def _option_text(option: PlanOption, slo: Slo, candidates: Sequence[PlanCandidate] = ()) -> str:
    predicted = option.peak.predicted_ms
    at = f", predicted {percentile_name(slo.percentile)} {fmt_num(predicted)} ms" if predicted is not None else ""
    variants = [c.agreement for c in candidates if c.agreement and c.configuration in _configurations(option.peak)]
    said = "".join(f"; {note}" for note in variants)  # a variant is never recommended without its agreement
    return f"{fleet_text(option.peak)} ({option.option}{at}{said}) at {fmt_cost(option.cost_per_day)} a day"


def _configurations(choice: FleetChoice) -> set[str]:
    return {part.configuration for part in choice.parts}


def _accuracy(candidates: Sequence[PlanCandidate]) -> str:
    checked = [c for c in candidates if c.error_mean is not None]
    if not checked:
        return "The predictions are not cross-checked: no candidate has two usable levels."
    mean = sum(c.error_mean or 0.0 for c in checked) / len(checked)
    worst = max(c.error_max or 0.0 for c in checked)
    return f"Held-out levels were predicted within {fmt_share(mean)} on average (worst {fmt_share(worst)})."


def plan_lines(runs: Sequence[Run]) -> list[str]:
    """What `harness compare` and `harness verdict` say of the runs that hold a plan: its answer, by run label."""
    return [f"plan of {label}: {run.plan.sentence}" for label, run in zip(run_labels(runs), runs, strict=True) if run.plan]


# --- confirmation ---------------------------------------------------------------------------------------------

CONFIRM_ERROR = 0.20  # a confirming level whose measured percentile the plan missed by more is said in the answer


def confirmation_target(plan: PlanResult) -> FleetPart | None:
    """The configuration a plan measures once more: the CPU-only fleet's at the peak (None: no CPU fleet)."""
    cpu = next((o for o in plan.options if o.option == CPU_ONLY), None)
    return cpu.peak.parts[0] if cpu is not None and cpu.peak.parts else None


def replica_rate(plan: PlanResult, part: FleetPart) -> float:
    """The rate one replica of the fleet gets at the traffic's peak (random split: the peak over the replicas)."""
    peak = max((step.rps for step in plan.steps), default=0.0)
    return peak / part.replicas


def confirmed(plan: PlanResult, part: FleetPart, slo: Slo, measured_ms: float | None) -> PlanConfirmation:
    """What the plan predicted for one replica at its share of the peak, against what was measured there."""
    rate = replica_rate(plan, part)
    fit = next((c.fit for c in plan.candidates if c.configuration == part.configuration), None)
    predicted = predict_latency(fit, rate, slo.percentile) if fit is not None else None
    error = predicted / measured_ms - 1.0 if predicted is not None and measured_ms else None
    return PlanConfirmation(
        configuration=part.configuration,
        replicas=part.replicas,
        rate_rps=round(rate, 3),
        percentile=slo.percentile,
        predicted_ms=None if predicted is None else round(predicted, 3),
        measured_ms=None if measured_ms is None else round(measured_ms, 3),
        error=None if error is None else round(error, 4),
        missed=error is not None and abs(error) > CONFIRM_ERROR,
    )


def with_confirmation(plan: PlanResult, confirmation: PlanConfirmation) -> PlanResult:
    """The plan with its confirming measurement, said in its answer (a miss over CONFIRM_ERROR is not hidden)."""
    return replace(plan, confirmation=confirmation, sentence=f"{plan.sentence} {confirmation_text(confirmation)}")


def confirmation_text(c: PlanConfirmation) -> str:
    p = percentile_name(c.percentile)
    at = f"one replica of {c.configuration} at {fmt_num(c.rate_rps)} req/s (its share of the peak over {c.replicas})"
    if c.measured_ms is None or c.predicted_ms is None:
        return f"Confirmation on {at}: not measured, the run ended first."
    verdict = (
        f"MISSED: the plan was off by {fmt_share(abs(c.error or 0.0))}, more than {fmt_share(CONFIRM_ERROR)}; "
        "trust its replica counts less"
        if c.missed
        else f"within {fmt_share(abs(c.error or 0.0))}"
    )
    figures = f"{p} {fmt_num(c.measured_ms)} ms measured, {fmt_num(c.predicted_ms)} ms predicted"
    return f"Confirmed on {at}: {figures} ({verdict})."
