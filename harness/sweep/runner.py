"""The capacity sweep: for each instance-group variant, measure rising load levels and record the run.

Each level: untimed warm-up, then measurement windows until the last 3 agree (or the window budget runs out:
unstable). Level figures come from the merged histograms of those last windows only, and Triton's statistics
delta over the same windows. The run is saved after every level, so an interruption keeps what was measured.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from harness import __version__, defaults
from harness.analysis.capacity import (
    STABLE_WINDOWS,
    capacity,
    delivered_rate,
    goodput,
    model_meets_slo,
    probe_evidence,
)
from harness.errors import BudgetSpent, GpuUnavailable, HarnessError, ServerLostError
from harness.load.aggregate import Tally
from harness.load.arrivals import asked_cv, cv_tolerance, keeps_schedule
from harness.load.engine.compiled import engine_name
from harness.load.engine.validation import PREFIX as VALIDATION_PREFIX
from harness.load.histogram import LatencyHistogram
from harness.load.mix import MixPlan, format_mix
from harness.record.model import (
    Curve,
    InstanceGroup,
    Latency,
    Level,
    Metadata,
    ModelLevel,
    Run,
    SendLag,
    Window,
    WorkerUse,
)
from harness.record.server_statistics import StatsSnapshot, combined
from harness.record.store import save_run
from harness.sweep.checks import LevelFigures, failed_checks
from harness.sweep.rules import (
    ConcurrencySearch,
    RateSearch,
    drain_poll_s,
    is_stable,
    queue_drained,
    server_delta,
    window_needs_more,
)
from harness.sweep.spec import SweepSpec
from harness.triton.control import STATISTICS_TIMEOUT_S, ControlClient
from harness.triton.metrics import MetricsSnapshot, ServerProbe
from harness.triton.variants import Variant, load_variant, served_config, served_group, served_name

if TYPE_CHECKING:  # the driver imports Locust, which patches the process for gevent: not at import time here
    from harness.load.driver import LoadDriver

# A send this far behind schedule means the generator, not the server, set the pace.
LATE_LAG_MS = 10.0
# Flags that say the load generator, not the server, limited a level: its CPU, or sends that left late or did not
# keep their spacing (an engine's sends wait on no reply, so their lag is the generator's own).
CLIENT_LIMITED = ("client-saturated", "generator-late", "send-lag")
# How often a level looks at the server's health while it waits: a dead server ends the level this soon.
HEALTH_POLL_S = 0.5
# Triton's statistics calls wait the request timeout, at least this long (at most the control client's bound).
MIN_STATISTICS_TIMEOUT_S = 5.0
# The rate search starts from a short closed-loop probe at this many users per worker.
START_PROBE_USERS = 8


@dataclass
class LevelProgress:
    """What the progress display shows while a level runs."""

    curve: str = ""
    level: str = ""
    window: int = 0
    rps: float = 0.0
    p99_ms: float = 0.0
    stable: bool = False
    done_levels: int = 0
    phase: str = "warm-up"  # what runs now: "warm-up" or "window N" (where an interruption would cut it)


ProgressFn = Callable[[LevelProgress], None]
HealthFn = Callable[[], "str | None"]  # None while the server runs, else why it stopped (or raises BudgetSpent)
# What ends a level where it is, keeping what it measured (flagged "interrupted"): a lost server, a spent budget.
CUT_SHORT = (ServerLostError, BudgetSpent)


def _healthy() -> str | None:
    return None


@dataclass
class SweepState:
    """The run being built, saved after every level: finished curves plus the one being measured."""

    run: Run
    folder: Path
    curves: list[Curve] = field(default_factory=list)
    current: Curve | None = None

    def save(self, current: Curve | None = None, complete: bool = False, interrupted: str = "") -> None:
        self.current = current or self.current
        curves = tuple(self.curves + ([self.current] if self.current is not None else []))
        metadata = replace(self.run.metadata, ended_at=_now(), complete=complete, interrupted=interrupted)
        self.run = replace(self.run, metadata=metadata, curves=curves)
        save_run(self.run, self.folder)

    def finish_curve(self, curve: Curve) -> None:
        self.curves.append(curve)
        self.current = None
        self.save()


def new_run(spec: SweepSpec, triton_version: str, host: dict, versions: dict, revision: str, command: str) -> Run:
    # agreements: each variant's curve records its own (Curve.variant); trace: the schedule file's gaps (its path is kept)
    skipped = ("instances", "slo", "model", "label", "agreements", "trace")
    settings = {k: v for k, v in dataclasses.asdict(spec).items() if k not in skipped}
    settings["load_engine"] = engine_name()  # compiled or Python: the Python one costs several times the client CPU
    metadata = Metadata(
        harness_version=__version__,
        git_revision=revision,
        triton_version=triton_version,
        model=spec.model,
        label=spec.label,
        host=host,
        versions=versions,
        command_line=command,
        started_at=_now(),
        settings=settings,
    )
    return Run(metadata=metadata, slo=spec.slo)


def sweep_variant(
    spec: SweepSpec,
    group: InstanceGroup,
    control: ControlClient,
    driver: LoadDriver,
    state: SweepState,
    progress: ProgressFn,
    server: ServerProbe | None = None,
    health: HealthFn = _healthy,
) -> Curve:
    """Deploy one variant and measure its levels; a GPU variant on a GPU-less server becomes a skipped curve."""
    curve = Curve(
        model=spec.model,
        instance_group=group,
        batch_size=spec.batch_size,
        max_batch_size=spec.max_batch_size,
        dynamic_batching=spec.dynamic_batching,
        variant=spec.agreement_of(spec.model),
    )
    if group.source == "deployed":  # measured as served: nothing is loaded or unloaded
        config = served_config(control, spec.model)
        curve = replace(
            curve,
            instance_group=served_group(config),
            configuration=served_name(config),
        )
    else:

        def variant(model: str) -> Variant:  # a mix's model on its own group (--instances a=cpu:2,...) or on `group`
            return Variant(spec.group_of(model, group), spec.max_batch_size, spec.dynamic_batching, spec.queue_delay_us)

        try:
            for other in _mixed(spec)[1:]:  # a mix: every model served, the first's config kept as the curve's
                load_variant(control, other, variant(other))
            config = load_variant(control, spec.model, variant(spec.model))
        except GpuUnavailable as exc:
            return replace(curve, skipped_reason=str(exc))
        if spec.model_instances:  # named after each model's group, as --instances gave them
            curve = replace(curve, configuration=",".join(f"{m}={g}" for m, g in spec.model_instances))
    # batching as served, not as asked: a spec that keeps the model's own leaves both None, and the queueing fit
    # then read a batching model as one request per execution (mnist_cnn: 320 req/s predicted, 2,500 measured)
    curve = replace(curve, model_config=config)
    if config:
        batching = int(config.get("max_batch_size", 0)), "dynamic_batching" in config
        curve = replace(curve, max_batch_size=batching[0], dynamic_batching=batching[1])
    state.save(current=curve)
    curve = replace(curve, mix=dict(spec.mix))
    name = curve.configuration or (f"{spec.model} {group}" if spec.models else f"{group}")
    name = f"{format_mix(spec.mix)} {group}" if spec.mix else name
    measure = LevelRunner(spec, control, driver, progress, name=name, health=health)
    measure.server = server
    try:
        if spec.mode == "rate":
            return _rate_levels(spec, curve, measure, state)
        return _concurrency_levels(spec, curve, measure, state)
    except CUT_SHORT:  # keep the level it cut short, then end the sweep
        if measure.cut_short is not None and state.current is not None:
            cut = state.current
            state.save(current=replace(cut, levels=cut.levels + (measure.cut_short,)))
        raise


def _concurrency_levels(spec: SweepSpec, curve: Curve, measure: LevelRunner, state: SweepState) -> Curve:
    search = ConcurrencySearch(spec.slo, limit=spec.max_concurrency, start=max(len(spec.mix), 1))
    planned = list(spec.concurrency or ())
    while True:
        users = planned.pop(0) if spec.concurrency else search.next_level(curve.levels)
        if users is None:
            return curve
        level = measure.level(users=users, searching=not spec.concurrency)
        curve = replace(curve, levels=curve.levels + (level,))
        curve = replace(curve, capacity=capacity(curve.levels, spec.slo))
        state.save(current=curve)
        if spec.concurrency and not planned:
            return curve


def _rate_levels(spec: SweepSpec, curve: Curve, measure: LevelRunner, state: SweepState) -> Curve:
    planned = list(spec.rates or ())
    search = RateSearch(spec.slo, start_rps=_search_start(spec, measure) if spec.rate_auto and not planned else 10.0)
    state.save(current=curve)
    while True:
        rate = planned.pop(0) if planned else (search.next_rate(curve.probes) if spec.rate_auto else None)
        if rate is None:
            return curve
        level = measure.level(users=spec.rate_senders, rate=rate, searching=spec.rate_auto and not spec.rates)
        if spec.rate_auto and not spec.rates:  # probes in search order; levels sorted by rate for the curves
            curve = replace(curve, probes=curve.probes + (level,))
            curve = replace(curve, levels=tuple(sorted(curve.probes, key=lambda lv: lv.offered_rps or 0.0)))
        else:
            curve = replace(curve, levels=curve.levels + (level,))
        curve = replace(curve, capacity=capacity(curve.levels, spec.slo))
        state.save(current=curve)


def _search_start(spec: SweepSpec, measure: LevelRunner) -> float:
    """Where the rate search starts: --rate-start, else what a short closed-loop probe served. The start only saves
    probes: the search doubles from a start below capacity and halves (to just above what an overloaded probe
    served) from one above it, so any start reaches the same capacity; the closed loop's throughput is near it."""
    return spec.rate_start if spec.rate_start is not None else measure.closed_loop_rps()


