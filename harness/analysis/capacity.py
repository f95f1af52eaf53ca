"""The capacity and SLO rules, in one home: what a level is judged on, whether it meets an SLO, which level is a
curve's capacity, whether a search probe passes, and how curves are labelled. The sweep records with these,
and compare, verdict and the reports read with them, so a capacity means the same thing everywhere.

An unstable level (its last windows disagree) is evidence with a caveat, not nothing: it is judged on its worst
counted window (lowest throughput, highest p99), and a capacity decided on one says so (`from_unstable`).

A search probe fails only on evidence. The requests slower than the SLO limit are counted; if the SLO
percentile q held exactly, that count would be Binomial(n, 1 - q). Far more than that is evidence of a broken
SLO, far fewer is evidence it holds (one-sided tests at ALPHA); in between the probe is doubtful and measured
longer, and one still doubtful at the end of its budget passes: it showed no evidence of failing.

Pure: no I/O and no third-party imports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from harness import defaults
from harness.record.model import SCHEMA_VERSION, Capacity, Curve, Level, Run, Slo
from harness.textfmt import fmt_bound

STABLE_WINDOWS = 3  # as perf_analyzer: the last 3 windows must agree; the level's figures come from them
RATE_SHORTFALL = 0.9  # achieved below this share of the offered rate: the level did not get its load
# A Poisson schedule's count over a span is itself random (sd = sqrt(count)): within this many standard deviations
# below the offered count, the schedules' own draw is the load the level offered.
DRAW_NOISE_SIGMAS = 3.0
ALPHA = 0.05  # one-sided significance of the probe tests
# Throughput that grew less than this from the next lower load has stopped growing: the server is saturated there
# (the concurrency search stops on it too).
PLATEAU_GAIN = 0.05
Evidence = Literal["within", "breaks", "doubtful"]
_QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999}


@dataclass(frozen=True)
class Judged:
    """The throughput and SLO-percentile latency a level is judged on."""

    rps: float
    latency_ms: float
    from_unstable: bool


def judged(level: Level, percentile: str) -> Judged:
    """A stable level's merged figures; an unstable one's worst counted window (windows carry p99 only, so
    another percentile keeps the merged value)."""
    latency = level.latency_ms.get(percentile)
    counted = level.windows[-STABLE_WINDOWS:]
    if level.stable or not counted:
        return Judged(level.achieved_rps, latency, False)
    rps = min(level.achieved_rps, *(w.achieved_rps for w in counted))
    if percentile == "p99":
        latency = max(latency, *(w.p99_ms for w in counted))
    return Judged(rps, latency, True)


def meets_slo(level: Level, slo: Slo) -> bool:
    """Served requests, none failed, and the judged SLO percentile within the limit."""
    return level.requests > 0 and level.failures == 0 and judged(level, slo.percentile).latency_ms <= slo.limit_ms


def capacity(levels: Sequence[Level], slo: Slo) -> Capacity:
    """The highest judged throughput among levels that meet the SLO, and which level it is."""
    eligible = [(i, judged(lv, slo.percentile)) for i, lv in enumerate(levels) if meets_slo(lv, slo)]
    if not eligible:
        return Capacity()
    index, best = max(eligible, key=lambda item: (item[1].rps, not item[1].from_unstable))
    level = levels[index]
    return Capacity(
        max_rps_within_slo=round(best.rps, 3),
        at_concurrency=level.concurrency if level.mode == "concurrency" else None,
        at_rate=level.offered_rps if level.mode == "rate" else None,
        level_index=index,
        from_unstable=best.from_unstable,
        reached=limit_reached(levels, index),
    )


def limit_reached(levels: Sequence[Level], index: int) -> bool:
    """Whether the capacity at levels[index] is the curve's limit, not merely the most it was asked for: a level at
    a higher load was measured (it broke the SLO, or served no more), or throughput had stopped growing there (it
    grew less than PLATEAU_GAIN from the next lower load: more load only queues). Otherwise the capacity is a lower
    bound: the highest load measured still met the SLO with throughput growing."""
    at = levels[index]
    if any(_load(lv) > _load(at) for lv in levels):
        return True
    below = [lv for lv in levels if _load(lv) < _load(at)]
    previous = max(below, key=_load, default=None)
    return previous is not None and at.achieved_rps < previous.achieved_rps * (1 + PLATEAU_GAIN)


def _load(level: Level) -> float:
    """What a level asked of the server: its users (closed loop) or its offered rate (open loop)."""
    return float(level.concurrency or 0) if level.mode == "concurrency" else float(level.offered_rps or 0.0)


def upgraded(run: Run) -> Run:
    """A run read in today's form. Schema 1 runs were written by several versions of the capacity rule (some without
    the level's index, the unstable-level judgement or `reached`): their capacities are decided again from their
    levels, so a saved run says what a fresh one would. Newer runs are returned as they are."""
    if run.schema_version >= SCHEMA_VERSION:
        return run
    curves = tuple(replace(c, capacity=capacity(c.levels, run.slo)) if c.levels else c for c in run.curves)
    return replace(run, curves=curves, schema_version=SCHEMA_VERSION)


def capacity_text(cap: Capacity) -> str:
    """A capacity as people read it, everywhere: '3,015 req/s', or 'at least 3,015 req/s' where it is a lower bound.
    A capacity recorded before the rule (reached None) reads as measured."""
    if cap.max_rps_within_slo is None:
        return "none"
    return f"{fmt_bound(cap.max_rps_within_slo, cap.reached)} req/s"


NOT_REACHED = "not reached: the highest load measured still met the SLO with throughput growing"


def capacity_of(curve: Curve, slo: Slo | None) -> tuple[Capacity, Level | None]:
    """The capacity for slo (decided again from the levels), or the one recorded with the curve, and its level."""
    cap = capacity(curve.levels, slo) if slo is not None else curve.capacity
    if cap.max_rps_within_slo is None:
        return cap, None
    if cap.level_index is not None and 0 <= cap.level_index < len(curve.levels):
        return cap, curve.levels[cap.level_index]
    return cap, _legacy_level(curve, cap)


def _legacy_level(curve: Curve, cap: Capacity) -> Level | None:
    """Runs written before the capacity level was stored name it by its load only."""
    for lv in curve.levels:
        if (cap.at_concurrency is not None and lv.mode == "concurrency" and lv.concurrency == cap.at_concurrency) or (
            cap.at_rate is not None and lv.mode == "rate" and lv.offered_rps == cap.at_rate
        ):
            return lv
    return None


def delivered(level: Level) -> bool:
    """An open-loop level got the load it offered (closed-loop levels always do)."""
    if level.offered_rps is None:
        return True
    span_s = sum(w.duration_s for w in level.windows[-STABLE_WINDOWS:])
    return delivered_rate(level.offered_rps, level.achieved_rps, level.scheduled_rps, span_s)


def delivered_rate(offered: float, achieved: float, scheduled: float | None, span_s: float) -> bool:
    """Achieved at least RATE_SHORTFALL of what was offered. What was offered is the offered rate, or the rate the
    schedules actually drew where a Poisson count's sampling noise over the span explains the difference (a seeded
    draw of 27 arrivals/s for 30 offered is the load that was sent, not a shortfall); a draw further below
    (a generator behind its schedule) is judged against the noise floor, so it still falls short."""
    reference = offered
    if scheduled is not None and span_s > 0:
        floor = offered - DRAW_NOISE_SIGMAS * math.sqrt(offered / span_s)
        reference = min(offered, max(scheduled, floor))
    return achieved >= RATE_SHORTFALL * reference


def slo_evidence(over: int, sample: int, slo: Slo) -> Evidence:
    """What `over` of `sample` requests slower than the SLO limit say about the SLO percentile."""
    if sample <= 0:
        return "doubtful"
    tail = 1.0 - _QUANTILES[slo.percentile]
    if binomial_cdf(over - 1, sample, tail) > 1.0 - ALPHA:  # P(X >= over) < ALPHA
        return "breaks"
    if binomial_cdf(over, sample, tail) < ALPHA:  # P(X <= over) < ALPHA
        return "within"
    return "doubtful"


def probe_evidence(level: Level, slo: Slo) -> Evidence:
    """A search probe: failed requests or an undelivered rate break it; otherwise the SLO count decides."""
    if level.requests == 0 or level.failures > 0 or not delivered(level):
        return "breaks"
    if level.slo_over is None:  # a level recorded without the count: only the observed percentile
        return "within" if meets_slo(level, slo) else "breaks"
    return slo_evidence(level.slo_over, level.slo_sample, slo)


def probe_passes(level: Level, slo: Slo) -> bool:
    """A probe fails only on evidence: one still doubtful after its budget (a few slow requests among too few
    to tell, where a small window's p99 is its maximum) passes."""
    return probe_evidence(level, slo) != "breaks"


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p): exact by the pmf recurrence while the mean is small, else normal with
    continuity correction (within ~1e-3 there, ample for a 5 % test)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    mean, var = n * p, n * p * (1.0 - p)
    if var > 400:
        return 0.5 * math.erfc(-((k + 0.5 - mean) / math.sqrt(var)) / math.sqrt(2.0))
    step, log_pmf, logs = math.log(p) - math.log1p(-p), n * math.log1p(-p), []
    for j in range(k + 1):  # summed in log space: (1 - p)^n alone underflows for large n
        logs.append(log_pmf)
        log_pmf += math.log((n - j) / (j + 1)) + step
    top = max(logs)
    return min(math.exp(top) * sum(math.exp(v - top) for v in logs), 1.0)


