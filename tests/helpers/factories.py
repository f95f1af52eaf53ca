"""Small builders of run records for tests: realistic enough to plot, simple enough to check by hand."""

from __future__ import annotations

import dataclasses
import functools
from array import array
from collections.abc import Sequence
from typing import Any, Literal

from harness.analysis.capacity import capacity as decide_capacity
from harness.analysis.capacity import model_meets_slo
from harness.analysis.plan import make_plan, plan_candidates
from harness.analysis.traffic import parse_traffic
from harness.load.aggregate import Tally, WorkerDelta
from harness.load.counters import LoadCounters
from harness.load.histogram import LatencyHistogram
from harness.record.model import (
    Curve,
    InstanceGroup,
    Latency,
    Level,
    Metadata,
    ModelLevel,
    Run,
    SendLag,
    ServerTimes,
    Slo,
    Window,
)
from helpers.queueing_theory import md1_level

SLO = Slo("p99", 100.0)  # frozen, so safe as a shared default


def latency(p99: float, p50: float | None = None) -> Latency:
    """Percentiles derived from p99 (and p50 when given) in fixed proportions."""
    p50 = p99 * 0.5 if p50 is None else p50
    return Latency(p50=p50, p90=p99 * 0.8, p95=p99 * 0.9, p99=p99, p999=p99 * 1.3, mean=p99 * 0.55, max=p99 * 1.6)


def windows(rps: float, p99: float, spread: Sequence[float] = (-0.01, 0.0, 0.01)) -> tuple[Window, ...]:
    """One window per relative offset: rps and p99 both scaled by (1 + offset)."""
    return tuple(Window(rps * (1 + d), p99 * (1 + d), int(rps * 10 * (1 + d)), 10.0) for d in spread)


def level(
    concurrency: int | None,
    rps: float,
    p99: float,
    *,
    stable: bool = True,
    saturated: bool = False,
    failures: int = 0,
    batch: int = 1,
    mode: str = "concurrency",
    offered: float | None = None,
    spread: Sequence[float] = (-0.01, 0.0, 0.01),
    **extra: Any,
) -> Level:
    flags = tuple(f for f, on in (("unstable", not stable), ("client-saturated", saturated)) if on)
    values: dict[str, Any] = dict(
        concurrency=concurrency,
        achieved_rps=rps,
        requests=int(rps * 30),
        failures=failures,
        latency_ms=latency(p99),
        stable=stable,
        client_saturated=saturated,
        mode=mode,
        offered_rps=offered,
        achieved_ips=rps * batch,
        server_us=ServerTimes(
            queue=p99 * 200, compute_input=50.0, compute_infer=p99 * 300, compute_output=20.0, request=p99 * 520
        ),
        avg_batch=1.0 * batch,
        client_cpu_percent=95.0 if saturated else 40.0,
        windows=windows(rps, p99, spread),
        flags=flags,
    )
    values.update(extra)
    return Level(**values)


def sweep(points: Sequence[tuple[int, float, float]], **kwargs: Any) -> tuple[Level, ...]:
    """Closed-loop levels from (concurrency, achieved rps, p99 ms) triples."""
    return tuple(level(c, rps, p99, **kwargs) for c, rps, p99 in points)


def curve(
    kind: Literal["CPU", "GPU"] = "CPU",
    count: int = 1,
    levels: Sequence[Level] = (),
    *,
    slo: Slo = SLO,
    model: str = "resnet",
    skipped: str | None = None,
    **extra: Any,
) -> Curve:
    """A curve whose recorded capacity is the harness's own rule for slo (harness.analysis.capacity)."""
    capacity = decide_capacity(tuple(levels), slo)
    config = {
        "name": model,
        "max_batch_size": 8,
        "instance_group": [{"kind": f"KIND_{kind}", "count": count}],
        "dynamic_batching": {"max_queue_delay_microseconds": 100},
    }
    return Curve(
        model=model,
        instance_group=InstanceGroup(kind, count),
        skipped_reason=skipped,
        levels=tuple(levels),
        capacity=capacity,
        model_config=config,
        max_batch_size=8,
        dynamic_batching=True,
        **extra,
    )


