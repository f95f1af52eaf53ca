"""`harness ui`: Locust's web UI (master) plus local workers, pointed at a running Triton or one started here.

The command checks what it is given (exposure and login, the web port, the model, the input data) before anything
starts, then hands master and workers to harness.load.ui_processes and waits for a stop. Locust is never imported
here: it patches the process for gevent.
"""

from __future__ import annotations

import argparse
import socket
import time
from datetime import datetime
from pathlib import Path

from harness import defaults
from harness.cli.flags import (
    add_arrival_flags,
    add_input_data_flags,
    add_prometheus_flags,
    add_protocol_flag,
    add_server_flags,
    arrival_fields,
    prometheus_fields,
    server_source,
)
from harness.cli.stop_signals import StopSignals
from harness.errors import INTERRUPTED_EXIT, ConfigError, ModelError, UnknownModel
from harness.load.client_metrics import endpoint_url
from harness.load.engine.compiled import check_protocol
from harness.load.mix import check_mix_models, format_mix, parse_mix
from harness.load.roster import worker_command
from harness.load.ui_processes import LocustUi, UiSettings
from harness.load.web_login import CREDENTIALS_VARIABLE, credentials_from_environment
from harness.net import LOOPBACK, bind_error, is_loopback
from harness.triton.control import ControlClient
from harness.triton.input_data import random_inputs, read_input_data
from harness.triton.server import open_source

LATENCY_TAB = "harness"  # harness.load.web.TAB_KEY (Locust is never imported here)


def add_ui_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("ui", help="Locust's web UI with local workers, for interactive load tests")
    p.add_argument("--model", required=True, help="model name in the repository; several, comma-separated, with --mix")
    p.add_argument(
        "--mix",
        metavar="MODEL=WEIGHT,...",
        help="serve --model's models together, e.g. --model a,b --mix a=3,b=1: users (or the open-loop target rate) "
        "split by weight; the exact-latency tab and latency.json show each model beside the combined figures",
    )
    add_server_flags(p)
    p.add_argument(
        "--workers",
        type=int,
        default=defaults.interactive_workers(),
        help="local Locust workers (default: one per core, the most load this machine can send while you watch; "
        "measuring commands default to one per 4 cores, leaving the rest to the server)",
    )
    p.add_argument("--host", "--triton-url", dest="url", default=argparse.SUPPRESS, help="aliases of --url")
    p.add_argument(
        "--web-host",
        default=LOOPBACK,
        help=f"web UI address (default {LOOPBACK}; any other needs {CREDENTIALS_VARIABLE}=user:password)",
    )
    p.add_argument("--web-port", type=int, default=defaults.WEB_PORT, help=f"web UI port (default {defaults.WEB_PORT})")
    p.add_argument(
        "--web-login",
        action="store_true",
        help=f"ask for the login in {CREDENTIALS_VARIABLE}=user:password even on loopback",
    )
    p.add_argument(
        "--master-bind",
        default=defaults.MASTER_BIND,
        metavar="ADDRESS",
        help=f"address the Locust master listens on for workers (default {defaults.MASTER_BIND}; 0.0.0.0 lets "
        "remote workers join)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=defaults.BATCH_SIZE,
        help=f"inferences per request (default {defaults.BATCH_SIZE})",
    )
    add_input_data_flags(p)
    add_prometheus_flags(p)
    add_protocol_flag(p)
    add_arrival_flags(p)  # the open-loop user's; the web form can change --arrivals (--schedule is checked here)
    p.set_defaults(handler=run_ui)


def run_ui(args: argparse.Namespace) -> int:
    if args.workers < 1 or args.batch_size < 1:
        raise ConfigError("--workers and --batch-size must be at least 1")
    models = _models(args)
    source = server_source(args)
    traffic = arrival_fields(args)  # a bad --schedule is one line before anything starts
    args.arrivals, args.schedule = traffic["arrivals"], traffic.get("schedule", "")
    login = _check_exposure(args.web_host, args.web_login)
    _check_port_free(args.web_host, args.web_port)
    args.prometheus_port = prometheus_fields(args)["prometheus_port"]  # checked, and 0 made the free port chosen
    folder = Path("results") / f"ui-{datetime.now():%Y%m%d-%H%M%S}"
    signals = StopSignals()
    check_protocol(args.protocol)
    with open_source(source, folder / "triton.log") as server:
        url, protocol = server.endpoints.control()
        with ControlClient(url, protocol=protocol) as control:
            for model in models:
                _prepare_model(control, model, load=source.url is None)
            _check_input_data(control, args)
        load_url = server.endpoints.load_url(args.protocol)
        settings = UiSettings(
            options=tuple(_locust_options(args, load_url, folder)),
            folder=folder,
            workers=args.workers,
            web_host=args.web_host,
            web_port=args.web_port,
            master_bind=args.master_bind,
            login=login,
        )
        with LocustUi(settings) as ui:  # stopped by PID before the server, however this ends
            _print_ready(args, ui, load_url, login)
            signals.serving = True
            while not signals.stop.is_set():
                ui.check_alive()
                time.sleep(0.5)
            print("stopping ...", flush=True)
    return INTERRUPTED_EXIT  # stopped by Ctrl-C or SIGTERM, as `harness serve` and `harness sweep`


