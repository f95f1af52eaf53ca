"""`harness ui`: Locust's web UI (master) plus local workers, pointed at a running Triton or one started here.

Master and workers are child processes (logs in results/ui-<timestamp>/), stopped by PID on Ctrl-C, SIGTERM
or any error. Locust is never imported here: it patches the process for gevent.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.cli.flags import add_server_flags
from harness.cli.parse import parse_url
from harness.errors import ConfigError, LoadError, ModelError, UnknownModel
from harness.net import LOOPBACK, free_port
from harness.procs import start_child, stop_child
from harness.triton.control import ControlClient
from harness.triton.repository import resolve_repository
from harness.triton.server import open_server

LOCUSTFILE = Path(__file__).resolve().parents[1] / "locustfile.py"
STARTUP_TIMEOUT_S = 60.0


def add_ui_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("ui", help="Locust's web UI with local workers, for interactive load tests")
    p.add_argument("--model", required=True, help="model name in the repository")
    add_server_flags(p)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="local Locust workers (default: one per core)")
    p.add_argument("--web-host", default=LOOPBACK, help=f"web UI address (default {LOOPBACK})")
    p.add_argument("--web-port", type=int, default=8089, help="web UI port (default 8089)")
    p.add_argument("--batch-size", type=int, default=1, help="inferences per request (default 1)")
    p.set_defaults(handler=run_ui)


def run_ui(args: argparse.Namespace) -> int:
    if args.workers < 1 or args.batch_size < 1:
        raise ConfigError("--workers and --batch-size must be at least 1")
    url = parse_url(args.url) if args.url else None
    repository = resolve_repository(args.model_repository) if not url else Path(".")
    _check_port_free(args.web_host, args.web_port)
    folder = Path("results") / f"ui-{datetime.now():%Y%m%d-%H%M%S}"
    signals = _Signals()
    with open_server(url, repository, folder / "triton.log", binary=args.tritonserver) as server:
        with ControlClient(server.endpoints.grpc_url) as control:
            _prepare_model(control, args.model, load=url is None)
        return _serve_locust(args, server.endpoints.grpc_url, folder, signals)


def _serve_locust(args: argparse.Namespace, grpc_url: str, folder: Path, signals: _Signals) -> int:
    """Master + workers until a signal; stopped by PID (before the server) however this ends."""
    master_port = free_port()
    options = ["--triton-url", grpc_url, "--model", args.model, "--batch-size", str(args.batch_size),
               "--latency-file", str(folder / "latency.json")]
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    children: list[subprocess.Popen[bytes]] = []
    try:
        children.append(start_child([*locust, "--master", "--class-picker", "--web-host", args.web_host,
                                     "--web-port", str(args.web_port), "--master-bind-port", str(master_port),
                                     *options], folder / "locust-master.log"))
        for index in range(args.workers):
            children.append(start_child([*locust, "--worker", "--master-host", LOOPBACK, "--master-port",
                                         str(master_port), *options], folder / f"locust-worker-{index}.log"))
        web = f"http://{LOOPBACK if args.web_host in ('0.0.0.0', '') else args.web_host}:{args.web_port}"
        _wait_for_workers(web, args.workers, children, folder)
        print(f"Locust web UI: {web}/   exact latency: {web}/latency   (Triton {grpc_url}, model {args.model})\n"
              f"{args.workers} local worker(s) connected; logs in {folder}/\nremote workers join with:\n"
              f"  locust -f harness/locustfile.py --worker --master-host {socket.gethostname()} "
              f"--master-port {master_port}\nCtrl-C to stop.", flush=True)
        signals.serving = True
        while not signals.stop:
            _check_alive(children, folder)
            time.sleep(0.5)
        print("stopping ...", flush=True)
        return 0
    finally:
        for child in children:  # master first: it tells the workers to quit and writes the latency file
            stop_child(child)


class _Signals:
    """Ctrl-C and SIGTERM: KeyboardInterrupt while starting up; once serving, the main loop stops quietly."""

    def __init__(self) -> None:
        self.serving = False
        self.stop = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, *_: Any) -> None:
        self.stop = True
        if not self.serving:
            raise KeyboardInterrupt


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Locust's server does: TIME_WAIT is no clash
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot serve the web UI on {host}:{port} ({exc.strerror}); pick another --web-port") from exc


def _prepare_model(control: ControlClient, model: str, load: bool) -> None:
    control.check_reachable()
    known = dict(control.repository_models())
    if model not in known:
        raise UnknownModel(model, known)
    if load:
        control.load(model)
    elif not control.is_ready(model):
        raise ModelError(f"model {model!r} is not loaded on {control.url} ({known[model].lower()}); load it first")


def _wait_for_workers(web: str, workers: int, children: list[subprocess.Popen[bytes]], folder: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        _check_alive(children, folder)
        try:
            with urllib.request.urlopen(f"{web}/worker-count", timeout=2) as response:
                if json.load(response).get("worker_count", 0) >= workers:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise LoadError(f"the Locust web UI or its {workers} worker(s) were not up within {STARTUP_TIMEOUT_S:.0f}s; "
                    f"see {folder}/")


def _check_alive(children: list[subprocess.Popen[bytes]], folder: Path) -> None:
    for index, child in enumerate(children):
        if child.poll() is not None:
            name = "locust-master" if index == 0 else f"locust-worker-{index - 1}"
            log = folder / f"{name}.log"
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            raise LoadError(f"{name} exited (code {child.returncode}): {' | '.join(tail) or 'no output'} (log: {log})")
