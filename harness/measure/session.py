"""`measure(job, proposer)`: a measuring run from its first line to its last, for every command that measures.

Reach or start the server; check the model, what the proposer will ask of it and the input data before any load;
start the record (run.json, saved after every level); start the load driver once; measure each proposed curve; end
on Ctrl-C, SIGTERM, a spent budget, a lost server or worker, an error or a defect, however it comes; and in every
case save what was measured, say how it ended (run.json, report, terminal) and return the exit status that says so.
"""

from __future__ import annotations

# Locust (imported by the load driver) patches the process for gevent and the plugin makes gRPC cooperate:
# this import comes before every other harness or third-party one, so no channel or ssl import precedes it.
from harness.load.driver import DriverSettings, LoadDriver

# isort: split
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from harness.errors import HarnessError, UnknownModel
from harness.load.engine.compiled import check_protocol
from harness.load.mix import format_mix
from harness.measure.budget import Budget
from harness.measure.ending import DEFECT, DONE, INTERRUPTED, RUNNING, Ending, ending_of
from harness.measure.job import Job, Proposer, command_line
from harness.measure.signals import stop_on_signals
from harness.measure.summary import print_summary
from harness.record.model import Run
from harness.record.sysinfo import git_revision, host_info, package_versions
from harness.report.run_page import write_report
from harness.sweep.inputs import check_input_data
from harness.sweep.progress import SweepProgress
from harness.sweep.runner import SweepState, new_run, sweep_variant
from harness.sweep.spec import SweepSpec
from harness.triton.control import ControlClient
from harness.triton.metrics import ServerProbe, default_metrics_url
from harness.triton.server import LocalServer, RemoteServer, open_source


def measure(job: Job, proposer: Proposer) -> int:
    """Run the job; the exit status says how it ended (0 done, 130 stopped by a signal, a HarnessError's code)."""
    folder = job.folder or default_folder(job)
    folder.mkdir(parents=True, exist_ok=True)
    stop_on_signals()
    life = _Life(job, proposer, folder)
    ending = DEFECT  # until the body says otherwise: an unexpected exception's traceback follows the summary
    try:
        life.run()
        ending = DONE
    except KeyboardInterrupt:
        ending = INTERRUPTED
    except HarnessError as exc:
        ending = ending_of(exc)
    finally:
        ending = life.finish(ending)
    if ending.exit_code and not ending.asked_for:
        print(f"harness {job.command}: error: {ending.cause}", file=sys.stderr)
    return ending.exit_code


def default_folder(job: Job) -> Path:
    kind = "" if job.command == "sweep" else f"{job.command}-"
    return Path("results") / f"{datetime.now():%Y%m%d-%H%M%S}-{kind}{job.spec.model}"


def driver_settings(spec: SweepSpec, url: str, folder: Path) -> DriverSettings:
    """What the load driver needs of a spec: every field once, here (`url`: the endpoint of spec.protocol)."""
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
        validate_outputs=spec.reference_of(spec.model),  # --validate-outputs: a variant's original
        prometheus_port=spec.prometheus_port,
        prometheus_bind=spec.prometheus_bind,
        schedule=spec.schedule,
        mix=format_mix(spec.mix) if spec.mix else "",
        protocol=spec.protocol,
    )
    if not spec.expect_workers:
        return settings
    # external workers join a master on --master-bind instead of the run's own local children
    return replace(
        settings,
        expect_workers=spec.expect_workers,
        master_bind=spec.master_bind,
        master_port=spec.master_port,
        startup_timeout_s=spec.expect_workers_max_wait_s,
    )


