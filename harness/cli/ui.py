"""`harness ui`: Locust's web UI (master) plus local workers, pointed at a running Triton or one started here.

Master and workers are child processes (logs in results/ui-<timestamp>/), stopped by PID on Ctrl-C, SIGTERM
or any error. Locust is never imported here: it patches the process for gevent.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

from harness.cli.flags import add_input_data_flags, add_server_flags
from harness.cli.parse import parse_url
from harness.cli.stop_signals import INTERRUPTED_EXIT, StopSignals
from harness.errors import ConfigError, LoadError, ModelError, UnknownModel
from harness.load.web_login import CREDENTIALS_VARIABLE, credentials_from_environment
from harness.net import LOOPBACK, free_port
from harness.procs import start_child, stop_child
from harness.triton.control import ControlClient
from harness.triton.input_data import random_inputs, read_input_data
from harness.triton.repository import resolve_repository
from harness.triton.server import open_server

LATENCY_TAB = "harness"  # harness.load.web.TAB_KEY (Locust is never imported here)
LOCUSTFILE = Path(__file__).resolve().parents[1] / "locustfile.py"
STARTUP_TIMEOUT_S = 60.0


def add_ui_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("ui", help="Locust's web UI with local workers, for interactive load tests")
    p.add_argument("--model", required=True, help="model name in the repository")
    add_server_flags(p)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="local Locust workers (default: one per core)")
    p.add_argument("--host", "--triton-url", dest="url", default=argparse.SUPPRESS, help="aliases of --url")
    p.add_argument(
        "--web-host",
        default=LOOPBACK,
        help=f"web UI address (default {LOOPBACK}; any other needs {CREDENTIALS_VARIABLE}=user:password)",
    )
    p.add_argument("--web-port", type=int, default=8089, help="web UI port (default 8089)")
    p.add_argument(
        "--web-login", action="store_true", help=f"ask for the login in {CREDENTIALS_VARIABLE}=user:password even on loopback"
    )
    p.add_argument(
        "--master-bind",
        default=LOOPBACK,
        metavar="ADDRESS",
        help=f"address the Locust master listens on for workers (default {LOOPBACK}; 0.0.0.0 lets remote workers join)",
    )
    p.add_argument("--batch-size", type=int, default=1, help="inferences per request (default 1)")
    add_input_data_flags(p)
    p.set_defaults(handler=run_ui)


def run_ui(args: argparse.Namespace) -> int:
    if args.workers < 1 or args.batch_size < 1:
        raise ConfigError("--workers and --batch-size must be at least 1")
    url = parse_url(args.url) if args.url else None
    repository = resolve_repository(args.model_repository) if not url else Path(".")
    login = _check_exposure(args.web_host, args.web_login)
    _check_port_free(args.web_host, args.web_port)
    folder = Path("results") / f"ui-{datetime.now():%Y%m%d-%H%M%S}"
    signals = StopSignals()
    with open_server(url, repository, folder / "triton.log", binary=args.tritonserver) as server:
        with ControlClient(server.endpoints.grpc_url) as control:
            _prepare_model(control, args.model, load=url is None)
            _check_input_data(control, args)
        return _serve_locust(args, server.endpoints.grpc_url, folder, signals, login)


def _serve_locust(args: argparse.Namespace, grpc_url: str, folder: Path, signals: StopSignals, login: bool) -> int:
    """Master + workers until a signal; stopped by PID (before the server) however this ends.

    Stopped by Ctrl-C or SIGTERM, it exits with 130 (as `harness serve` and `harness sweep` do)."""
    master_port = free_port()
    options = [
        "--host",
        grpc_url,
        "--model",
        args.model,
        "--batch-size",
        str(args.batch_size),
        "--latency-file",
        str(folder / "latency.json"),
        *_input_data_options(args),
    ]
    locust = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    children: list[subprocess.Popen[bytes]] = []
    try:
        children.append(
            start_child(
                [
                    *locust,
                    "--master",
                    "--class-picker",
                    "--web-host",
                    args.web_host,
                    "--web-port",
                    str(args.web_port),
                    "--master-bind-host",
                    args.master_bind,
                    "--master-bind-port",
                    str(master_port),
                    *(["--web-login"] if login else []),
                    *options,
                ],
                folder / "locust-master.log",
            )
        )
        for index in range(args.workers):
            children.append(
                start_child(
                    [*locust, "--worker", "--master-host", LOOPBACK, "--master-port", str(master_port), *options],
                    folder / f"locust-worker-{index}.log",
                )
            )
        web = f"http://{LOOPBACK if args.web_host in ('0.0.0.0', '', '*') else args.web_host}:{args.web_port}"
        _wait_for_workers(web, args.workers, children, folder, login)
        print(
            f"Locust web UI: {web}/   exact latency: {web}/?tab={LATENCY_TAB}   (Triton {grpc_url}, model "
            f"{args.model}){'   login: ' + CREDENTIALS_VARIABLE if login else ''}\n"
            f"{args.workers} local worker(s) connected; logs in {folder}/\n{_remote_hint(args, master_port)}\n"
            "Ctrl-C or SIGTERM to stop.",
            flush=True,
        )
        signals.serving = True
        while not signals.stop.is_set():
            _check_alive(children, folder)
            time.sleep(0.5)
        print("stopping ...", flush=True)
        return INTERRUPTED_EXIT
    finally:
        for child in children:  # master first: it tells the workers to quit and writes the latency file
            stop_child(child)


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


def _check_input_data(control: ControlClient, args: argparse.Namespace) -> None:
    """Bad --input-data or --shape is one line at startup, before the web UI can start any load."""
    if args.input_data:
        read_input_data(Path(args.input_data), control.model_spec(args.model), args.shape, args.batch_size)
    elif args.shape:
        random_inputs(control.model_spec(args.model), args.batch_size, 0, args.shape)


def _input_data_options(args: argparse.Namespace) -> list[str]:
    """The Locust options that carry --input-data (an absolute path: every process reads it) and --shape."""
    data = ["--input-data", str(Path(args.input_data).resolve())] if args.input_data else []
    return [*data, *(["--shape", " ".join(args.shape)] if args.shape else [])]


def _wait_for_workers(web: str, workers: int, children: list[subprocess.Popen[bytes]], folder: Path, login: bool) -> None:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())  # keeps the login's session
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        _check_alive(children, folder)
        try:
            if login:
                _log_in(opener, web)
            with opener.open(f"{web}/worker-count", timeout=2) as response:
                if json.load(response).get("worker_count", 0) >= workers:
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.25)
    raise LoadError(f"the Locust web UI or its {workers} worker(s) were not up within {STARTUP_TIMEOUT_S:.0f}s; see {folder}/")


def _log_in(opener: urllib.request.OpenerDirector, web: str) -> None:
    credentials = credentials_from_environment()
    assert credentials is not None  # _check_exposure made sure
    form = urllib.parse.urlencode({"username": credentials[0], "password": credentials[1]}).encode()
    opener.open(f"{web}/harness-login", data=form, timeout=2).close()


def _check_exposure(web_host: str, asked: bool) -> bool:
    """Whether the web UI must ask for a login: when asked, and always beyond loopback (then with credentials)."""
    exposed = not _is_loopback(web_host)
    if (exposed or asked) and credentials_from_environment() is None:
        where = f"--web-host {web_host or '*'} serves the web UI beyond this machine" if exposed else "--web-login"
        raise ConfigError(
            f"{where}: set {CREDENTIALS_VARIABLE}=user:password in the environment (the login the "
            f"page will ask for){'' if not exposed else f', or keep the default --web-host {LOOPBACK}'}"
        )
    return exposed or asked


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # '', '*', or a name: it may be reachable from elsewhere
        return False


def _remote_hint(args: argparse.Namespace, master_port: int) -> str:
    if _is_loopback(args.master_bind):
        return "remote workers: restart with --master-bind 0.0.0.0 (the master listens on loopback only)"
    return (
        f"remote workers join with:\n  locust -f harness/locustfile.py --worker --master-host "
        f"{socket.gethostname()} --master-port {master_port}"
    )


def _check_alive(children: list[subprocess.Popen[bytes]], folder: Path) -> None:
    for index, child in enumerate(children):
        if child.poll() is not None:
            name = "locust-master" if index == 0 else f"locust-worker-{index - 1}"
            log = folder / f"{name}.log"
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            raise LoadError(f"{name} exited (code {child.returncode}): {' | '.join(tail) or 'no output'} (log: {log})")