def _locust_options(args: argparse.Namespace, url: str, folder: Path) -> list[str]:
    """The harness's Locust options for master and workers: --input-data as an absolute path (every process reads it)."""
    data = ["--input-data", str(Path(args.input_data).resolve())] if args.input_data else []
    shape = ["--shape", " ".join(args.shape)] if args.shape else []
    port = args.prometheus_port
    prometheus = [] if port is None else ["--prometheus-port", str(port), "--prometheus-bind", args.prometheus_bind]
    return [
        "--host",
        url,
        "--protocol",
        args.protocol,
        "--model",
        args.model,
        *(["--mix", args.mix] if args.mix else []),
        "--batch-size",
        str(args.batch_size),
        "--latency-file",
        str(folder / "latency.json"),
        *data,
        *shape,
        *prometheus,
        "--arrivals",
        args.arrivals,
        *(["--schedule", args.schedule] if args.schedule else []),
    ]


def _models(args: argparse.Namespace) -> tuple[str, ...]:
    """--model, and with --mix its models (the same on both flags); args.model becomes the first, args.mix as
    Locust reads it. One line before anything starts for a mix that does not fit --model."""
    names = tuple(name.strip() for name in args.model.split(",") if name.strip())
    if not names:
        raise ConfigError(f"--model {args.model!r}: give a model name")
    if not args.mix:
        if len(names) > 1:
            raise ConfigError(
                f"--model {args.model}: several models are served together with --mix, e.g. --mix {names[0]}=1,{names[1]}=1"
            )
        return names
    weights = parse_mix(args.mix)
    check_mix_models(weights, names)
    if args.input_data:
        raise ConfigError("--input-data with --mix: not supported (each model needs its own); drop one of them")
    args.model, args.mix = names[0], format_mix(weights)
    return names


def _print_ready(args: argparse.Namespace, ui: LocustUi, url: str, login: bool) -> None:
    web = ui.web
    print(
        f"Locust web UI: {web}/   exact latency: {web}/?tab={LATENCY_TAB}   (Triton {url} over {args.protocol}, model "
        f"{args.mix or args.model}){'   login: ' + CREDENTIALS_VARIABLE if login else ''}\n"
        f"{args.workers} local worker(s) connected; logs in {ui.settings.folder}/\n{_remote_hint(args, ui.master_port)}\n"
        f"{_metrics_line(args)}Ctrl-C or SIGTERM to stop.",
        flush=True,
    )


def _metrics_line(args: argparse.Namespace) -> str:
    if args.prometheus_port is None:
        return ""
    return f"client metrics for Prometheus: {endpoint_url(args.prometheus_bind, args.prometheus_port)}\n"


def _check_port_free(host: str, port: int) -> None:
    if (why := bind_error(host, port)) is not None:
        raise ConfigError(f"cannot serve the web UI on {host}:{port} ({why}); pick another --web-port")


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


def _check_exposure(web_host: str, asked: bool) -> bool:
    """Whether the web UI must ask for a login: when asked, and always beyond loopback (then with credentials)."""
    exposed = not is_loopback(web_host)
    if (exposed or asked) and credentials_from_environment() is None:
        where = f"--web-host {web_host or '*'} serves the web UI beyond this machine" if exposed else "--web-login"
        raise ConfigError(
            f"{where}: set {CREDENTIALS_VARIABLE}=user:password in the environment (the login the "
            f"page will ask for){'' if not exposed else f', or keep the default --web-host {LOOPBACK}'}"
        )
    return exposed or asked


def _remote_hint(args: argparse.Namespace, master_port: int) -> str:
    if is_loopback(args.master_bind):
        return "remote workers: restart with --master-bind 0.0.0.0 (the master listens on loopback only)"
    return f"remote workers join with:\n  {worker_command(socket.gethostname(), master_port)}"
