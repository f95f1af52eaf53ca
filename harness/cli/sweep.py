"""`harness sweep`: one command, many load levels, a run folder and a report at the end."""

from __future__ import annotations

import shlex
import signal
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

# Locust (imported by the load driver) patches the process for gevent and the plugin makes gRPC cooperate:
# this import comes before every other harness or third-party one, so no channel or ssl import precedes it.
from harness.load.driver import DriverSettings, LoadDriver

# isort: split
import gevent

from harness.analysis.saturation import saturation_sentence
from harness.cli.flags import ServerSource
from harness.cli.parse import parse_url
from harness.errors import HarnessError, UnknownModel
from harness.record.model import Run
from harness.record.sysinfo import git_revision, host_info, package_versions
from harness.report.run_page import capacity_sentence, write_report
from harness.sweep.inputs import check_input_data
from harness.sweep.progress import SweepProgress
from harness.sweep.runner import SweepState, new_run, sweep_variant
from harness.sweep.spec import SweepSpec
from harness.triton.control import ControlClient
from harness.triton.metrics import ServerProbe, default_metrics_url
from harness.triton.repository import resolve_repository
from harness.triton.server import open_server
from harness.triton.variants import check_deployment


def run_sweep(spec: SweepSpec, source: ServerSource, output: Path | None = None) -> int:
    url = parse_url(source.url) if source.url else None
    repository = resolve_repository(source.model_repository) if not url else Path(".")
    folder = output or Path("results") / f"{datetime.now():%Y%m%d-%H%M%S}-{spec.model}"
    folder.mkdir(parents=True, exist_ok=True)
    stop_on_signals()
    progress: SweepProgress | None = None
    state: SweepState | None = None
    run: Run | None = None
    cause, code = "", 0
    finished = False  # the body ran to its end: only then may the run be called complete
    try:
        with open_server(url, repository, folder / "triton.log", binary=source.tritonserver) as server:
            with ControlClient(server.endpoints.grpc_url) as control:
                control.check_reachable()
                run = _start_run(spec, control)
                check_deployment(control, spec.model, spec.instances)  # refused here, before any load or record
                run = check_input_data(run, control, spec)  # bad --input-data: refused here too
                state = SweepState(run, folder)
                state.save()
                progress = SweepProgress(spec, folder)
                probe = server_probe(source, server, spec.model, state)
                _sweep(spec, server.endpoints.grpc_url, control, state, progress, folder, probe, server.exit_cause)
        finished = True
    except KeyboardInterrupt:
        cause, code = "stopped by Ctrl-C or SIGTERM", 130
    except HarnessError as exc:  # a lost server or worker, a model that will not load, a full disk, bad input...
        cause, code = str(exc), exc.exit_code
    finally:
        if progress is not None:
            progress.close()
        if not finished and not cause:  # an unexpected error: its traceback follows, the run is not complete
            cause, code = "the sweep stopped on an unexpected error (its traceback follows)", 1
        state = state or failed_start(spec, folder, run)
        cause, code = _finish(state, folder, _where(cause, progress), cause, code)
    if code and code != 130:
        print(f"harness sweep: error: {cause}", file=sys.stderr)
    return code


def failed_start(spec: SweepSpec, folder: Path, run: Run | None) -> SweepState:
    """A run that failed before its first level (the server died starting, the model is not there, bad input):
    its folder still gets a run.json, saying what happened (_finish records it incomplete, with the cause)."""
    if run is None:
        run = new_run(spec, "", host_info(), package_versions(), git_revision(), _command_line())
    return SweepState(run, folder)


def _where(cause: str, progress: SweepProgress | None) -> str:
    """The one-line cause, with the level it cut short when one was running."""
    if not cause:
        return ""
    at = progress.where() if progress is not None else ""
    return f"{cause} (at {at})" if at else cause


def _start_run(spec: SweepSpec, control: ControlClient) -> Run:
    known = dict(control.repository_models())
    if spec.model not in known:
        raise UnknownModel(spec.model, known)
    return new_run(spec, control.server_version(), host_info(), package_versions(), git_revision(), _command_line())