def run(curves: Sequence[Curve], *, label: str = "base", slo: Slo = SLO, **meta: Any) -> Run:
    values: dict[str, Any] = dict(
        harness_version="0.1.0",
        git_revision="abc1234",
        triton_version="2.51.0",
        model="resnet",
        label=label,
        host={"cpu_model": "Test CPU @ 2.0GHz", "cores": 2, "memory_gb": 8, "gpu": None, "hostname": "box"},
        versions={"python": "3.11.9", "locust": "2.47.0", "tritonclient": "2.51.0", "torch": "2.4.0"},
        command_line="harness sweep resnet --slo p99=100ms",
        started_at="2025-01-01T10:00:00Z",
        ended_at="2025-01-01T10:20:00Z",
        settings={"warmup_s": 5, "window_s": 10, "windows": 3},
        complete=True,
    )
    values.update(meta)
    return Run(metadata=Metadata(**values), slo=slo, curves=tuple(curves))


def cpu_gpu_run(label: str = "base") -> Run:
    """A typical sweep: cpu:1, cpu:2 (one unstable and one client-saturated level), gpu:1 skipped."""
    cpu1 = curve("CPU", 1, sweep([(1, 100.0, 12.0), (2, 180.0, 15.0), (4, 250.0, 40.0), (8, 270.0, 120.0)]))
    cpu2_levels = sweep([(1, 110.0, 11.0), (2, 210.0, 12.0), (4, 390.0, 25.0)]) + (
        level(8, 520.0, 60.0, stable=False),
        level(16, 560.0, 95.0, saturated=True),
        level(32, 570.0, 210.0),
    )
    cpu2 = curve("CPU", 2, cpu2_levels)
    gpu1 = curve("GPU", 1, skipped="no GPU on this host")
    return run([cpu1, cpu2, gpu1], label=label)


def rate_run(label: str = "rate") -> Run:
    """An open-loop run with late sends (each level's send lag recorded as a distribution too, from a constant
    schedule), goodput (falling behind throughput past the SLO) and rate-search probes."""
    levels = tuple(
        level(
            None,
            achieved,
            p99,
            mode="rate",
            offered=offered,
            late_sends=late,
            max_send_lag_ms=lag,
            goodput_rps=good,
            send_lag_us=SendLag(p50=lag * 50, p99=lag * 800, max=lag * 1000),
            arrivals_cv=0.02 + lag / 100,
            asked_arrivals_cv=0.0,
        )
        for offered, achieved, p99, late, lag, good in (
            (100.0, 100.0, 10.0, 0, 0.4, 100.0),
            (200.0, 199.0, 14.0, 0, 0.8, 199.0),
            (400.0, 380.0, 70.0, 12, 4.0, 376.2),
            (600.0, 450.0, 300.0, 240, 35.0, 121.5),
        )
    )
    probes = (
        level(None, 300.0, 30.0, mode="rate", offered=300.0),
        level(None, 500.0, 150.0, mode="rate", offered=500.0),
    )
    return run([curve("CPU", 2, levels, probes=probes)], label=label)


def mix_run(label: str = "mix") -> Run:
    """A two-model mix (a=3,b=1, closed loop): each level's combined figures and both models' own, b slower and
    over its own SLO (p99 <= 30 ms) from concurrency 8 on, so the mix's capacity is the level before."""
    levels = []
    for users, (a_rps, a_p99), (b_rps, b_p99) in ((4, (300.0, 10.0), (25.0, 20.0)), (8, (500.0, 14.0), (40.0, 45.0))):
        a_users, b_users = users * 3 // 4, users // 4
        parts = {
            "a": ModelLevel(3.0, int(a_rps * 30), 0, a_rps, latency(a_p99), users=a_users, windows=windows(a_rps, a_p99)),
            "b": ModelLevel(
                1.0,
                int(b_rps * 30),
                0,
                b_rps,
                latency(b_p99),
                users=b_users,
                windows=windows(b_rps, b_p99),
                slo=Slo("p99", 30.0),
            ),
        }
        parts = {
            m: dataclasses.replace(p, share=p.requests / sum(q.requests for q in parts.values())) for m, p in parts.items()
        }
        parts = {m: dataclasses.replace(p, slo_met=model_meets_slo(p, p.slo or SLO)) for m, p in parts.items()}
        levels.append(level(users, a_rps + b_rps, max(a_p99, b_p99), models=parts))
    return run([curve("CPU", 1, levels, model="a", mix={"a": 3.0, "b": 1.0})], label=label, model="a")


