"""The capacity and SLO rules, in one home: what a level is judged on, whether it meets an SLO, which level is a
curve's capacity, whether a search probe passes, and how curves are labelled. The sweep records with these,
and compare, verdict and the reports read with them, so a capacity means the same thing everywhere.

An unstable level (its last windows disagree) is evidence with a caveat, not nothing: it is judged on its worst
counted window (lowest throughput, highest p99), and a capacity decided on one says so (`from_unstable`).

A search probe fails only on evidence. The requests slower than the SLO limit are counted; if the SLO
percentile q held exactly, that count would be Binomial(n, 1 - q). Far more than that is evidence of a broken
SLO, far fewer is evidence it holds (one-sided tests at ALPHA); in between the probe is doubtful and measured
longer, and one still doubtful at the end of its budget passes: it showed no evidence of failing.

Failed requests are evidence the same way, against a budget of their own (failure_budget: the SLO's tail, at most
FAILURE_SHARE): a probe breaks on failures only where their count is improbable under that share, so one timeout
among hundreds of requests no longer ends a search (it used to: any failure broke the probe, and its rate capped
the search for the rest of the run). A level judged by its observed figures (meets_slo) keeps its failures within
the budget's share. A failed request is never good: goodput counts the requests that succeeded within the limit.

Pure: no I/O and no third-party imports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from harness import defaults
from harness.record.model import SCHEMA_VERSION, Capacity, Curve, Level, ModelLevel, Run, Slo
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
# Failures allowed beside the SLO: the SLO's own tail (a p99.9 SLO allows 0.1 %), never more than this share: a p50
# SLO allows half the requests to be slow, not half of them to fail.
FAILURE_SHARE = 0.01
Evidence = Literal["within", "breaks", "doubtful"]
_EVIDENCE_ORDER: tuple[Evidence, ...] = ("within", "doubtful", "breaks")  # the worse of two is the later
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
    """Served requests, failures within the budget's share, and the judged SLO percentile within the limit. A level
    of several models (--mix) meets it when every model meets its own SLO (or `slo`, for one without its own)."""
    if level.models:
        return level.requests > 0 and all(model_meets_slo(part, part.slo or slo) for part in level.models.values())
    return (
        level.requests > 0
        and level.failures <= failure_budget(slo) * level.requests
        and judged(level, slo.percentile).latency_ms <= slo.limit_ms
    )


def objectives_text(slo: Slo, curve: Curve) -> str:
    """`slo`, or for a mix with models' own SLOs, each model's (a level passes when every one is met)."""
    first = curve.levels[0].models if curve.levels else {}
    own = {model: part.slo for model, part in first.items() if part.slo is not None}
    if not own:
        return str(slo)
    return "each model's SLO (" + ", ".join(f"{m}: {own.get(m) or slo}" for m in first) + ")"


def with_model_slos(run: Run, own: Mapping[str, Slo], others: Slo | None = None) -> Run:
    """`run` with its mixed levels' models judged against `own` objectives (a reader's --slo a:p99=50ms,...) in
    place of those recorded; models without one keep theirs, or take `others` where given."""

    def rejudged(part: ModelLevel, model: str) -> ModelLevel:
        slo = own.get(model) or others or part.slo
        return replace(part, slo=slo, slo_met=model_meets_slo(part, slo) if slo else part.slo_met)

    def level(lv: Level) -> Level:
        return replace(lv, models={m: rejudged(p, m) for m, p in lv.models.items()}) if lv.models else lv

    return replace(run, curves=tuple(replace(c, levels=tuple(level(lv) for lv in c.levels)) for c in run.curves))


def model_meets_slo(part: ModelLevel, slo: Slo) -> bool:
    """One model of a mix, judged as a level of its own is: its requests, failures, latency and windows."""
    return meets_slo(model_alone(part), slo)


def model_alone(part: ModelLevel, level: Level | None = None) -> Level:
    """One model's part of a mixed level as a level of its own (in `level`'s mode), for the rules and the charts."""
    return part.as_level(level)


def model_curves(curve: Curve, slo: Slo) -> list[tuple[str, Curve]]:
    """A mixed curve's models, each as a curve of its parts of the levels, with its capacity within its own SLO
    (recorded with its parts) or `slo`; [] for a curve of one model."""
    models = []
    for model in curve.mix:
        parts = [(lv.models[model], lv) for lv in curve.levels if model in lv.models]
        own = next((part.slo for part, _ in parts if part.slo is not None), None) or slo
        levels = tuple(model_alone(part, lv) for part, lv in parts)
        alone = replace(curve, model=model, mix={}, levels=levels, probes=(), capacity=capacity(levels, own))
        models.append((model, alone))
    return models


def mix_text(mix: dict[str, float]) -> str:
    """A mix as --mix reads it: 'a=3,b=1'."""
    return ",".join(f"{name}={weight:g}" for name, weight in mix.items())


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
    return share_evidence(over, sample, 1.0 - _QUANTILES[slo.percentile])


def failure_budget(slo: Slo) -> float:
    """The share of requests that may fail beside the SLO: its tail, at most FAILURE_SHARE."""
    return min(FAILURE_SHARE, 1.0 - _QUANTILES[slo.percentile])


def failure_evidence(failures: int, requests: int, slo: Slo) -> Evidence:
    """What `failures` of `requests` say about the failure budget: tested as the SLO's tail is (slo_evidence)."""
    return share_evidence(failures, requests, failure_budget(slo))