def curve_labels(runs: Sequence[Run], with_run: bool | None = None) -> list[tuple[int, Curve, str]]:
    """Every curve of runs with its label: the instance group, qualified only as far as needed to tell curves
    apart: by run label when several runs are given (or with_run), by model and by batch size where they vary."""
    curves = [(i, c) for i, run in enumerate(runs) for c in run.curves]
    names = run_labels(runs)
    show_run = len(runs) > 1 if with_run is None else with_run
    show_model = len({c.model for _, c in curves}) > 1 or any(c.model != runs[i].metadata.model for i, c in curves)
    show_batch = len({c.batch_size for _, c in curves}) > 1

    def label(i: int, c: Curve) -> str:
        parts = [names[i]] if show_run else []
        parts += [c.model] if show_model else []
        parts.append((c.configuration or str(c.instance_group)) + (f" b{c.batch_size}" if show_batch else ""))
        return " ".join(parts)

    return [(i, c, label(i, c)) for i, c in curves]


def run_labels(runs: Sequence[Run]) -> list[str]:
    """Each run's label (run1, run2... when unlabelled), made unique with #N when two runs share one."""
    names = [r.metadata.label or f"run{i + 1}" for i, r in enumerate(runs)]
    return [f"{n}#{i + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)]


def stability_advice(settings: dict[str, Any]) -> str:
    """The flags that would make a sweep's levels stable: longer windows, more of them, a looser agreement."""
    window = float(settings.get("window_s") or defaults.SWEEP_WINDOW_S)
    windows = int(settings.get("max_windows") or defaults.SWEEP_MAX_WINDOWS)
    stability = float(settings.get("stability") or defaults.SWEEP_STABILITY)
    return (
        f"for stable levels measure longer: --window {window * 2:g} (was {window:g}), --max-windows {windows * 2} "
        f"(was {windows}), or accept more spread with --stability {min(stability * 2, 0.5):g} (was {stability:g})"
    )