PLAN_SLO = Slo("p99", 40.0)
PLAN_DAY = "time,rps\n00:00,40\n06:00,150\n12:00,900\n18:00,300\n"  # four 6-hour steps


@functools.cache  # a run is immutable, and its plan takes a second of simulation
def plan_run(label: str = "plan") -> Run:
    """A `harness plan` run at p99 <= 40 ms over PLAN_DAY: cpu:1 (10 ms) and gpu:1 (1 ms, 50 J per 1,000
    requests) measured as M/D/1 says, priced; cpu:2 measured as cpu:1 was (two instances that did not help),
    without a price."""

    def measured(kind: Literal["CPU", "GPU"], count: int, service_ms: float, rates: Sequence[float], **extra: Any) -> Curve:
        levels = [dataclasses.replace(md1_level(r, service_ms), **extra) for r in rates]
        return dataclasses.replace(curve(kind, count, levels, slo=PLAN_SLO, model="fixed_delay"), dynamic_batching=False)

    curves = [
        measured("CPU", 1, 10.0, (20, 40, 60)),
        measured("CPU", 2, 10.0, (20, 40, 60)),
        measured("GPU", 1, 1.0, (200, 400, 600), energy_j_per_1k=50.0),
    ]
    measured_run = run(curves, label=label, slo=PLAN_SLO, model="fixed_delay")
    candidates = plan_candidates([measured_run], PLAN_SLO, {"cpu:1": 0.05, "gpu:1": 2.5})
    plan = make_plan(candidates, parse_traffic(PLAN_DAY, "day.csv"), PLAN_SLO)
    return dataclasses.replace(measured_run, plan=plan)


def tally(
    requests: int,
    seconds: float,
    *,
    latency_ms: float = 10.0,
    failures: int = 0,
    cpu_percent: float = 40.0,
    lag_ms: float = 0.0,
    late: int = 0,
    dropped: int = 0,
    worker: str = "w1",
    sent: Sequence[float] = (),
    lags_us: Sequence[int] = (),
) -> Tally:
    """One worker's window as the sweep's master merges it: `requests` answered in `latency_ms` each (of them
    `failures` failed) over `seconds`, with the given CPU use, send lag (the worst, and each send's) and drops."""
    hist, failed = LatencyHistogram(), LatencyHistogram()
    for index in range(requests):
        hist.record_seconds(latency_ms / 1000.0)
        if index < failures:
            failed.record_seconds(latency_ms / 1000.0)
    lags = LatencyHistogram()
    lags.record_all_micros(lags_us)
    merged = Tally()
    merged.add(
        worker,
        WorkerDelta(
            hist=hist.encode(),
            requests=requests,
            failures=failures,
            failed_hist=failed.encode() if failures else "",
            t0=0.0,
            t1=seconds,
            cpu_s=cpu_percent / 100.0 * seconds,
            late_sends=late,
            max_send_lag_ms=lag_ms,
            dropped=dropped,
            sent=array("d", sent).tobytes(),
            send_lag=lags.encode() if lags.count else "",
        ),
    )
    return merged


def recorded_window(requests: Sequence[tuple[float, bool]], seconds: float = 1.0, worker: str = "w1") -> Tally:
    """One worker's window of (latency ms, failed) requests as its counters record them (LoadCounters, what the
    engines' results become), merged as the sweep's master does; the window spans `seconds`."""
    counters = LoadCounters()
    for latency_ms, failed in requests:
        counters.record(latency_ms / 1000.0, "UNAVAILABLE" if failed else None)
    delta = counters.flush(host="h", engine="python")
    merged = Tally()
    merged.add(worker, WorkerDelta.from_message({**delta.to_message(), "t0": 0.0, "t1": seconds}))
    return merged