class LevelRunner:
    """Runs one level: warm-up, windows until stable (a search probe: until its SLO evidence is clear), then the
    level's figures. A server that exits, stops answering, or fails a whole window ends the level at once
    (ServerLostError), keeping what was measured as `cut_short`."""

    def __init__(
        self,
        spec: SweepSpec,
        control: ControlClient,
        driver: LoadDriver,
        progress: ProgressFn,
        name: str,
        health: HealthFn = _healthy,
    ) -> None:
        self.spec, self.control, self.driver, self.progress, self.name = spec, control, driver, progress, name
        self.health = health
        self.done = 0
        self.cut_short: Level | None = None
        self.server: ServerProbe | None = None  # server evidence (CPU, memory, GPU, power) per window boundary
        self._evidence: list[MetricsSnapshot] = []

    def closed_loop_rps(self) -> float:
        """A short closed-loop probe (warm-up and one window): where the rate search starts."""
        users = START_PROBE_USERS * self.spec.workers
        status = LevelProgress(curve=self.name, level=f"closed-loop start probe ({users} users)", done_levels=self.done)
        self.progress(status)
        self.driver.start_level(users, curve=self.name)
        try:
            self._sleep(self.spec.warmup_s)
            self._check(self.driver.take_window(measured=False), warmup=True)
            tally = self._window()
        finally:
            self.driver.stop_level()
        status.window, status.rps, status.p99_ms = 1, tally.rps, tally.hist.percentile_ms(99)
        self.progress(status)
        return max(tally.rps, 1.0)

    def level(self, users: int, rate: float | None = None, searching: bool = False) -> Level:
        spec = self.spec
        status = LevelProgress(
            curve=self.name, level=f"{rate:g} req/s" if rate else f"concurrency {users}", done_levels=self.done
        )
        self.progress(status)
        tallies: list[Tally] = []
        snapshots: list[StatsSnapshot] = []
        self.cut_short = None
        self.driver.start_level(users, target_rps=rate, curve=self.name)
        try:
            self._sleep(spec.warmup_s)
            self._check(self.driver.take_window(measured=False), warmup=True)  # warm-up: discarded
            self._windows(status, tallies, snapshots, rate, searching)
        except CUT_SHORT:
            counted = tallies[: len(snapshots) - 1]  # a window cut before its statistics were read is not counted
            if counted:
                level = summarize_level(spec, users, rate, counted, snapshots)
                self.cut_short = replace(level, flags=level.flags + ("interrupted",))
            raise
        finally:
            self.driver.stop_level()
        self.done += 1
        settings = getattr(self.driver, "settings", None)
        report_interval_s = getattr(settings, "report_interval_s", defaults.SWEEP_REPORT_INTERVAL_S)
        level = summarize_level(
            spec, users, rate, tallies, snapshots, lost=self.driver.take_lost(), report_interval_s=report_interval_s
        )
        level = self._with_evidence(level, len(tallies), snapshots)
        if rate is not None:
            status.phase = "queue drain"
            try:
                self._drain()
            except CUT_SHORT:  # the level itself was measured in full: kept as it is
                self.cut_short = level
                raise
        return level

    def _windows(
        self, status: LevelProgress, tallies: list[Tally], snapshots: list[StatsSnapshot], rate: float | None, searching: bool
    ) -> None:
        snapshots.append(self._statistics())
        self._evidence = [self.server.snapshot()] if self.server else []
        windows: list[Window] = []
        for index in range(self.spec.max_windows):
            status.phase = f"window {index + 1}"
            tally = self._window()
            tallies.append(tally)
            self._check(tally)
            snapshots.append(self._statistics())
            if self.server:
                self._evidence.append(self.server.snapshot())
            windows.append(window_of(tally))
            status.window, status.rps, status.p99_ms = index + 1, windows[-1].achieved_rps, windows[-1].p99_ms
            status.stable = is_stable(windows, self.spec.stability)
            self.progress(status)
            if self._enough(status.stable, windows, tallies, rate, searching):
                break

    def _enough(self, stable: bool, windows: list[Window], tallies: list[Tally], rate: float | None, searching: bool) -> bool:
        """A sweep level: stable. A search probe: its SLO evidence is clear over >= 3 windows (doubtful ones
        are measured longer, up to --max-windows), whatever the windows' agreement."""
        if not searching:
            return stable
        if len(windows) < STABLE_WINDOWS:
            return False
        probe = summarize_level(self.spec, 1, rate, tallies, [StatsSnapshot()] * (len(tallies) + 1))
        return probe_evidence(probe, self.spec.slo) != "doubtful"

    def _with_evidence(self, level: Level, windows: int, snapshots: list[StatsSnapshot]) -> Level:
        """The level with the server's evidence over the same counted windows as its figures (the statistics over
        those windows prove the metrics endpoint is the server's)."""
        counted = min(windows, STABLE_WINDOWS)
        if not self.server or len(self._evidence) <= counted:
            return level
        first, last = snapshots[-counted - 1], snapshots[-1]
        if self.spec.mix:  # the metrics endpoint's count is checked for the probe's model: that model's own, not the sum
            first, last = first.part(self.spec.model), last.part(self.spec.model)
        served = last.success_count - first.success_count
        evidence = self.server.level_metrics(self._evidence[-counted - 1], self._evidence[-1], served)
        return replace(level, **dataclasses.asdict(evidence))

    def _window(self) -> Tally:
        """One window: --window long, stretched by half windows while harness.sweep.rules.window_needs_more
        says its rate and p99 would not mean something yet."""
        window_s = self.spec.window_s
        self._sleep(window_s)
        tally, elapsed = self.driver.take_window(), window_s
        while window_needs_more(tally.requests, elapsed, window_s, self.spec.request_timeout_s):
            self._sleep(window_s / 2)
            tally.merge(self.driver.take_window())
            elapsed += window_s / 2
        return tally

    def _sleep(self, seconds: float) -> None:
        """Wait, looking at the server every HEALTH_POLL_S: a server that exits ends the level now."""
        remaining = seconds
        while remaining > 0:
            step = min(HEALTH_POLL_S, remaining)
            self.driver.sleep(step)
            remaining -= step
            if (cause := self.health()) is not None:
                raise ServerLostError(cause)

    def _check(self, tally: Tally, warmup: bool = False) -> None:
        """A window in which every request failed, or none completed, means the server is gone or hung."""
        if (cause := self.health()) is not None:
            raise ServerLostError(cause)
        wrong_answers = (tally.first_error or "").startswith(VALIDATION_PREFIX)  # answered, just not as expected
        if tally.requests and tally.failures == tally.requests and not wrong_answers:
            raise ServerLostError(f"every request of a window failed ({tally.failures}): {tally.first_error}")
        if not warmup and tally.requests == 0:
            raise ServerLostError(
                f"no request completed in {tally.span_s or self.spec.window_s:.0f} s: the server is not answering"
            )

    def _drain(self) -> None:
        """Wait until Triton has served what an open-loop level left in its queue, at most the request timeout.

        Above capacity an open loop leaves seconds of requests queued at the server when its senders stop, and
        the next level would start on that backlog: a `--rate auto` probe at 70 % of capacity failed after an
        overloaded one (queue 2-4 s in each probe after it, on fixed_delay). Closed loops leave at most their
        users' requests, which the next warm-up absorbs."""
        waited, before = 0.0, self._statistics()
        while waited < self.spec.request_timeout_s:
            pause = drain_poll_s(before)
            self._sleep(pause)
            waited += pause
            after = self._statistics()
            if queue_drained(before, after, pause):
                return
            before = after

    def _statistics(self) -> StatsSnapshot:
        # A statistics call answers in milliseconds; a server that takes longer than a request may is hung (a
        # SIGSTOPped one was caught 15 s after its requests timed out at --request-timeout 2s; now 5 s).
        timeout_s = min(STATISTICS_TIMEOUT_S, max(MIN_STATISTICS_TIMEOUT_S, self.spec.request_timeout_s))
        try:
            if self.spec.mix:  # each model's counters, and their sums for the combined figures
                return combined({m: self.control.statistics(m, timeout_s=timeout_s) for m in _mixed(self.spec)})
            return self.control.statistics(self.spec.model, timeout_s=timeout_s)
        except HarnessError as exc:
            raise ServerLostError(self.health() or f"Triton's statistics call failed: {exc}") from exc


