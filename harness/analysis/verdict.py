"""The answer to "is a GPU necessary?": which measured configurations sustain a target load within an SLO,
how many replicas and what cost the others would need. Pure: no plotting, no I/O."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from harness.analysis.agreement import variant_note
from harness.analysis.capacity import capacity_of, curve_labels, stability_advice
from harness.errors import ConfigError, ResultsError
from harness.record.model import Curve, Run, Slo
from harness.textfmt import NONE, fmt_bound, fmt_cost, fmt_num, text_table

_COST_ITEM = re.compile(r"^(cpu|gpu):([1-9][0-9]*)=([0-9]+(?:\.[0-9]*)?|\.[0-9]+)$", re.IGNORECASE)
_COST_HELP = "write INSTANCES=DOLLARS_PER_HOUR pairs separated by commas, e.g. cpu:1=0.20,gpu:1=2.50"


@dataclass(frozen=True)
class VerdictRow:
    config: str  # "cpu:2", qualified by run label and/or model when several are compared
    is_gpu: bool
    capacity_rps: float | None  # within the SLO on one server
    meets: bool  # capacity >= target on one server
    replicas: int | None  # ceil(target / capacity): an estimate assuming linear scaling
    cost_per_hour: float | None
    cost_per_million: float | None  # dollars per million requests at the target load
    skipped_reason: str | None = None
    from_unstable: bool = False  # the capacity was decided on an unstable level's worst window
    advice: str = ""  # for an unstable capacity: the flags that would make its levels stable
    reached: bool | None = None  # False: a lower bound (the highest load measured still met the SLO)
    variant: str = ""  # a variant's note: what it is of, and its agreement (harness.analysis.agreement.variant_note)
    below_bound: bool = False  # a variant whose answers stray beyond its bound: picked only when nothing else meets

    @property
    def short_of_target(self) -> bool:
        """Measured only below the target, still within the SLO there: whether it meets the target is unknown."""
        return self.reached is False and not self.meets and bool(self.capacity_rps)


@dataclass(frozen=True)
class Verdict:
    sentence: str
    rows: tuple[VerdictRow, ...]
    meets: tuple[str, ...]  # configs that meet the target on one server
    closest: str | None  # the config the sentence names: the pick among those meeting, else the nearest


def parse_costs(text: str) -> dict[str, float]:
    """Parse "cpu:1=0.20,gpu:1=2.50" into {"cpu:1": 0.2, "gpu:1": 2.5} (dollars per server-hour)."""
    costs: dict[str, float] = {}
    for item in text.split(","):
        match = _COST_ITEM.match(item.strip())
        if match is None:
            raise ConfigError(f"--cost {text!r}: {item.strip()!r} is not INSTANCES=DOLLARS_PER_HOUR; {_COST_HELP}")
        key = f"{match.group(1).lower()}:{match.group(2)}"
        if key in costs:
            raise ConfigError(f"--cost {text!r}: {key} is given twice; give each instance group once")
        costs[key] = float(match.group(3))
    return costs


def decide(runs: Sequence[Run], target_rps: float, slo: Slo, costs: dict[str, float] | None = None) -> Verdict:
    """Weigh every measured configuration of runs against target_rps within slo, and say it in one sentence."""
    if not math.isfinite(target_rps) or target_rps <= 0:
        raise ConfigError(f"target throughput {target_rps!r} must be a positive number of requests per second")
    rows = tuple(
        _row(curve, key, target_rps, slo, costs or {}, stability_advice(runs[i].metadata.settings))
        for i, curve, key in curve_labels(runs)
    )
    measured = [r for r in rows if r.skipped_reason is None]
    if not measured:
        raise ResultsError("the runs hold no measured configuration (all skipped or empty); measure one first")
    sentence, named = _sentence(measured, target_rps, slo)
    return Verdict(sentence, rows, tuple(r.config for r in measured if r.meets), named)


def _row(curve: Curve, key: str, target: float, slo: Slo, costs: dict[str, float], advice: str) -> VerdictRow:
    row = _measured_row(curve, key, target, slo, costs, advice)
    below = curve.variant is not None and curve.variant.below_bound
    return replace(row, variant=variant_note(curve.variant), below_bound=below) if curve.variant else row


def _measured_row(curve: Curve, key: str, target: float, slo: Slo, costs: dict[str, float], advice: str) -> VerdictRow:
    is_gpu = curve.instance_group.kind == "GPU"
    per_hour = costs.get(str(curve.instance_group))
    if curve.skipped_reason is not None or not curve.levels:
        return VerdictRow(key, is_gpu, None, False, None, per_hour, None, curve.skipped_reason or "no levels")
    cap, _ = capacity_of(curve, slo)
    capacity, unstable = cap.max_rps_within_slo, cap.from_unstable
    advice = advice if unstable else ""
    if not capacity:  # None, or a level that served nothing
        return VerdictRow(key, is_gpu, capacity, False, None, per_hour, None, from_unstable=unstable, advice=advice)
    replicas = replicas_needed(target, capacity)
    per_million = cost_per_million(replicas, per_hour, target) if per_hour is not None else None
    return VerdictRow(
        key,
        is_gpu,
        capacity,
        capacity >= target,
        replicas,
        per_hour,
        per_million,
        from_unstable=unstable,
        advice=advice,
        reached=cap.reached,
    )


def replicas_needed(target_rps: float, capacity_rps: float) -> int:
    """Servers needed for the target, assuming throughput scales linearly with replicas (an estimate)."""
    return max(1, math.ceil(target_rps / capacity_rps - 1e-9))  # tolerance: 500/250 must stay 2


def example_rate(capacities: Sequence[float]) -> float:
    """A round traffic about twice the best single-replica capacity (7,952 -> 20,000): large enough that every
    configuration needs replicas, so the report's example says what each capacity means for a fleet."""
    top = 2 * max(capacities)
    step = 10 ** math.floor(math.log10(top))
    return step * math.ceil(top / step - 1e-9)