def share_evidence(count: int, sample: int, share: float) -> Evidence:
    """Whether `count` of `sample` is evidence that the true share is above `share` ("breaks"), below it
    ("within"), or neither ("doubtful"): one-sided binomial tests at ALPHA."""
    if sample <= 0:
        return "doubtful"
    if binomial_cdf(count - 1, sample, share) > 1.0 - ALPHA:  # P(X >= count) < ALPHA
        return "breaks"
    if binomial_cdf(count, sample, share) < ALPHA:  # P(X <= count) < ALPHA
        return "within"
    return "doubtful"


def probe_evidence(level: Level, slo: Slo) -> Evidence:
    """A search probe: no request served or an undelivered rate break it; otherwise the worse of what its
    failures and its SLO count say ("breaks" over "doubtful" over "within"); for a level of several models
    (--mix), the worst of its models', each judged by its own SLO (or `slo`)."""
    if level.requests == 0 or not delivered(level):
        return "breaks"
    if level.models:
        parts = (_tail_evidence(part.as_level(level), part.slo or slo) for part in level.models.values())
        return max(parts, key=_EVIDENCE_ORDER.index)
    return _tail_evidence(level, slo)


def _tail_evidence(level: Level, slo: Slo) -> Evidence:
    """What a level's failures and its count of requests slower than the SLO limit say."""
    if level.requests == 0:
        return "breaks"
    # No failure says nothing either way: the SLO count alone decides when the probe has measured enough.
    failed = failure_evidence(level.failures, level.requests, slo) if level.failures else "within"
    if level.slo_over is None:  # a level recorded without the count: only the observed percentile
        slow: Evidence = "within" if meets_slo(level, slo) else "breaks"
    else:
        slow = slo_evidence(level.slo_over, level.slo_sample, slo)
    return max(failed, slow, key=_EVIDENCE_ORDER.index)


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


def goodput(achieved_rps: float, requests: int, good: int) -> float:
    """Requests per second that succeeded within the SLO limit (AIPerf's goodput): the achieved rate times the share
    of the level's requests that were good, so a level whose every request was good has goodput == achieved.
    `good` is counted, never estimated from percentiles: harness.load.aggregate.Tally.succeeded_within_ms."""
    return achieved_rps * good / requests if requests > 0 else 0.0


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
        parts += [mix_text(c.mix)] if c.mix else []
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