def window_of(tally: Tally) -> Window:
    return Window(
        achieved_rps=round(tally.rps, 3),
        p99_ms=round(tally.hist.percentile_ms(99), 3),
        requests=tally.requests,
        duration_s=round(tally.span_s, 3),
    )


def summarize_level(
    spec: SweepSpec,
    users: int,
    rate: float | None,
    tallies: list[Tally],
    snapshots: list[StatsSnapshot],
    lost: tuple[str, ...] = (),
    report_interval_s: float = defaults.SWEEP_REPORT_INTERVAL_S,
) -> Level:
    """The level's figures from its last (up to 3) windows; Triton's delta over the same windows."""
    counted = tallies[-STABLE_WINDOWS:]
    merged = Tally()
    for tally in counted:
        merged.merge(tally)
    windows = tuple(window_of(t) for t in tallies)
    stable = is_stable(windows, spec.stability)
    server_us, avg_batch = server_delta(snapshots[-len(counted) - 1], snapshots[-1])
    rps = merged.rps  # per worker: its requests over its own covered time, summed
    cpu = merged.max_cpu_percent
    scheduled = merged.scheduled_rps if rate else None
    span_s = sum(w.duration_s for w in windows[-len(counted) :])
    short = rate is not None and rate > 0 and not delivered_rate(rate, rps, scheduled, span_s)
    flags = _flags(stable, cpu >= spec.saturation_cpu, short, rate, merged.max_send_lag_ms, merged.total("dropped"))
    over, sample = _slo_count(tallies, spec)
    latency = _rounded(merged.hist)
    inconsistent = failed_checks(
        LevelFigures(
            mode="rate" if rate else "concurrency",
            users=users,
            achieved_rps=rps,
            mean_ms=latency.mean,
            requests=merged.requests,
            failures=merged.failures,
            server_request_us=server_us.request if server_us else None,
            server_successes=snapshots[-1].success_count - snapshots[-len(counted) - 1].success_count,
            report_interval_s=report_interval_s,
        )
    )
    if inconsistent:
        flags = (*flags, "inconsistent")
    cv = merged.arrivals_cv if rate else None
    lag, asked, arrival_flags = _arrivals_check(spec, rate, merged, cv)
    flags = (*flags, *arrival_flags)
    level = Level(
        concurrency=None if rate else users,
        mode="rate" if rate else "concurrency",
        offered_rps=rate,
        achieved_rps=round(rps, 3),
        achieved_ips=round(rps * spec.batch_size, 3),
        requests=merged.requests,
        failures=merged.failures,
        latency_ms=latency,
        stable=stable,
        client_saturated=any(flag in flags for flag in CLIENT_LIMITED),
        server_us=server_us,
        avg_batch=avg_batch,
        client_cpu_percent=round(cpu, 1),
        late_sends=merged.total("late_sends"),
        max_send_lag_ms=round(merged.max_send_lag_ms, 3),
        dropped=merged.total("dropped"),
        in_flight_end=merged.total("in_flight"),
        windows=windows,
        flags=flags + (("worker-lost",) if lost else ()),
        first_error=merged.first_error,
        workers=_worker_uses(merged),
        slo_over=over,
        slo_sample=sample,
        arrivals_cv=round(cv, 4) if cv is not None else None,
        inconsistent=inconsistent,
        scheduled_rps=round(scheduled, 3) if scheduled is not None else None,
        goodput_rps=round(goodput(rps, merged.requests, merged.succeeded_within_ms(spec.slo.limit_ms)), 3),
        send_lag_us=lag,
        asked_arrivals_cv=asked,
    )
    models = model_levels(spec, users, rate, tallies, snapshots, stable, report_interval_s)
    if not models:
        return level
    mixed = tuple(text for part in models.values() for text in part.inconsistent)  # a model's own count or law
    flags = level.flags + (("inconsistent",) if mixed and "inconsistent" not in level.flags else ())
    return replace(level, models=models, inconsistent=level.inconsistent + mixed, flags=flags)


