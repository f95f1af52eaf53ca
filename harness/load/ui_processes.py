"""`harness ui`'s Locust: a master serving the web UI and N local workers, as child processes of ours.

They run in processes of their own (Locust patches its process for gevent; the command that starts them stays
plain), log into the run folder, and are stopped by PID, master first (it tells the workers to quit and writes the
latency file), however the command ends. Locust is never imported here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harness.errors import LoadError
from harness.load.web_login import credentials_from_environment
from harness.net import LOOPBACK, free_port
from harness.procs import start_child, stop_child

LOCUSTFILE = Path(__file__).resolve().parents[1] / "locustfile.py"
STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class UiSettings:
    options: tuple[str, ...]  # the harness's Locust options, for master and workers alike
    folder: Path  # logs go here
    workers: int
    web_host: str
    web_port: int
    master_bind: str
    login: bool  # the web UI asks for HARNESS_WEB_LOGIN's user and password


class LocustUi:
    """Master and workers, up with every worker connected once entered; all stopped on exit."""

    def __init__(self, settings: UiSettings) -> None:
        self.settings = settings
        self.master_port = free_port()
        self.children: list[subprocess.Popen[bytes]] = []
        host = LOOPBACK if settings.web_host in ("0.0.0.0", "", "*") else settings.web_host
        self.web = f"http://{host}:{settings.web_port}"

    def __enter__(self) -> LocustUi:
        try:
            self._start()
            self._wait_for_workers()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _start(self) -> None:
        s = self.settings
        locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
        master = [
            *locust,
            "--master",
            "--class-picker",
            "--web-host",
            s.web_host,
            "--web-port",
            str(s.web_port),
            "--master-bind-host",
            s.master_bind,
            "--master-bind-port",
            str(self.master_port),
            *(["--web-login"] if s.login else []),
            *s.options,
        ]
        self.children.append(start_child(master, s.folder / "locust-master.log"))
        for index in range(s.workers):
            worker = [*locust, "--worker", "--master-host", LOOPBACK, "--master-port", str(self.master_port), *s.options]
            self.children.append(start_child(worker, s.folder / f"locust-worker-{index}.log"))

    def _wait_for_workers(self) -> None:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())  # keeps the login's session
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if self.settings.login:
                    _log_in(opener, self.web)
                with opener.open(f"{self.web}/worker-count", timeout=2) as response:
                    if json.load(response).get("worker_count", 0) >= self.settings.workers:
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        raise LoadError(
            f"the Locust web UI or its {self.settings.workers} worker(s) were not up within {STARTUP_TIMEOUT_S:.0f}s; "
            f"see {self.settings.folder}/"
        )

    def check_alive(self) -> None:
        """A master or worker that exited is an error naming its log's last lines."""
        for index, child in enumerate(self.children):
            if child.poll() is not None:
                name = "locust-master" if index == 0 else f"locust-worker-{index - 1}"
                log = self.settings.folder / f"{name}.log"
                tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
                raise LoadError(f"{name} exited (code {child.returncode}): {' | '.join(tail) or 'no output'} (log: {log})")

    def close(self) -> None:
        for child in self.children:  # master first: it tells the workers to quit and writes the latency file
            stop_child(child)
        self.children = []


def _log_in(opener: urllib.request.OpenerDirector, web: str) -> None:
    credentials = credentials_from_environment()
    assert credentials is not None  # the command checked before starting anything
    form = urllib.parse.urlencode({"username": credentials[0], "password": credentials[1]}).encode()
    opener.open(f"{web}/harness-login", data=form, timeout=2).close()
