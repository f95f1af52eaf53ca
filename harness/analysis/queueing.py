"""A queueing model of one measured configuration: fitted to its levels, it predicts latency percentiles and
capacity at rates not measured and for replicas behind a load balancer, and says how well (every fit is
cross-checked on levels it did not see).

One replica (record.model.QueueFit):
- Triton keeps one FIFO queue per model in front of its instances: the instances are the queue's `servers`.
- An execution of b requests takes service_ms + per_extra_request_ms * (b - 1), times a gamma factor of mean 1 and
  CV service_cv. With dynamic batching a free instance takes up to batch_limit queued requests (Triton's wait of up
  to max_queue_delay for a fuller batch is not modelled).
- A request's latency is overhead + queue wait + execution. The overhead (client, network, gRPC front end, the
  generator's send lag) lies outside Triton's queue and compute; its percentiles are what the measured levels show
  beyond the simulated server part, added percentile by percentile (as if the two rose together: an upper bound
  when they are independent).

Fitted from Triton's statistics and the client's percentiles: the execution time from Triton's compute time per
request (each request of a batch counts the batch's time) against the requests per execution; the overhead from the
client's latency beyond Triton's request time; the service CV as the one (of CV_GRID) whose predicted percentiles
rise with load as the measured ones do. (Triton's queue time was tried first, inverting Allen-Cunneen's M/G/c wait:
on fixed_delay it grows ~10 % faster than M/D/1 while the client's tail does not, which read as a CV of 0.4 and
overpredicted p99 by 20-25 %.) Where no two levels, one of them queueing, can tell, a CV of 1 is assumed and the
fit says so.

Replicas are not one server with N times the instances: each replica keeps its own queue and gets its share of
the arrivals. `random` balancing (each request to a replica drawn at random) leaves each replica Poisson arrivals
at rate / N, so N replicas carry N times one replica's capacity; `round-robin` gives each replica every N-th
arrival (Erlang-N gaps, CV 1 / sqrt(N)), more regular, so it queues less. The plan uses random: the cautious one.

Predictions come from a seeded discrete-event simulation, deterministic for a seed; common random numbers make a
percentile rise monotonically with the rate, so the capacity search bisects cleanly. The simulator is held to the
closed forms (M/M/1, M/D/1, Erlang C) in tests/analysis/test_queueing.py.

Pure: no I/O; numpy only, for vectorised draws and percentiles.
"""

from __future__ import annotations

import heapq
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from harness.analysis.capacity import delivered
from harness.analysis.compare import load_label
from harness.errors import ResultsError
from harness.record.model import PERCENTILES, Curve, HeldOut, Level, QueueFit, Slo

Balancing = Literal["random", "round-robin"]
SIM_REQUESTS = 100_000  # per simulation: ~40 ms; p99 within ~2 % of theory at 80 % utilisation
SIM_SEED = 23
WARMUP_SHARE = 0.1  # the first requests see an empty system, not the steady state: left out
ASSUMED_CV = 1.0  # exponential service, when no level says otherwise: waits more than any CV below it
CV_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.0)  # the service CVs a fit chooses among
CV_MIN_UTILISATION = 0.3  # a fit reads the CV only with a level at least this busy: below, hardly anyone queues
FIT_PERCENTILES = ("p50", "p90", "p95", "p99")  # what the CV is chosen to match (p99.9 rests on too few requests)
CAPACITY_TOLERANCE = 0.005  # relative: the bisection stops within half a percent of the boundary
DETERMINISTIC_CV = 0.02  # a gap or execution CV below this is simulated as constant
# An open-loop level this busy (rate / saturation) has no steady state within a level's seconds: M/D/1 relaxes in
# about S / (1 - sqrt(rho))^2, 25 s at rho 0.96 and S 10 ms, so its measured tail says how long the level ran, not
# what the queue settles at. Its throughput is compared and it is left out of the service-CV fit.
STEADY_UTILISATION = 0.9