def _mixed(spec: SweepSpec) -> tuple[str, ...]:
    return tuple(name for name, _ in spec.mix)


def model_levels(
    spec: SweepSpec,
    users: int,
    rate: float | None,
    tallies: list[Tally],
    snapshots: list[StatsSnapshot],
    stable: bool,
    report_interval_s: float = defaults.SWEEP_REPORT_INTERVAL_S,
) -> dict[str, ModelLevel]:
    """--mix: each model's figures from its part of the same counted windows, Triton's statistics for it over the
    same snapshots, the level's self-checks on it alone, and its own SLO verdict ({} without a mix)."""
    if not spec.mix:
        return {}
    counted = tallies[-STABLE_WINDOWS:]
    plan = MixPlan(spec.mix)
    counts = dict(zip(plan.models, plan.counts(users, open_loop=rate is not None), strict=True))
    parts: dict[str, Tally] = {}
    for model in plan.models:
        parts[model] = Tally()
        for tally in counted:
            parts[model].merge(tally.models.get(model, Tally()))
    level = _MixLevel(spec, rate, snapshots[-len(counted) - 1], snapshots[-1], stable, tallies, report_interval_s)
    total = sum(p.requests for p in parts.values())
    return {model: level.part(model, part, total, None if rate else counts[model]) for model, part in parts.items()}


