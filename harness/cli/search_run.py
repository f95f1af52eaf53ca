"""The measuring side of `harness search`: a server, one load driver, the generator's proposals measured one by one
as curves of one run (so the report, compare and verdict read it like a sweep), and the `search` section."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

# Locust (imported by the load driver) patches the process for gevent: before every other harness import.
from harness.load.driver import DriverSettings, LoadDriver

# isort: split
from harness.analysis.capacity import capacity_of
from harness.analysis.saturation import read_level
from harness.analysis.verdict import cost_per_million
from harness.cli.flags import ServerSource
from harness.cli.parse import parse_url
from harness.cli.sweep import _finish, _start_run, failed_start, server_probe, stop_on_signals
from harness.errors import BudgetSpent, HarnessError
from harness.record.model import Curve, SearchResult, SearchRow
from harness.sweep.inputs import check_input_data
from harness.sweep.progress import SweepProgress
from harness.sweep.runner import SweepState, sweep_variant
from harness.sweep.search import Candidate, Outcome, SearchSpace, brute_next, quick_next
from harness.sweep.spec import SweepSpec
from harness.triton.control import ControlClient
from harness.triton.repository import resolve_repository
from harness.triton.server import open_server

NEXT = {"quick": quick_next, "brute": brute_next}


def run_search(settings: tuple, source: ServerSource) -> int:  # type: ignore[type-arg]
    space, spec, mode, budget, costs, output = settings
    url = parse_url(source.url) if source.url else None
    repository = resolve_repository(source.model_repository) if not url else Path(".")
    folder = output or Path("results") / f"{datetime.now():%Y%m%d-%H%M%S}-search-{spec.model}"
    folder.mkdir(parents=True, exist_ok=True)
    stop_on_signals()  # Ctrl-C and SIGTERM stop the search alike: children stopped, the run kept
    state: SweepState | None = None
    cause, code, finished = "", 0, False  # as the sweep: complete only when the body ran to its end
    try:
        with (
            open_server(url, repository, folder / "triton.log", binary=source.tritonserver) as server,
            ControlClient(server.endpoints.grpc_url) as control,
        ):
            control.check_reachable()
            run = check_input_data(_start_run(spec, control), control, spec)  # bad --input-data: before any load
            state = SweepState(run, folder)
            state.save()
            probe = server_probe(source, server, spec.model, state)
            _search(
                space,
                spec,
                mode,
                Budget(budget, server.exit_cause),
                costs,
                server.endpoints.grpc_url,
                control,
                state,
                probe,
                folder,
            )
        finished = True
    except KeyboardInterrupt:
        cause, code = "stopped by Ctrl-C or SIGTERM", 130
    except HarnessError as exc:  # a lost server, a model that will not load, a full disk, bad input...
        cause, code = str(exc), exc.exit_code
    finally:
        if not finished and not cause:
            cause, code = "the search stopped on an unexpected error (its traceback follows)", 1
        state = state or failed_start(spec, folder, None)  # failed before its first level: run.json says so
        cause, code = _finish(state, folder, cause, cause, code)
        if state.run.search:
            _print_ranking(state.run.search)
    if code and code not in (130, BudgetSpent.exit_code):  # a stop asked for: said by "run INTERRUPTED"
        print(f"harness search: error: {cause}", file=sys.stderr)
    return code


class Budget:
    """--budget bounds the whole run: looked at before each configuration and, as the server's health, every
    time a level waits (every HEALTH_POLL_S), so one configuration cannot run past it."""

    def __init__(self, seconds: float | None, server_health: Callable[[], str | None]) -> None:
        self.seconds, self.server_health = seconds, server_health
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self) -> None:
        if self.seconds is not None and self.elapsed() > self.seconds:
            raise BudgetSpent(
                f"the search's --budget of {self.seconds:g} s ran out after {self.elapsed():.1f} s; "
                "a longer --budget measures the configurations left"
            )

    def health(self) -> str | None:
        """The level's health check: the server's exit cause, or BudgetSpent once the budget is gone."""
        self.check()
        return self.server_health()


def _search(
    space: SearchSpace,
    spec: SweepSpec,
    mode: str,
    budget: Budget,
    costs: dict[str, float],
    url: str,
    control: ControlClient,
    state: SweepState,
    probe: Any,
    folder: Path,
) -> None:
    host_cores = state.run.metadata.host.get("cores")
    outcomes: list[Outcome] = []
    latencies: dict[str, float | None] = {}
    stopped = "done"

    def result() -> SearchResult:
        return _result(mode, outcomes, latencies, costs, budget.elapsed(), budget.seconds, stopped)

    settings = DriverSettings(
        triton_url=url,
        model=spec.model,
        workers=spec.workers,
        batch_size=spec.batch_size,
        input_seed=spec.seed,
        arrivals=spec.arrivals,
        log_dir=folder / "logs",
        input_data=spec.input_data,
        shapes=" ".join(spec.shapes),
    )
    progress = SweepProgress(spec, folder)
    try:
        with LoadDriver(settings) as driver:
            while (candidate := NEXT[mode](space, outcomes, host_cores)) is not None:
                budget.check()
                left = len([c for c in space.all() if c not in {o.candidate for o in outcomes}]) - 1
                progress.console.print(
                    f"configuration {len(outcomes) + 1}: {candidate} ({len(outcomes)} done, at most {left} left)",
                    highlight=False,
                )
                curve = _measure(spec, candidate, control, driver, state, progress, probe, budget.health)
                outcomes.append(_outcome(candidate, curve))
                latencies[str(candidate)] = _slo_latency(curve, spec)
                state.run = replace(state.run, search=result())
                state.save()
    except BudgetSpent:
        stopped = "budget"
        raise
    finally:
        progress.close()
        state.run = replace(state.run, search=result())


def _measure(
    spec: SweepSpec,
    c: Candidate,
    control: ControlClient,
    driver: LoadDriver,
    state: SweepState,
    progress: SweepProgress,
    probe: Any,
    health: Callable[[], str | None],
) -> Curve:
    variant_spec = replace(
        spec,
        instances=(c.group,),
        max_batch_size=c.max_batch_size or None,
        dynamic_batching=c.queue_delay_us is not None,
        queue_delay_us=c.queue_delay_us,
    )
    curve = sweep_variant(variant_spec, c.group, control, driver, state, progress.update, probe, health)
    curve = replace(curve, configuration=str(c))
    state.finish_curve(curve)
    return curve


def _outcome(c: Candidate, curve: Curve) -> Outcome:
    read = read_level(curve)  # the level the saturation sentence reads: an unstable one's CPU is not evidence
    return Outcome(
        c,
        curve.capacity.max_rps_within_slo,
        read[0].server_cpu_cores if read else None,
        skipped=curve.skipped_reason is not None,
    )


def _slo_latency(curve: Curve, spec: SweepSpec) -> float | None:
    """The SLO percentile at the capacity level: the y of the configuration on the Pareto front."""
    _, level = capacity_of(curve, None)
    return None if level is None else level.latency_ms.get(spec.slo.percentile)


def _result(
    mode: str,
    outcomes: list[Outcome],
    latencies: dict[str, float | None],
    costs: dict[str, float],
    elapsed_s: float,
    budget: float | None,
    stopped: str,
) -> SearchResult:
    rows = []
    ordered = sorted(outcomes, key=lambda o: (o.skipped, -(o.capacity_rps or 0.0)))
    for rank, o in enumerate(ordered, start=1):
        per_hour = costs.get(f"{o.candidate.group.kind.lower()}:{o.candidate.group.count}")
        cost = cost_per_million(1, per_hour, o.capacity_rps) if per_hour is not None and o.capacity_rps else None
        rows.append(
            SearchRow(
                rank=rank,
                configuration=str(o.candidate),
                kind=o.candidate.group.kind,
                capacity_rps=o.capacity_rps,
                server_cpu_cores=o.server_cpu_cores,
                slo_latency_ms=latencies.get(str(o.candidate)),
                cost_per_million=None if cost is None else round(cost, 4),
                skipped_reason="skipped" if o.skipped else None,
            )
        )
    best = {kind: next((r.configuration for r in rows if r.kind == kind and r.capacity_rps), None) for kind in ("CPU", "GPU")}
    return SearchResult(
        mode=mode,
        configurations=tuple(rows),
        best_cpu=best["CPU"],
        best_gpu=best["GPU"],
        elapsed_s=round(elapsed_s, 1),
        budget_s=budget,
        stopped=stopped,
    )


def _print_ranking(result: SearchResult) -> None:
    print(
        f"\nsearch ({result.mode}, {result.elapsed_s:.0f} s, {len(result.configurations)} configurations, "
        f"ended: {result.stopped})"
    )
    for row in result.configurations:
        capacity = f"{row.capacity_rps:,.0f} req/s" if row.capacity_rps else "-"
        print(f"  {row.rank:>2}. {row.configuration:<24} {capacity:>14}  {row.skipped_reason or ''}")
    print(f"  best CPU: {result.best_cpu or 'none within the SLO'}; best GPU: {result.best_gpu or 'none'}")
