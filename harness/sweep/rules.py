"""Pure statistics of a sweep: the stability rule, Triton-statistics deltas, the searches.

The capacity, SLO and probe rules they use live in harness.analysis.capacity (one home, shared with compare,
verdict and the reports). No I/O and no third-party imports beyond the harness's own types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from harness.analysis.capacity import PLATEAU_GAIN, STABLE_WINDOWS, meets_slo, probe_passes
from harness.record.model import Level, ServerTimes, Slo, Window
from harness.record.server_statistics import StatsSnapshot


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


# Fewer requests than this make a window's rate and p99 noise (perf_analyzer's default request count).
MIN_WINDOW_REQUESTS = 50
WINDOW_STRETCH = 5  # a window is stretched to at most this many times --window for them


def window_needs_more(requests: int, elapsed_s: float, window_s: float, request_timeout_s: float) -> bool:
    """Whether a measurement window `elapsed_s` long should be stretched (as perf_analyzer does): it holds fewer
    than MIN_WINDOW_REQUESTS requests and is shorter than WINDOW_STRETCH windows, or none completed yet and the
    request timeout has not passed (a hung server then shows as failures, not as an empty window)."""
    if requests >= MIN_WINDOW_REQUESTS:
        return False
    return elapsed_s < WINDOW_STRETCH * window_s or (requests == 0 and elapsed_s < request_timeout_s + window_s)


# After an open-loop level, Triton's queue is looked at this often (or every two batches' compute, if longer).
DRAIN_POLL_S = 0.2


def drain_poll_s(stats: StatsSnapshot) -> float:
    """How often to look at Triton's counters while its queue drains: DRAIN_POLL_S, or twice a batch's compute."""
    per_batch_s = stats.compute_infer_ns / stats.execution_count / 1e9 if stats.execution_count else 0.0
    return max(DRAIN_POLL_S, 2.0 * per_batch_s)


def queue_drained(before: StatsSnapshot, after: StatsSnapshot, poll_s: float) -> bool:
    """Nothing left queued from the level that stopped: no request completed over the poll, or those that did
    waited less than a poll in the queue on average (a backlog's requests waited at least since the senders
    stopped; another client's requests on a shared server come and go without a queue)."""
    done = after.success_count - before.success_count
    return done <= 0 or (after.queue_ns - before.queue_ns) / done < poll_s * 1e9


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
    # Every execution holds at least one inference; a snapshot taken between a batch's two counter updates can
    # count the execution without its inferences (0.999 seen in CI), so the average is floored at 1.
    return times, (max(1.0, round(inferences / executions, 3)) if executions > 0 else None)


@dataclass(frozen=True)
class ConcurrencySearch:
    """Model Analyzer-style search: double the concurrency until throughput stops growing or the SLO breaks."""

    slo: Slo
    min_gain: float = PLATEAU_GAIN
    limit: int = 1024
    start: int = 1  # a mix of N models starts at N users: one each

    def next_level(self, levels: Sequence[Level]) -> int | None:
        if not levels:
            return self.start
        last = levels[-1]
        if not probe_passes(last, self.slo) or last.concurrency is None or last.concurrency * 2 > self.limit:
            return None
        if last.models and not meets_slo(last, self.slo):  # a mix: a model past its own SLO ends the search
            return None
        if len(levels) >= 2 and last.achieved_rps < levels[-2].achieved_rps * (1 + self.min_gain):
            return None
        return last.concurrency * 2


# A failed probe whose server fell behind bounds capacity a little above what it served (window noise).
OVERLOAD_HEADROOM = 1.1


def failure_ceiling(probe: Level) -> float:
    """The rate a failed probe puts capacity below: its offered rate, or, where the server served clearly less,
    OVERLOAD_HEADROOM times what it served: no rate above a server's throughput meets an SLO. At twice capacity
    the search then bisects near the throughput instead of halving down through overloaded probes (on fixed_delay:
    2 probes to the answer instead of 5, each above capacity and leaving a queue to drain)."""
    return min(probe.offered_rps or 0.0, probe.achieved_rps * OVERLOAD_HEADROOM)


@dataclass(frozen=True)
class RateSearch:
    """Capacity search on the arrival rate: from a start near what a closed-loop probe served, double while
    probes pass, halve while they fail, then bisect between the best pass and the lowest ceiling a failure above it
    sets (failure_ceiling) to `tolerance`. A probe passes or fails by harness.analysis.capacity.probe_passes: on
    evidence, not on noise."""

    slo: Slo
    start_rps: float = 10.0
    tolerance: float = 0.05
    max_probes: int = 12
    min_rps: float = 1.0

    def next_rate(self, probes: Sequence[Level]) -> float | None:
        if len(probes) >= self.max_probes:
            return None
        if not probes:
            return round(self.start_rps, 3)
        passed = [p.offered_rps or 0.0 for p in probes if probe_passes(p, self.slo)]
        failed = [p for p in probes if not probe_passes(p, self.slo)]
        low = max(passed, default=0.0)
        high = min((failure_ceiling(f) for f in failed if (f.offered_rps or 0.0) > low), default=None)
        if high is None:
            return round(low * 2, 3)
        if not passed:
            return round(high / 2, 3) if high / 2 >= self.min_rps else None
        if (high - low) / low <= self.tolerance:
            return None
        return round((low + high) / 2, 3)