class _Life:
    """The state of one run while it lives: what `measure` needs on its way in and on its way out."""

    def __init__(self, job: Job, proposer: Proposer, folder: Path) -> None:
        self.job, self.proposer, self.folder = job, proposer, folder
        self.state: SweepState | None = None
        self.progress: SweepProgress | None = None
        self.budget: Budget | None = None

    def run(self) -> None:
        job = self.job
        check_protocol(job.spec.protocol, validating=job.spec.validate_outputs)
        with open_source(job.source, self.folder / "triton.log") as server:
            url, protocol = server.endpoints.control()
            with ControlClient(url, protocol=protocol) as control:
                control.check_reachable()
                self._start_record(control)
                self.budget = Budget(job.budget_s, server.exit_cause, job.command)
                self.progress = SweepProgress(self.proposer.title, self.proposer.planned_levels, job.spec, self.folder)
                probe = self._server_probe(server)
                settings = driver_settings(job.spec, server.endpoints.load_url(job.spec.protocol), self.folder)
                with LoadDriver(settings, notify=self.progress.say) as driver:
                    self._loop(control, driver, probe)
                    driver.check_workers()  # a worker lost in the last level: the run is not complete

    def _start_record(self, control: ControlClient) -> None:
        """The model, the proposals and the input data are checked here, before any load; run.json starts here."""
        spec = self.job.spec
        known = dict(control.repository_models())
        if spec.model not in known:
            raise UnknownModel(spec.model, known)
        self.proposer.check(control)
        run = new_run(spec, control.server_version(), host_info(), package_versions(), git_revision(), command_line())
        self.state = SweepState(check_input_data(run, control, spec), self.folder)
        self.state.save()

    def _loop(self, control: ControlClient, driver: LoadDriver, probe: ServerProbe) -> None:
        assert self.state is not None and self.progress is not None and self.budget is not None
        state, progress, budget = self.state, self.progress, self.budget
        while (proposal := self.proposer.next()) is not None:
            budget.check()
            if proposal.announce:
                progress.say(proposal.announce)
            wanted = driver_settings(proposal.spec, driver.settings.triton_url, self.folder)
            if wanted != driver.settings:  # another model or arrival process: workers take both at start
                driver.restart(wanted)
            probe.model = proposal.spec.model
            curve = sweep_variant(proposal.spec, proposal.group, control, driver, state, progress.update, probe, budget.health)
            curve = replace(curve, configuration=proposal.name) if proposal.name else curve
            state.finish_curve(curve)
            progress.curve_done(curve)
            self.proposer.measured(curve)
            state.run = self.proposer.section(state.run, RUNNING, budget.elapsed(), self.job.budget_s)
            state.save()

    def _server_probe(self, server: LocalServer | RemoteServer) -> ServerProbe:
        """Metrics of the server we started (its own port, its PID) or of a --url one (--metrics-url or port 8002).
        Why a figure is missing is said once, on the terminal and in the run's settings."""
        endpoints, source = server.endpoints, self.job.source
        url = endpoints.metrics_url or source.metrics_url or default_metrics_url(endpoints.control()[0])

        def warn(message: str) -> None:
            print(f"warning: {message}", file=sys.stderr, flush=True)
            assert self.state is not None
            run = self.state.run
            settings = {**run.metadata.settings, "server_metrics_note": message}
            self.state.run = replace(run, metadata=replace(run.metadata, settings=settings))

        return ServerProbe(url, getattr(server, "pid", None), self.job.spec.model, warn=warn)

    def finish(self, ending: Ending) -> Ending:
        """Save the run as it ended, write its report, say how it ended; a failure to write (a full disk) becomes
        the ending when nothing else had gone wrong. Never raises a HarnessError."""
        if self.progress is not None:
            ending = ending.at(self.progress.where()) if not ending.complete else ending
            self.progress.close()
        state = self.state or SweepState(self._unstarted_run(), self.folder)  # failed before its first level
        elapsed = self.budget.elapsed() if self.budget is not None else 0.0
        state.run = self.proposer.section(state.run, ending.stopped, elapsed, self.job.budget_s)
        try:
            state.save(complete=ending.complete, interrupted=ending.cause)
            write_report(state.run, self.folder / "report.html")
        except HarnessError as exc:  # what was saved before stays valid (atomic writes)
            ending = ending if not ending.complete else ending_of(exc)
            _save_quietly(state, ending.cause or str(exc))
            print(f"\nrun INTERRUPTED: {ending.cause or exc}; kept every level saved before", file=sys.stderr)
            return ending
        print_summary(state.run, self.folder, ending, self.proposer.summary(state.run))
        return ending

    def _unstarted_run(self) -> Run:
        return new_run(self.job.spec, "", host_info(), package_versions(), git_revision(), command_line())


def _save_quietly(state: SweepState, interrupted: str) -> None:
    try:
        state.save(complete=False, interrupted=interrupted)
    except HarnessError:
        pass