def example_fleet_sentence(run: Run, headroom: float) -> str | None:
    """What each measured capacity means in replicas for an example traffic (linear scaling, headroom included);
    None where no curve has a capacity. A lower-bound capacity gives an upper bound on replicas ("at most")."""
    rows = [(label, *capacity_of(curve, None)) for _, curve, label in curve_labels([run])]
    sized = [(label, cap) for label, cap, _ in rows if cap.max_rps_within_slo]
    if not sized:
        return None
    rate = example_rate([cap.max_rps_within_slo or 0.0 for _, cap in sized])
    fleets = [
        f"{'at most ' if cap.reached is False else ''}{replicas_needed(rate * (1 + headroom), cap.max_rps_within_slo or 1.0)} "
        f"of {label}"
        for label, cap in sized
    ]
    return (
        f"For example, {rate:,.0f} req/s within {run.slo} with {headroom:.0%} headroom takes {' or '.join(fleets)} "
        "replicas (capacity scaled linearly; harness plan models queueing and a day of traffic)."
    )


def cost_per_million(replicas: int, cost_per_hour: float, target_rps: float) -> float:
    """Dollars per million requests when `replicas` servers carry the target load around the clock."""
    return replicas * cost_per_hour / (target_rps * 3600) * 1e6


def _sentence(rows: list[VerdictRow], target: float, slo: Slo) -> tuple[str, str | None]:
    """The answer, and the config it names; a capacity it rests on that came from unstable levels says so, and a
    variant whose answers stray beyond its agreement bound is picked only when nothing else meets, and named so."""
    cpus = [r for r in rows if not r.is_gpu]
    if cpu_pick := _pick([r for r in cpus if r.meets]):
        return _not_necessary(cpu_pick, target, slo) + _caveat([cpu_pick]), cpu_pick.config
    if unknown := [r for r in cpus if r.short_of_target]:
        gpu = _pick([r for r in rows if r.is_gpu and r.meets])
        return _undecided(unknown, gpu, target, slo) + _caveat(([gpu] if gpu else []) + unknown), None
    if gpu_pick := _pick([r for r in rows if r.is_gpu and r.meets]):
        best_cpu = _highest([r for r in cpus if r.capacity_rps])
        named = [gpu_pick] + ([best_cpu] if best_cpu else [])
        return _necessary(gpu_pick, cpus, target, slo) + _caveat(named), gpu_pick.config
    closest = _highest([r for r in rows if r.capacity_rps])
    return _none_meets(closest, target, slo) + _caveat([closest] if closest else []), (closest.config if closest else None)


def _caveat(named: list[VerdictRow]) -> str:
    unstable = [r for r in named if r.from_unstable]
    strays = [r for r in named if r.below_bound]
    text = ""
    if unstable:
        configs = ", ".join(r.config for r in unstable)
        text += f" Caveat: {configs} measured from unstable levels (judged on their worst windows); {unstable[0].advice}."
    for row in strays:
        text += f" Caveat: {row.config} is a variant BELOW its agreement bound ({row.variant}): its answers differ"
        text += " from the original's."
    return text