@dataclass(frozen=True)
class Load:
    """What one replica is offered: open loop (a rate, with its inter-arrival CV) or closed loop (users)."""

    rate_rps: float | None = None
    arrivals_cv: float = 1.0  # 1 Poisson, 1 / sqrt(N) round robin over N replicas, 0 constant
    users: int | None = None


@dataclass(frozen=True)
class Prediction:
    latency_ms: dict[str, float]  # by percentile name (PERCENTILES) and "mean"; empty when overloaded
    throughput_rps: float
    overloaded: bool = False  # open loop at or above what the replica can serve: its queue grows without bound


def saturation_rps(fit: QueueFit) -> float:
    """The most one replica serves: every instance busy with full batches."""
    return fit.servers * fit.batch_limit / _execution_ms(fit, fit.batch_limit) * 1000.0


def _execution_ms(fit: QueueFit, requests: int) -> float:
    return fit.service_ms + fit.per_extra_request_ms * (requests - 1)


# --- simulation -------------------------------------------------------------------------------------------------


def simulate(fit: QueueFit, load: Load, requests: int = SIM_REQUESTS, seed: int = SIM_SEED) -> tuple[np.ndarray, float]:
    """Time in Triton (queue + execution, ms) of each request after the warm-up, and the throughput (req/s)."""
    rng = np.random.default_rng(seed)
    factors = _gamma(rng, fit.service_cv, requests)
    warm = int(requests * WARMUP_SHARE)
    if load.users is not None:
        times, span = _closed(fit, load.users, factors.tolist(), rng)
        return np.asarray(times[warm:]), (len(times) - warm) / span * 1000.0
    assert load.rate_rps is not None and load.rate_rps > 0
    arrivals = np.cumsum(_gamma(rng, load.arrivals_cv, requests)) * (1000.0 / load.rate_rps)
    return (_open(fit, arrivals, factors) - arrivals)[warm:], load.rate_rps


def _gamma(rng: np.random.Generator, cv: float, n: int) -> np.ndarray:
    """n draws of mean 1 and the given CV (1: exponential; 0: constant)."""
    if cv < DETERMINISTIC_CV:
        return np.ones(n)
    shape = 1.0 / cv**2
    return rng.gamma(shape, 1.0 / shape, n)


