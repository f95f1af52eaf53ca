"""Drives Locust for sweeps: a master runner in this process and N worker processes on loopback.

Levels are started and stopped on the master; every `report_interval` each worker ships its histogram delta,
which the master's Aggregator folds into the current window. Workers are our child processes, stopped by PID.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import gevent
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.event import Events
from locust.runners import MasterRunner

import harness.locustfile as locustfile
from harness.errors import LoadError
from harness.load.aggregate import Aggregator, Tally
from harness.load.plugin import aggregator_of, install
from harness.load.users import TritonOpenLoopUser, TritonUser
from harness.procs import start_child, stop_child
from harness.triton.server import LOOPBACK, free_port


@dataclass(frozen=True)
class DriverSettings:
    triton_url: str
    model: str
    workers: int
    batch_size: int = 1
    input_seed: int = 0
    arrivals: str = "constant"
    max_in_flight: int = 1000
    report_interval_s: float = 0.5
    log_dir: Path = Path(".")
    startup_timeout_s: float = 60.0
    request_timeout_s: float = 30.0


class LoadDriver:
    def __init__(self, settings: DriverSettings) -> None:
        self.settings = settings
        self._workers: list[subprocess.Popen[bytes]] = []
        self.environment: Environment | None = None
        self.runner: MasterRunner | None = None

    def __enter__(self) -> LoadDriver:
        try:
            self._start_master()
            self._start_workers()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _options(self) -> list[str]:
        s = self.settings
        return ["--triton-url", s.triton_url, "--model", s.model, "--batch-size", str(s.batch_size),
                "--input-seed", str(s.input_seed), "--arrivals", s.arrivals, "--max-in-flight", str(s.max_in_flight),
                "--report-interval", str(s.report_interval_s), "--latency-file", "",
                "--request-timeout", str(s.request_timeout_s)]

    def _start_master(self) -> None:
        # Locust's own parser with our options registered; no locust.conf: the sweep's flags say everything.
        options = get_parser(default_config_files=[]).parse_args(args=["--headless", *self._options()])
        self.environment = Environment(user_classes=[TritonUser, TritonOpenLoopUser], events=Events(),
                                       parsed_options=options)
        self._port = free_port()
        self.runner = self.environment.create_master_runner(LOOPBACK, self._port)
        install(self.environment)

    def _start_workers(self) -> None:
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "locust", "-f", locustfile.__file__, "--worker", "--master-host", LOOPBACK,
                   "--master-port", str(self._port), "--loglevel", "WARNING", *self._options()]
        for index in range(self.settings.workers):
            self._workers.append(start_child(command, self.settings.log_dir / f"locust-worker-{index}.log"))
        deadline = time.monotonic() + self.settings.startup_timeout_s
        assert self.runner is not None
        while self.runner.worker_count < self.settings.workers:
            self._check_workers_alive()
            if time.monotonic() > deadline:
                raise LoadError(f"only {self.runner.worker_count} of {self.settings.workers} Locust workers connected "
                                f"within {self.settings.startup_timeout_s:.0f}s; see {self.settings.log_dir}")
            gevent.sleep(0.1)

    def _check_workers_alive(self) -> None:
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

    def start_level(self, users: int, target_rps: float | None = None) -> None:
        """Spawn `users` closed-loop users, or open-loop senders sharing `target_rps` when it is given."""
        assert self.runner is not None and self.environment is not None
        self._check_workers_alive()
        options = self.environment.parsed_options
        options.num_users = users
        options.target_rps = float(target_rps or 0.0)
        user_class = TritonOpenLoopUser if target_rps else TritonUser
        self.runner.start(users, spawn_rate=max(users, 1), user_classes=[user_class])
        deadline = time.monotonic() + 30
        while self.runner.user_count < users and time.monotonic() < deadline:
            gevent.sleep(0.05)

    def take_window(self) -> Tally:
        return self.aggregator.take_window()

    def sleep(self, seconds: float) -> None:
        gevent.sleep(seconds)

    def stop_level(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            gevent.sleep(self.settings.report_interval_s)  # let the last reports of this level arrive

    def close(self) -> None:
        if self.runner is not None:
            try:
                self.runner.quit()
            except Exception:  # noqa: BLE001 - quitting must not mask the error that brought us here
                pass
            self.runner = None
        for worker in self._workers:
            stop_child(worker)
        self._workers = []