def _command_line() -> str:
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def _sweep(
    spec: SweepSpec,
    url: str,
    control: ControlClient,
    state: SweepState,
    progress: SweepProgress,
    folder: Path,
    probe: ServerProbe | None,
    health: Callable[[], str | None],
) -> None:
    settings = DriverSettings(
        triton_url=url,
        model=spec.model,
        workers=spec.workers,
        batch_size=spec.batch_size,
        input_seed=spec.seed,
        arrivals=spec.arrivals,
        log_dir=folder / "logs",
        request_timeout_s=spec.request_timeout_s,
        input_data=spec.input_data,
        shapes=" ".join(spec.shapes),
        **_distributed_settings(spec),
    )
    with LoadDriver(settings, notify=lambda line: progress.console.print(line, highlight=False, soft_wrap=True)) as driver:
        for group in spec.instances:
            curve = sweep_variant(spec, group, control, driver, state, progress.update, probe, health)
            state.finish_curve(curve)
            progress.curve_done(curve)
        driver.check_workers()  # a worker lost in the last level: the run is not complete


def _distributed_settings(spec: SweepSpec) -> dict[str, Any]:
    """External workers join a master on --master-bind instead of the sweep's own local children."""
    if not spec.expect_workers:
        return {}
    return {
        "expect_workers": spec.expect_workers,
        "master_bind": spec.master_bind,
        "master_port": spec.master_port,
        "startup_timeout_s": spec.expect_workers_max_wait_s,
    }


def _finish(state: SweepState, folder: Path, interrupted: str, cause: str, code: int) -> tuple[str, int]:
    """Record the run as complete only when nothing cut it short; say so, and why not, in the terminal.
    Returns the cause and exit code, which a failure to write the run or its report (a full disk) sets."""
    try:
        state.save(complete=not interrupted, interrupted=interrupted)
        write_report(state.run, folder / "report.html")
    except HarnessError as exc:  # what was saved before stays valid (atomic writes)
        try:
            state.save(complete=False, interrupted=interrupted or str(exc))
        except HarnessError:
            pass
        print(f"\nrun INTERRUPTED: {interrupted or exc}; kept every level saved before", file=sys.stderr)
        return (cause or str(exc)), (code or exc.exit_code)
    status = "complete" if not interrupted else f"INTERRUPTED: {interrupted}; kept every finished level"
    print(
        f"\nrun {status}\n  run:    {folder / 'run.json'}\n  levels: {folder / 'levels.csv'}\n"
        f"  report: {folder / 'report.html'}"
    )
    for curve in state.run.curves:
        print(f"  {capacity_sentence(state.run, curve)}")
        if why := saturation_sentence(state.run, curve):
            print(f"    {why}")
    return cause, code


def server_probe(source: ServerSource, server: object, model: str, state: SweepState) -> ServerProbe:
    """Metrics of the server we started (its own port, its PID) or of a --url one (--metrics-url or port 8002).
    Why a figure is missing is said once, on the terminal and in the run's settings."""
    endpoints = server.endpoints  # type: ignore[attr-defined]
    url = endpoints.metrics_url or source.metrics_url or default_metrics_url(endpoints.grpc_url)

    def warn(message: str) -> None:
        print(f"warning: {message}", file=sys.stderr, flush=True)
        settings = {**state.run.metadata.settings, "server_metrics_note": message}
        state.run = replace(state.run, metadata=replace(state.run.metadata, settings=settings))

    return ServerProbe(url, getattr(server, "pid", None), model, warn=warn)


def stop_on_signals() -> None:
    """Ctrl-C and SIGTERM stop the sweep alike: the main greenlet gets KeyboardInterrupt and the run is kept.

    Both through gevent, to the main greenlet: Python's own SIGINT handler raised in whichever greenlet ran when it
    came (the worker monitor's, whose traceback then reached the user's terminal), and not at all where SIGINT came
    in ignored (a script's `harness sweep ... &`: the sweep ran to its end)."""
    main = gevent.getcurrent()
    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, lambda: gevent.get_hub().loop.run_callback(main.throw, KeyboardInterrupt))
