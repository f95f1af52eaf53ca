"""`harness serve` and `harness models`: serve the bundled models; list models with their tensors and groups."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from harness.cli.flags import add_server_flags
from harness.cli.stop_signals import StopSignals
from harness.errors import INTERRUPTED_EXIT, OK_EXIT, ModelError
from harness.triton.control import ControlClient
from harness.triton.repository import model_names, read_config, resolve_repository
from harness.triton.server import LocalServer


def add_serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="start Triton on the model repository and serve until Ctrl-C")
    add_server_flags(serve, with_url=False)
    serve.add_argument("--models", help="comma-separated models to load (default: all)")
    serve.add_argument("--grpc-port", type=int, help="gRPC port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--log", metavar="FILE", help="server log (default: results/serve/triton.log)")
    serve.set_defaults(handler=run_serve)


def add_models_parser(commands: argparse._SubParsersAction) -> None:
    models = commands.add_parser("models", help="list models with their inputs, outputs and instance groups")
    add_server_flags(models)
    models.set_defaults(handler=run_models)


def run_serve(args: argparse.Namespace) -> int:
    repository = resolve_repository(args.model_repository)
    models = _split(args.models) or model_names(repository)
    log_path = Path(args.log or Path("results") / "serve" / "triton.log")
    signals = StopSignals()
    print(f"starting tritonserver on {repository} (log: {log_path}) ...", flush=True)
    with LocalServer(repository, log_path, binary=args.tritonserver, grpc_port=args.grpc_port) as server:
        url = server.endpoints.grpc_url
        with ControlClient(url) as control:
            ready = _load_all(control, models)
        print(f"gRPC URL: {url}   (HTTP {server.endpoints.http_url}, metrics {server.endpoints.metrics_url})")
        print(f"ready models: {', '.join(ready) or 'none'}")
        print("Ctrl-C or SIGTERM to stop.", flush=True)
        signals.serving = True
        while not signals.stop.wait(1.0):
            if server.pid is None:
                break
    print("server stopped.")
    return INTERRUPTED_EXIT if signals.stop.is_set() else OK_EXIT


def _load_all(control: ControlClient, models: list[str]) -> list[str]:
    ready = []
    for model in models:
        started = time.monotonic()
        try:
            control.load(model)
        except ModelError as exc:
            print(f"  {model}: FAILED to load: {exc}", flush=True)
            continue
        print(f"  {model}: ready ({time.monotonic() - started:.1f} s)", flush=True)
        ready.append(model)
    if models and not ready:
        raise ModelError("no model could be loaded; see the messages above and the server log")
    return ready


def run_models(args: argparse.Namespace) -> int:
    if args.url:
        with ControlClient(args.url) as control:
            control.check_reachable()
            rows = [_server_row(control, name, state) for name, state in control.repository_models()]
    else:
        repository = resolve_repository(args.model_repository)
        rows = [_describe(read_config(repository, name), "in repository") for name in model_names(repository)]
    for row in rows:
        print(row)
    return 0


def _server_row(control: ControlClient, name: str, state: str) -> str:
    if state != "READY":
        return f"{name}  [{state.lower() or 'not loaded'}]"
    return _describe(control.model_config(name), "READY")


def _describe(config: dict[str, Any], state: str) -> str:
    tensors = lambda key: ", ".join(  # noqa: E731
        f"{t['name']} {t.get('data_type', '').removeprefix('TYPE_')}{list(map(int, t.get('dims', [])))}"
        for t in config.get(key, [])
    )
    groups = (
        ", ".join(
            f"{g.get('kind', 'KIND_CPU').removeprefix('KIND_').lower()}:{g.get('count', 1)}"
            for g in config.get("instance_group", [])
        )
        or "default"
    )
    batching = "dynamic batching" if "dynamic_batching" in config else "no dynamic batching"
    return (
        f"{config.get('name')}  [{state}]\n    inputs:  {tensors('input')}\n    outputs: {tensors('output')}\n"
        f"    instance groups: {groups}; max_batch_size {config.get('max_batch_size', 0)}; {batching}"
    )


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]