@dataclass(frozen=True)
class _MixLevel:
    """What every model's part of one mixed level shares: the spec, the rate, the snapshots around the counted
    windows, the level's stability and windows."""

    spec: SweepSpec
    rate: float | None
    before: StatsSnapshot
    after: StatsSnapshot
    stable: bool
    tallies: list[Tally]
    report_interval_s: float

    def part(self, model: str, part: Tally, total: int, users: int | None) -> ModelLevel:
        spec, rate = self.spec, self.rate
        server_us, avg_batch = server_delta(self.before.part(model), self.after.part(model))
        served = self.after.part(model).success_count - self.before.part(model).success_count
        rps, latency = part.rps, _rounded(part.hist)
        checks = LevelFigures(
            mode="rate" if rate else "concurrency",
            users=users or 0,
            achieved_rps=rps,
            mean_ms=latency.mean,
            requests=part.requests,
            failures=part.failures,
            server_request_us=server_us.request if server_us else None,
            server_successes=served,
            report_interval_s=self.report_interval_s,
        )
        own = dict(spec.model_slos).get(model)  # recorded only when the model has its own: else readers judge with theirs
        figures = ModelLevel(
            weight=dict(spec.mix)[model],
            requests=part.requests,
            failures=part.failures,
            achieved_rps=round(rps, 3),
            latency_ms=latency,
            share=round(part.requests / total, 4) if total else 0.0,
            users=users,
            offered_rps=round(MixPlan(spec.mix).rate_of(model, rate), 3) if rate else None,
            achieved_ips=round(rps * spec.batch_size, 3),
            server_requests=served,
            server_us=server_us,
            avg_batch=avg_batch,
            windows=tuple(window_of(t.models.get(model, Tally())) for t in self.tallies),
            stable=self.stable,
            slo=own,
            first_error=part.first_error,
            inconsistent=tuple(f"{model} {text}" for text in failed_checks(checks)),
            slo_over=part.hist.count_above_ms((own or spec.slo).limit_ms),
            slo_sample=part.hist.count,
        )
        return replace(figures, slo_met=model_meets_slo(figures, own or spec.slo) if part.requests else None)


