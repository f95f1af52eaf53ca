"""`harness sweep`: one command, many load levels, a run folder and a report at the end."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Callable

# Locust (imported by the load driver) patches the process for gevent and the plugin makes gRPC cooperate:
# this import comes before every other harness or third-party one, so no channel or ssl import precedes it.
from harness.load.driver import DriverSettings, LoadDriver

# isort: split
import gevent

from harness.cli.parse import parse_url
from harness.cli.sweep_flags import spec_from_args
from harness.errors import ConfigError, HarnessError
from harness.record.model import Metadata, Run
from harness.record.store import save_run
from harness.record.sysinfo import git_revision, host_info, package_versions
from harness.report.run_page import capacity_sentence, write_report
from harness.sweep.progress import SweepProgress
from harness.sweep.runner import SweepState, new_run, sweep_variant
from harness.sweep.spec import SweepSpec
from harness.triton.control import ControlClient
from harness.triton.repository import resolve_repository
from harness.triton.server import open_server


def run_sweep(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    url = parse_url(args.url) if args.url else None
    repository = resolve_repository(args.model_repository) if not url else Path(".")
    folder = Path(args.output or Path("results") / f"{datetime.now():%Y%m%d-%H%M%S}-{spec.model}")
    folder.mkdir(parents=True, exist_ok=True)
    _graceful_sigterm()
    progress: SweepProgress | None = None
    state: SweepState | None = None
    cause, code = "", 0
    try:
        with open_server(url, repository, folder / "triton.log", binary=args.tritonserver) as server:
            with ControlClient(server.endpoints.grpc_url) as control:
                control.check_reachable()
                state = SweepState(_start_run(spec, control), folder)
                state.save()
                progress = SweepProgress(spec, folder)
                _sweep(spec, server.endpoints.grpc_url, control, state, progress, folder, server.exit_cause)
    except KeyboardInterrupt:
        cause, code = "stopped by Ctrl-C or SIGTERM", 130
    except HarnessError as exc:
        cause, code = str(exc), exc.exit_code
        if state is None:
            _record_failed_start(spec, folder, cause)
            raise
    finally:
        if progress is not None:
            progress.close()
        if state is not None:
            cause, code = _finish(state, folder, _where(cause, progress), cause, code)
    if code and code != 130:
        print(f"harness sweep: error: {cause}", file=sys.stderr)
    return code


def _record_failed_start(spec: SweepSpec, folder: Path, cause: str) -> None:
    """A sweep that could not start still leaves a valid run folder saying why (when the folder is writable)."""
    if (folder / "run.json").exists():
        return
    metadata = Metadata(model=spec.model, label=spec.label, command_line=_command_line(), interrupted=cause)
    try:
        save_run(Run(metadata=metadata, slo=spec.slo), folder)
    except HarnessError:
        pass


def _where(cause: str, progress: SweepProgress | None) -> str:
    """The one-line cause, with the level it cut short when one was running."""
    if not cause:
        return ""
    at = progress.where() if progress is not None else ""
    return f"{cause} (at {at})" if at else cause


def _start_run(spec: SweepSpec, control: ControlClient) -> Run:
    known = dict(control.repository_models())
    if spec.model not in known:
        raise ConfigError(f"unknown model {spec.model!r}; available: {', '.join(sorted(known)) or 'none'}")
    return new_run(spec, control.server_version(), host_info(), package_versions(), git_revision(), _command_line())


def _command_line() -> str:
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])


def _sweep(spec: SweepSpec, url: str, control: ControlClient, state: SweepState, progress: SweepProgress,
           folder: Path, health: Callable[[], str | None]) -> None:
    settings = DriverSettings(triton_url=url, model=spec.model, workers=spec.workers, batch_size=spec.batch_size,
                              input_seed=spec.seed, arrivals=spec.arrivals, log_dir=folder / "logs",
                              request_timeout_s=spec.request_timeout_s)
    with LoadDriver(settings) as driver:
        for group in spec.instances:
            curve = sweep_variant(spec, group, control, driver, state, progress.update, health)
            state.finish_curve(curve)
            progress.curve_done(curve)


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
    print(f"\nrun {status}\n  run:    {folder / 'run.json'}\n  levels: {folder / 'levels.csv'}\n"
          f"  report: {folder / 'report.html'}")
    for curve in state.run.curves:
        print(f"  {capacity_sentence(state.run, curve)}")
    return cause, code


def _graceful_sigterm() -> None:
    """SIGTERM stops the sweep like Ctrl-C: the main greenlet gets KeyboardInterrupt and the run is kept."""
    main = gevent.getcurrent()
    gevent.signal_handler(signal.SIGTERM, lambda: gevent.get_hub().loop.run_callback(main.throw, KeyboardInterrupt))
