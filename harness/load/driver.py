"""Drives Locust for sweeps: a master runner in this process, and its workers: N local child processes on
loopback (the default), or `expect_workers` workers started anywhere that join it.

Levels are started and stopped on the master; every `report_interval` each worker ships its histogram delta,
which the master's Aggregator folds into the current window. Local workers are our child processes, stopped by
PID. Every worker announces itself (harness.load.roster); a monitor notices one that exits or misses its
heartbeats, says so at once, and hands the loss to the level being measured (flag `worker-lost`).
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Callable

import gevent
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.event import Events
from locust.runners import MasterRunner

import harness.locustfile as locustfile
from harness import defaults
from harness.errors import LoadError, WorkersLostError
from harness.load.aggregate import Aggregator, Tally
from harness.load.client_metrics import LevelLog, LoadCollector, MetricsEndpoint
from harness.load.locust_internals import stop_workers
from harness.load.plugin import aggregator_of, install, roster_of
from harness.load.roster import LostWorker, Roster, worker_command
from harness.load.users import TritonOpenLoopUser, TritonUser
from harness.net import LOOPBACK, free_port
from harness.procs import start_child, stop_child

MONITOR_INTERVAL_S = 0.25


class _AllAtOnce(logging.Filter):
    """A sweep starts every user of a level at once on purpose (the level's warm-up absorbs the start): Locust's
    warning about a spawn rate over 100 per worker is noise on the sweep's terminal, once per level above 100 users."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "spawn rate is very high" not in record.getMessage()


ALL_AT_ONCE = _AllAtOnce()  # one instance: adding it again is a no-op


@dataclass(frozen=True)
class DriverSettings:
    triton_url: str
    model: str
    workers: int
    batch_size: int = defaults.BATCH_SIZE
    input_seed: int = defaults.SEED
    arrivals: str = defaults.ARRIVALS
    max_in_flight: int = defaults.MAX_IN_FLIGHT
    report_interval_s: float = defaults.SWEEP_REPORT_INTERVAL_S
    log_dir: Path = Path(".")
    startup_timeout_s: float = 60.0
    expect_workers: int | None = None  # external workers to wait for; None: start `workers` local children
    master_bind: str = defaults.MASTER_BIND
    master_port: int = 0  # 0: a free port (local children), defaults.MASTER_PORT_FOR_EXTERNAL_WORKERS for external workers
    request_timeout_s: float = defaults.REQUEST_TIMEOUT_S
    input_data: str = ""  # --input-data: the path every worker reads (the same path on a remote worker's machine)
    shapes: str = ""  # --shape, as one Locust option: 'tokens:64 mask:64'
    validate_outputs: str = ""  # --validate-outputs MODEL: each response checked against MODEL's (the original's)
    prometheus_port: int | None = None  # client metrics for Prometheus on this port (0: a free one); None: none
    prometheus_bind: str = defaults.PROMETHEUS_BIND
    schedule: str = ""  # --schedule: the trace every worker reads and replays (same path on a remote worker)
    mix: str = ""  # --mix a=3,b=1: the models every worker serves together (harness.load.mix); "": `model` alone
    protocol: str = defaults.PROTOCOL  # --protocol: what the workers' engines speak to triton_url


class LoadDriver:
    def __init__(self, settings: DriverSettings, notify: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.notify = notify
        self._workers: list[subprocess.Popen[bytes]] = []
        self.environment: Environment | None = None
        self.runner: MasterRunner | None = None
        self._lost: list[LostWorker] = []  # since the current level started
        self._monitor: gevent.Greenlet | None = None
        self.levels = LevelLog()  # each level's measured windows, for the Prometheus endpoint
        self.metrics: MetricsEndpoint | None = None

    @property
    def required(self) -> int:
        """Workers the sweep cannot go on without: all expected external ones, else at least one local child."""
        return self.settings.expect_workers or 1

    def __enter__(self) -> LoadDriver:
        try:
            self._start_master()
            if self.settings.expect_workers:
                self._announce()
            else:
                self._start_workers()
            self._wait_for_workers(self.settings.expect_workers or self.settings.workers)
            self._monitor = gevent.spawn(self._watch)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _options(self) -> list[str]:
        s = self.settings
        return [
            "--triton-url",
            s.triton_url,
            "--model",
            s.model,
            "--batch-size",
            str(s.batch_size),
            "--input-seed",
            str(s.input_seed),
            "--arrivals",
            s.arrivals,
            "--max-in-flight",
            str(s.max_in_flight),
            "--report-interval",
            str(s.report_interval_s),
            "--latency-file",
            "",
            "--request-timeout",
            str(s.request_timeout_s),
            "--input-data",
            s.input_data,
            "--shape",
            s.shapes,
            "--validate-outputs",
            s.validate_outputs,
            "--schedule",
            s.schedule,
            "--mix",
            s.mix,
            "--protocol",
            s.protocol,
        ]

    def _start_master(self) -> None:
        # Locust's own parser with our options registered; no locust.conf: the sweep's flags say everything.
        options = get_parser(default_config_files=[]).parse_args(args=["--headless", *self._options()])
        # The Triton endpoint is Locust's Host: every spawn message carries it to the workers, wherever they run.
        self.environment = Environment(
            user_classes=[TritonUser, TritonOpenLoopUser],
            events=Events(),
            parsed_options=options,
            host=self.settings.triton_url,
        )
        s = self.settings
        self._port = s.master_port or (defaults.MASTER_PORT_FOR_EXTERNAL_WORKERS if s.expect_workers else free_port())
        try:
            self.runner = self.environment.create_master_runner(s.master_bind, self._port)
        except Exception as exc:  # zmq's bind error: port taken or address not here
            raise LoadError(
                f"cannot listen for workers on {s.master_bind}:{self._port} ({exc}); "
                "choose another --master-port or --master-bind"
            ) from None
        install(self.environment)
        logging.getLogger("locust.runners").addFilter(ALL_AT_ONCE)
        self.roster.compare_options = True  # a sweep's options are fixed: a worker with others is refused
        if s.prometheus_port is not None and self.metrics is None:  # kept across a restart
            self.metrics = MetricsEndpoint(LoadCollector(self.levels.series), s.prometheus_bind, s.prometheus_port)
            self.notify(f"client metrics for Prometheus: {self.metrics.url}")

    @property
    def roster(self) -> Roster:
        assert self.environment is not None
        roster = roster_of(self.environment)
        assert roster is not None
        return roster

    def _announce(self) -> None:
        bind = self.settings.master_bind
        host = socket.gethostname() if bind in ("0.0.0.0", "*", "") else bind
        assert self.environment is not None
        self.notify(
            f"waiting up to {self.settings.startup_timeout_s:.0f}s for {self.settings.expect_workers} "
            f"worker(s); start each with:\n  {worker_command(host, self._port, self.environment.parsed_options)}"
        )

    def _start_workers(self) -> None:
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            locustfile.__file__,
            "--worker",
            "--master-host",
            LOOPBACK,
            "--master-port",
            str(self._port),
            "--loglevel",
            "WARNING",
            *self._options(),
        ]
        for index in range(self.settings.workers):
            self._workers.append(start_child(command, self.settings.log_dir / f"locust-worker-{index}.log"))

    def _wait_for_workers(self, count: int) -> None:
        deadline = time.monotonic() + self.settings.startup_timeout_s
        while len(self.roster.ready) < count:  # accepted, and their clock offset measured
            self._check_workers_alive()
            if time.monotonic() > deadline:
                refused = f"; refused {len(self.roster.refused)}: {self.roster.refused[0]}" if self.roster.refused else ""
                where = f"; see {self.settings.log_dir}" if self._workers else ""
                raise LoadError(
                    f"only {len(self.roster.ready)} of {count} Locust workers joined within "
                    f"{self.settings.startup_timeout_s:.0f}s{refused}{where}"
                )
            gevent.sleep(0.1)

    def _check_workers_alive(self) -> None:
        """At start-up a local child that exits is an error (its log says why); later it is a lost worker."""
        for index, worker in enumerate(self._workers):
            if worker.poll() is not None:
                log = self.settings.log_dir / f"locust-worker-{index}.log"
                tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
                raise LoadError(f"Locust worker {index} exited (code {worker.returncode}): {' | '.join(tail)}")

    @property
    def aggregator(self) -> Aggregator:
        assert self.environment is not None
        aggregator = aggregator_of(self.environment)
        assert aggregator is not None
        return aggregator

    def _watch(self) -> None:
        while True:
            self._poll_lost()
            gevent.sleep(MONITOR_INTERVAL_S)

    def _poll_lost(self) -> None:
        roster = self.roster
        found = []
        by_pid = {w.pid: w.client_id for w in roster.active}
        for child in self._workers:
            if child.poll() is not None and child.pid in by_pid:
                lost = roster.mark_lost(by_pid[child.pid], f"exited (code {child.returncode})")
                found += [lost] if lost else []
        found += roster.check()
        for lost in found:
            self._lost.append(lost)
            left = len(roster.active)
            then = (
                "continuing with the workers left"
                if left >= self.required
                else f"fewer than the {self.required} expected remain: the sweep stops after this level"
            )
            self.notify(f"WORKER LOST: {lost}; {left} worker(s) left, {then}")

    def take_lost(self) -> tuple[str, ...]:
        """The workers lost since the previous call (the level just measured), one line each."""
        self._poll_lost()
        lost, self._lost = self._lost, []
        return tuple(str(w) for w in lost)

    def check_workers(self) -> None:
        """Refuse to go on with fewer workers than required; what was measured is already saved."""
        left = len(self.roster.active)
        if left < self.required:
            gone = "; ".join(str(w) for w in self.roster.lost.values())
            raise WorkersLostError(
                f"only {left} of {self.required} Locust workers remain ({gone}); the sweep stopped "
                "and kept every level measured so far: restart the workers and run it again"
            )

    def start_level(self, users: int, target_rps: float | None = None, curve: str = "") -> None:
        """Spawn `users` closed-loop users, or open-loop senders sharing `target_rps` when it is given."""
        assert self.runner is not None and self.environment is not None
        self._poll_lost()
        self.check_workers()
        self.levels.start(self.settings.mix or self.settings.model, curve, users, target_rps or None)
        options = self.environment.parsed_options
        options.num_users = users
        options.target_rps = float(target_rps or 0.0)
        user_class = TritonOpenLoopUser if target_rps else TritonUser
        self.runner.start(users, spawn_rate=max(users, 1), user_classes=[user_class])
        deadline = time.monotonic() + 30
        while self.runner.user_count < users and time.monotonic() < deadline:
            gevent.sleep(0.05)

    def take_window(self, measured: bool = True) -> Tally:
        """What the workers reported since the previous call; a measured window (not a warm-up) also counts in the
        level's client metrics."""
        window = self.aggregator.take_window()
        if measured:
            self.levels.add(window)
        return window

    def sleep(self, seconds: float) -> None:
        gevent.sleep(seconds)

    def stop_level(self) -> None:
        self.levels.stop()
        if self.runner is not None:
            stop_workers(self.runner)
            gevent.sleep(self.settings.report_interval_s)  # let the last reports of this level arrive

    def restart(self, settings: DriverSettings) -> None:
        """The same run on another model (an original, then its variants: issue 22). Workers take --model when they
        start, so they start again with the new settings; the sweep's flags refuse external workers here. The
        Prometheus endpoint stays up, with every level so far."""
        metrics, self.metrics = self.metrics, None
        self.close()
        self.settings, self._lost, self.metrics = settings, [], metrics
        self.__enter__()

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
            self.metrics = None
        if self._monitor is not None:
            self._monitor.kill()
            self._monitor = None
        if self.runner is not None:
            try:
                self.runner.quit()
            except Exception:  # noqa: BLE001 - quitting must not mask the error that brought us here
                pass
            self.runner = None
        for worker in self._workers:
            stop_child(worker)
        self._workers = []