def _open(fit: QueueFit, arrivals: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Each request's finish time: FIFO over `servers` instances, the earliest free one taking what has arrived by
    then (up to batch_limit requests)."""
    services = factors * fit.service_ms
    if fit.batch_limit == 1 and fit.servers == 1:  # Lindley, vectorised: done_n = max(arrival_n, done_n-1) + s_n
        served = np.cumsum(services)
        return served + np.maximum.accumulate(arrivals - (served - services))
    if fit.batch_limit == 1:
        free, finish, replace_earliest = [0.0] * fit.servers, [], heapq.heapreplace
        for arrived, service in zip(arrivals.tolist(), services.tolist(), strict=True):
            earliest = free[0]
            done = (arrived if arrived > earliest else earliest) + service
            finish.append(done)
            replace_earliest(free, done)
        return np.asarray(finish)
    return _open_batched(fit, arrivals.tolist(), factors.tolist())


def _open_batched(fit: QueueFit, arrivals: list[float], factors: list[float]) -> np.ndarray:
    n, free, finish = len(arrivals), [0.0] * fit.servers, [0.0] * len(arrivals)
    first = 0
    while first < n:
        start = max(heapq.heappop(free), arrivals[first])
        end_index = first + 1
        while end_index < n and end_index - first < fit.batch_limit and arrivals[end_index] <= start:
            end_index += 1
        done = start + _execution_ms(fit, end_index - first) * factors[first]
        finish[first:end_index] = [done] * (end_index - first)
        heapq.heappush(free, done)
        first = end_index
    return np.asarray(finish)


def _closed(fit: QueueFit, users: int, factors: list[float], rng: np.random.Generator) -> tuple[list[float], float]:
    """`users` each keep one request in flight; a reply comes back after the overhead, and the next is sent then.
    Arrivals are taken in time order from a heap: a server waits for the earliest, and no reply still to come can
    arrive before it (it would need a server that is later free)."""
    think = fit.overhead_mean_ms
    pending = [(float(t), u) for u, t in enumerate(rng.uniform(0.0, think or 1e-6, users))]
    heapq.heapify(pending)
    free, times, ends = [0.0] * fit.servers, list[float](), list[float]()
    for factor in factors:
        if len(times) >= len(factors):
            break
        start = max(heapq.heappop(free), pending[0][0])
        batch = [heapq.heappop(pending)]
        while pending and len(batch) < fit.batch_limit and pending[0][0] <= start:
            batch.append(heapq.heappop(pending))
        done = start + _execution_ms(fit, len(batch)) * factor
        for arrived, user in batch:
            times.append(done - arrived)
            ends.append(done)
            heapq.heappush(pending, (done + think, user))
        heapq.heappush(free, done)
    kept = ends[int(len(factors) * WARMUP_SHARE) :]
    return times, max(kept) - min(kept)


# --- prediction -------------------------------------------------------------------------------------------------


def predict(fit: QueueFit, load: Load, seed: int = SIM_SEED) -> Prediction:
    """Latency percentiles (overhead + time in Triton) and throughput of one replica under `load`."""
    if load.users is None and load.rate_rps is not None and load.rate_rps >= saturation_rps(fit):
        return Prediction({}, saturation_rps(fit), overloaded=True)
    inside, throughput = simulate(fit, load, seed=seed)
    quantiles = np.percentile(inside, [_quantile(p) * 100 for p in PERCENTILES])
    latency = {p: float(q) + _overhead(fit, p) for p, q in zip(PERCENTILES, quantiles, strict=True)}
    latency["mean"] = float(inside.mean()) + fit.overhead_mean_ms
    return Prediction(latency, load.rate_rps if load.users is None and load.rate_rps else throughput)


def _quantile(percentile: str) -> float:
    return 0.999 if percentile == "p999" else int(percentile[1:]) / 100


def _overhead(fit: QueueFit, percentile: str) -> float:
    return fit.overhead_ms[PERCENTILES.index(percentile)] if fit.overhead_ms else fit.overhead_mean_ms


def replica_load(total_rps: float, replicas: int, balancing: Balancing = "random") -> Load:
    """What one of `replicas` gets of Poisson arrivals at total_rps (see the module docstring)."""
    cv = 1.0 if balancing == "random" else 1.0 / math.sqrt(replicas)
    return Load(rate_rps=total_rps / replicas, arrivals_cv=cv)


def predict_latency(
    fit: QueueFit, total_rps: float, percentile: str, replicas: int = 1, balancing: Balancing = "random"
) -> float | None:
    """The percentile of N replicas at total_rps of Poisson arrivals; None where a replica would fall behind."""
    if total_rps <= 0:
        return _overhead(fit, percentile) + fit.service_ms
    prediction = predict(fit, replica_load(total_rps, replicas, balancing))
    return None if prediction.overloaded else prediction.latency_ms[percentile]


def predicted_capacity(fit: QueueFit, slo: Slo, replicas: int = 1, balancing: Balancing = "random") -> float:
    """The highest Poisson rate N replicas carry within the SLO (0 where even a trickle breaks it)."""

    def meets(total: float) -> bool:
        latency = predict_latency(fit, total, slo.percentile, replicas, balancing)
        return latency is not None and latency <= slo.limit_ms

    low, high = 0.0, saturation_rps(fit) * replicas
    if not meets(high * CAPACITY_TOLERANCE):
        return 0.0
    while high - low > CAPACITY_TOLERANCE * high:
        middle = (low + high) / 2
        low, high = (middle, high) if meets(middle) else (low, middle)
    return low


# --- fitting ----------------------------------------------------------------------------------------------------


def usable(levels: Sequence[Level]) -> list[int]:
    """Indices of the levels a fit may use: requests served, none failed, Triton's times known, client not the limit."""
    return [
        i
        for i, lv in enumerate(levels)
        if lv.requests > 0
        and lv.failures == 0
        and lv.server_us is not None
        and lv.server_us.compute > 0
        and not lv.client_saturated
    ]


def fit_queue(curve: Curve, levels: Sequence[Level] | None = None) -> QueueFit:
    """The queue of one replica of `curve`'s configuration, from `levels` (default: all of the curve's)."""
    given = curve.levels if levels is None else levels
    chosen = [given[i] for i in usable(given)]
    if not chosen:
        raise ResultsError(
            f"{curve.configuration or curve.instance_group}: no error-free level with Triton's statistics to fit a "
            "queueing model on; measure it again (open loop, Poisson arrivals)"
        )
    limit = batch_limit(curve)
    service, extra = _execution_times([(requests_per_execution(lv, curve.batch_size), _compute_ms(lv)) for lv in chosen], limit)
    base = QueueFit(
        servers=curve.instance_group.count,
        service_ms=service,
        service_cv=ASSUMED_CV,
        batch_limit=limit,
        per_extra_request_ms=extra,
        overhead_mean_ms=max(0.0, statistics.median(_outside_ms(lv) for lv in chosen)),
        cv_assumed=True,
    )
    if not _shows_variability(chosen, base):
        return _with_overhead(base, _inside_percentiles(base, chosen))[0]
    fits = [
        _with_overhead(replace(base, service_cv=cv, cv_assumed=False), _inside_percentiles(base, chosen, cv)) for cv in CV_GRID
    ]
    return min(fits, key=lambda pair: pair[1])[0]


def _shows_variability(levels: Sequence[Level], fit: QueueFit) -> bool:
    """Two levels or more, one of them queueing: how the tail grows between them tells the service CV."""
    busiest = max(lv.achieved_rps for lv in levels) / saturation_rps(fit)
    return len({round(lv.achieved_rps, 1) for lv in levels}) >= 2 and busiest >= CV_MIN_UTILISATION


def _inside_percentiles(fit: QueueFit, levels: Sequence[Level], cv: float | None = None) -> list[tuple[Level, list[float]]]:
    """Each level the server kept up with, and the simulated time in Triton at PERCENTILES (at service CV cv)."""
    bare = replace(fit, service_cv=fit.service_cv if cv is None else cv, overhead_ms=(0.0,) * len(PERCENTILES))
    rows = []
    for lv in levels:
        load = level_load(lv)  # zero overhead per percentile; the mean stays: closed loops think
        if not steady(bare, load) or not delivered(lv):
            continue
        prediction = predict(bare, load)
        if not prediction.overloaded:
            rows.append((lv, [prediction.latency_ms[p] for p in PERCENTILES]))
    return rows


def _with_overhead(fit: QueueFit, rows: list[tuple[Level, list[float]]]) -> tuple[QueueFit, float]:
    """The fit with its overhead per percentile (the median over levels of measured minus simulated, floored at 0
    and non-decreasing), and how far its predictions then miss the levels (sum of squared log ratios, p50-p99)."""
    if not rows:
        return replace(fit, overhead_ms=(fit.overhead_mean_ms,) * len(PERCENTILES)), math.inf
    columns = zip(*([lv.latency_ms.get(p) - inside[i] for i, p in enumerate(PERCENTILES)] for lv, inside in rows), strict=True)
    medians = [max(0.0, statistics.median(column)) for column in columns]
    overhead = tuple(max(medians[: i + 1]) for i in range(len(medians)))
    misfit = sum(
        math.log(lv.latency_ms.get(p) / (inside[i] + overhead[i])) ** 2
        for lv, inside in rows
        for i, p in enumerate(PERCENTILES)
        if p in FIT_PERCENTILES
    )
    return replace(fit, overhead_ms=overhead), misfit


def batch_limit(curve: Curve) -> int:
    """Requests one execution may hold: max_batch_size // batch_size with dynamic batching, else 1."""
    if curve.dynamic_batching and curve.max_batch_size:
        return max(1, curve.max_batch_size // max(1, curve.batch_size))
    return 1


def requests_per_execution(level: Level, batch_size: int) -> float:
    return max(1.0, (level.avg_batch or batch_size) / max(1, batch_size))


def _execution_times(points: list[tuple[float, float]], limit: int) -> tuple[float, float]:
    """(service_ms, per_extra_request_ms) from (requests per execution, compute ms) pairs: a least-squares line
    where the levels' batches differ by half a request or more; else each request in a batch costs as much as
    one alone (no gain from batching assumed, the cautious reading)."""
    computes = [c for _, c in points]
    if limit == 1:
        return statistics.median(computes), 0.0
    sizes = [b - 1.0 for b, _ in points]
    if max(sizes) - min(sizes) >= 0.5:
        slope, intercept = statistics.linear_regression(sizes, computes)
        if intercept > 0:
            return intercept, max(0.0, slope)
    per_request = statistics.median(c / b for b, c in points)
    return per_request, per_request


def _compute_ms(level: Level) -> float:
    return level.server_us.compute / 1000.0 if level.server_us else 0.0


def _outside_ms(level: Level) -> float:
    """Mean time outside Triton's queue and compute: the client's mean latency minus Triton's request time."""
    times = level.server_us
    assert times is not None
    inside = times.request or times.queue + times.compute
    return level.latency_ms.mean - inside / 1000.0


def steady(fit: QueueFit, load: Load) -> bool:
    """Whether a level's latency can be predicted as the queue's steady state (closed loops always settle)."""
    return load.rate_rps is None or load.rate_rps < STEADY_UTILISATION * saturation_rps(fit)


def level_load(level: Level) -> Load:
    """What a measured level offered, as a Load: its drawn rate and measured CV (open loop), or its users."""
    if level.mode == "rate":
        rate = level.scheduled_rps or level.offered_rps or level.achieved_rps
        return Load(rate_rps=rate, arrivals_cv=1.0 if level.arrivals_cv is None else level.arrivals_cv)
    return Load(users=level.concurrency or 1)


# --- cross-check ------------------------------------------------------------------------------------------------


def cross_check(curve: Curve, slo: Slo) -> tuple[HeldOut, ...]:
    """Each usable level predicted by a fit on all the others (leave one out); none with fewer than two."""
    indices = usable(curve.levels)
    if len(indices) < 2:
        return ()
    checks = []
    for i in indices:
        fit = fit_queue(curve, [curve.levels[j] for j in indices if j != i])
        checks.append(held_out(i, curve.levels[i], fit, slo.percentile))
    return tuple(checks)


def held_out(index: int, level: Level, fit: QueueFit, percentile: str) -> HeldOut:
    """A level against the fit's prediction: its SLO percentile, or its throughput where the server fell behind or
    was nearly saturated (such an open-loop level's latency grows with its length: no steady state to predict)."""
    load = level_load(level)
    prediction = predict(fit, load)
    if prediction.overloaded or not delivered(level) or not steady(fit, load):
        measured, predicted, metric = level.achieved_rps, min(prediction.throughput_rps, saturation_rps(fit)), "req/s"
    else:
        measured, predicted, metric = level.latency_ms.get(percentile), prediction.latency_ms[percentile], percentile
    error = predicted / measured - 1.0  # measured > 0: a usable level served requests
    return HeldOut(index, load_label(level), metric, round(measured, 3), round(predicted, 3), round(error, 4))


def error_summary(checks: Sequence[HeldOut]) -> tuple[float | None, float | None]:
    """Mean and largest |error| over held-out levels (None without any)."""
    if not checks:
        return None, None
    errors = [abs(c.error) for c in checks]
    return round(sum(errors) / len(errors), 4), max(errors)