def _not_necessary(pick: VerdictRow, target: float, slo: Slo) -> str:
    return f"A GPU is not necessary: {_sustains(pick)} at {slo}, above the {fmt_num(target)} req/s target{_cost(pick)}."


def _necessary(pick: VerdictRow, cpus: list[VerdictRow], target: float, slo: Slo) -> str:
    if not cpus:  # without a CPU measurement the question stays open
        return (
            f"Only GPU configurations were measured: {_sustains(pick)} at {slo}, above the {fmt_num(target)} req/s "
            f"target{_cost(pick)}; measure a CPU configuration to tell whether a GPU is necessary."
        )
    best = _highest([r for r in cpus if r.capacity_rps])
    best_text = f"best: {best.config} at {fmt_num(best.capacity_rps)} req/s" if best else f"none stays within {slo}"
    return (
        f"A GPU is necessary: no CPU configuration reaches {fmt_num(target)} req/s at {slo} ({best_text}); "
        f"{_sustains(pick)}{_cost(pick)}."
    )


def _undecided(unknown: list[VerdictRow], gpu: VerdictRow | None, target: float, slo: Slo) -> str:
    """A CPU configuration measured only below the target, still within the SLO: no answer yet, and what gets one."""
    names = ", ".join(f"{r.config} ({fmt_bound(r.capacity_rps, r.reached)} req/s)" for r in unknown)
    gpu_text = f" Meanwhile {_sustains(gpu)}{_cost(gpu)}." if gpu else ""
    return (
        f"Not decided: {names} still met {slo} at the highest load measured, below the {fmt_num(target)} req/s "
        "target; measure higher loads (--concurrency auto, a higher --max-concurrency, or --rate auto) before "
        f"concluding that a GPU is necessary.{gpu_text}"
    )


def _none_meets(closest: VerdictRow | None, target: float, slo: Slo) -> str:
    head = f"No measured configuration meets {fmt_num(target)} req/s at {slo}"
    if closest is None:
        return f"{head}; none stays within {slo} at any measured load."
    return (
        f"{head}; the closest is {closest.config} at {fmt_num(closest.capacity_rps)} req/s "
        f"(would need {closest.replicas} replicas, estimate)."
    )


def _pick(rows: list[VerdictRow]) -> VerdictRow | None:
    """The cheapest per million requests where costs are known, else the highest capacity; a variant below its
    agreement bound only when no other configuration meets."""
    rows = [r for r in rows if not r.below_bound] or rows
    priced = [r for r in rows if r.cost_per_million is not None]
    return min(priced, key=lambda r: r.cost_per_million or 0.0) if priced else _highest(rows)


def _highest(rows: list[VerdictRow]) -> VerdictRow | None:
    return max(rows, key=lambda r: r.capacity_rps or 0.0, default=None)


def _sustains(row: VerdictRow) -> str:
    unstable = " (from unstable levels)" if row.from_unstable else ""
    variant = f" ({row.variant.split(' (')[0]})" if row.variant else ""
    return f"{row.config}{variant} sustains {fmt_bound(row.capacity_rps, row.reached)} req/s{unstable}"


def _cost(row: VerdictRow) -> str:
    return f", at {fmt_cost(row.cost_per_million)} per million requests" if row.cost_per_million is not None else ""


def verdict_table(verdict: Verdict) -> tuple[list[str], list[list[str]]]:
    """Headers and text cells of the per-configuration table, shared by the terminal and the HTML page."""
    headers = ["config", "capacity req/s", "meets target", "replicas (estimate)", "$/hour", "$/million req"]
    cells = [
        [
            r.config,
            fmt_bound(r.capacity_rps, r.reached) + (" (unstable)" if r.from_unstable and r.capacity_rps else ""),
            _meets_text(r),
            NONE if r.replicas is None else str(r.replicas),
            NONE if r.cost_per_hour is None else f"${r.cost_per_hour:.2f}",
            fmt_cost(r.cost_per_million),
        ]
        for r in verdict.rows
    ]
    if any(r.variant for r in verdict.rows):  # variants weighed: each beside its agreement with the original
        headers.insert(1, "variant (agreement)")
        for r, row in zip(verdict.rows, cells, strict=True):
            row.insert(1, r.variant or "original")
    return headers, cells


def _meets_text(row: VerdictRow) -> str:
    if row.skipped_reason is not None:
        return f"skipped: {row.skipped_reason}"
    if row.short_of_target:
        return "not measured up to it"
    return "yes" if row.meets else "no"


def format_verdict(verdict: Verdict) -> str:
    """The sentence and the per-configuration table as plain text for the terminal."""
    return f"{verdict.sentence}\n\n{text_table(*verdict_table(verdict))}"
