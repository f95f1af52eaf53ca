"""Pure statistics of a sweep: the stability rule, the capacity rule, Triton-statistics deltas, the searches.

No I/O and no third-party imports beyond the harness's own types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from harness.record.model import Capacity, Level, ServerTimes, Slo, Window
from harness.triton.control import StatsSnapshot

STABLE_WINDOWS = 3  # as perf_analyzer: the last 3 windows must agree


def is_stable(windows: Sequence[Window], tolerance: float) -> bool:
    """The last 3 windows agree: throughput and p99 each within `tolerance` (relative) of their mean."""
    if len(windows) < STABLE_WINDOWS:
        return False
    last = windows[-STABLE_WINDOWS:]
    if any(w.requests == 0 for w in last):
        return False
    return _within(tuple(w.achieved_rps for w in last), tolerance) and _within(tuple(w.p99_ms for w in last), tolerance)


def _within(values: tuple[float, ...], tolerance: float) -> bool:
    mean = sum(values) / len(values)
    return mean > 0 and all(abs(v - mean) <= tolerance * mean for v in values)


def meets_slo(level: Level, slo: Slo) -> bool:
    return level.requests > 0 and level.failures == 0 and level.latency_ms.get(slo.percentile) <= slo.limit_ms


def capacity(levels: Sequence[Level], slo: Slo) -> Capacity:
    """The highest achieved throughput among stable, failure-free levels within the SLO."""
    eligible = [lv for lv in levels if lv.stable and meets_slo(lv, slo)]
    if not eligible:
        return Capacity()
    best = max(eligible, key=lambda lv: lv.achieved_rps)
    return Capacity(
        max_rps_within_slo=round(best.achieved_rps, 3),
        at_concurrency=best.concurrency if best.mode == "concurrency" else None,
        at_rate=best.offered_rps if best.mode == "rate" else None,
    )


def server_delta(before: StatsSnapshot, after: StatsSnapshot) -> tuple[ServerTimes | None, float | None]:
    """Triton's average per-request times (us) and average executed batch size between two snapshots."""
    requests = after.success_count - before.success_count
    if requests <= 0:
        return None, None
    per_request_us = lambda field: (getattr(after, field) - getattr(before, field)) / requests / 1000.0  # noqa: E731
    times = ServerTimes(
        queue=round(per_request_us("queue_ns"), 2),
        compute_input=round(per_request_us("compute_input_ns"), 2),
        compute_infer=round(per_request_us("compute_infer_ns"), 2),
        compute_output=round(per_request_us("compute_output_ns"), 2),
        request=round(per_request_us("success_ns"), 2),
    )
    executions = after.execution_count - before.execution_count
    inferences = after.inference_count - before.inference_count
    return times, (round(inferences / executions, 3) if executions > 0 else None)


@dataclass(frozen=True)
class AutoConcurrency:
    """Model Analyzer-style search: double the concurrency until throughput stops growing or the SLO breaks."""

    slo: Slo
    min_gain: float = 0.05
    limit: int = 1024

    def next_level(self, levels: Sequence[Level]) -> int | None:
        if not levels:
            return 1
        last = levels[-1]
        if not meets_slo(last, self.slo) or last.concurrency is None or last.concurrency * 2 > self.limit:
            return None
        if len(levels) >= 2 and last.achieved_rps < levels[-2].achieved_rps * (1 + self.min_gain):
            return None
        return last.concurrency * 2


def rate_ok(level: Level, slo: Slo, min_achieved: float = 0.9) -> bool:
    """A rate probe passes when stable, within the SLO, and the generator delivered the offered rate."""
    offered = level.offered_rps or 0.0
    return level.stable and meets_slo(level, slo) and level.achieved_rps >= min_achieved * offered


@dataclass(frozen=True)
class RateSearch:
    """Capacity search on the arrival rate: double until a probe fails, then bisect to `tolerance`."""

    slo: Slo
    start_rps: float = 10.0
    tolerance: float = 0.05
    max_probes: int = 12

    def next_rate(self, probes: Sequence[Level]) -> float | None:
        if len(probes) >= self.max_probes:
            return None
        if not probes:
            return self.start_rps
        passed = [p.offered_rps or 0.0 for p in probes if rate_ok(p, self.slo)]
        failed = [p.offered_rps or 0.0 for p in probes if not rate_ok(p, self.slo)]
        low, high = max(passed, default=0.0), min((f for f in failed if f > max(passed, default=0.0)), default=None)
        if high is None:
            return (low * 2) if low else None
        if not passed:
            return high / 2 if high / 2 >= 1.0 else None
        if (high - low) / low <= self.tolerance:
            return None
        return round((low + high) / 2, 3)