def _arrivals_check(
    spec: SweepSpec, rate: float | None, merged: Tally, cv: float | None
) -> tuple[SendLag | None, float | None, tuple[str, ...]]:
    """Open loop: the sends' lag, the CV asked for, and flags where the level did not send what it asked:
    "send-lag" (its sends did not keep their spacing, arrivals.keeps_schedule) and "arrivals-cv-off" (the measured
    CV is outside arrivals.cv_tolerance of the asked one)."""
    if not rate:
        return None, None, ()
    hist, flags = merged.send_lag, []
    lag = SendLag(p50=hist.percentile_us(50), p99=hist.percentile_us(99), max=hist.max_us) if hist.count else None
    if lag is not None and not keeps_schedule(lag.p99, rate):
        flags.append("send-lag")
    trace = spec.trace.gaps_s if spec.trace else ()
    asked = round(asked_cv(spec.arrival_kind, trace), 4)
    if cv is not None and abs(cv - asked) > cv_tolerance(spec.arrival_kind, merged.sends - 1, trace):
        flags.append("arrivals-cv-off")
    return lag, asked, tuple(flags)


def _worker_uses(merged: Tally) -> tuple[WorkerUse, ...]:
    """Which generators sent the level's requests, in a stable order (host, then engine)."""
    uses = (
        WorkerUse(
            host=w.host,
            engine=w.engine,
            cpu_percent=round(w.cpu_percent, 1),
            requests=w.requests,
            clock_offset_ms=w.clock_offset_ms,
        )
        for w in merged.workers.values()
    )
    return tuple(sorted(uses, key=lambda u: (u.host, u.engine, -u.requests)))


def _slo_count(tallies: list[Tally], spec: SweepSpec) -> tuple[int, int]:
    """Requests of every measured window slower than the SLO limit, and how many were judged: the evidence
    the capacity searches weigh (harness.analysis.capacity.slo_evidence)."""
    every = LatencyHistogram()
    for tally in tallies:
        every.add(tally.hist)
    return every.count_above_ms(spec.slo.limit_ms), every.count


def _flags(stable: bool, cpu_bound: bool, short: bool, rate: float | None, lag_ms: float, dropped: int) -> tuple[str, ...]:
    flags = []
    if not stable:
        flags.append("unstable")
    if cpu_bound:
        flags.append("client-saturated")
    if short:
        flags.append("below-offered-rate")
    if rate and lag_ms > LATE_LAG_MS:
        flags.append("generator-late")
    if dropped:  # open-loop sends skipped at --max-in-flight: the offered load was not sent, whatever the latency
        flags.append("dropped-sends")
    return tuple(flags)


def _rounded(hist: LatencyHistogram) -> Latency:
    summary = hist.summary()
    return replace(summary, **{k: round(v, 4) for k, v in dataclasses.asdict(summary).items()})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
