"""Flags of `harness sweep` and the SweepSpec they describe. Light: no Locust import (cli/sweep.py has it)."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import Any

from harness import defaults
from harness.cli.flags import add_input_data_flags, add_metrics_flag, add_server_flags, server_source
from harness.cli.parse import (
    parse_float_list,
    parse_instances,
    parse_int_list,
    parse_percent,
    parse_seconds,
    parse_slo,
    thread_warnings,
)
from harness.errors import ConfigError
from harness.record.model import InstanceGroup
from harness.sweep.spec import SweepSpec
from harness.triton.input_data import parse_shapes


def _run(args: argparse.Namespace) -> int:
    """Flags become typed values here; cli/sweep.py (which imports Locust) never sees the Namespace."""
    spec = spec_from_args(args)
    from harness.cli.sweep import run_sweep  # imports Locust, which patches the process for gevent

    return run_sweep(spec, server_source(args), Path(args.output) if args.output else None)


def add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("sweep", help="measure a model under rising load per instance group; write a run + report")
    p.add_argument("--model", required=True, help="model name in the repository")
    add_server_flags(p)
    p.add_argument(
        "--instances",
        help="instance groups, one curve each, e.g. cpu:1,cpu:2,gpu:1 (default cpu:1; "
        "with --url: the model as deployed, never reloaded)",
    )
    p.add_argument("--batch-size", type=int, default=1, help="inferences per request (default 1)")
    p.add_argument("--max-batch-size", type=int, help="override the model's max_batch_size")
    p.add_argument("--dynamic-batching", choices=["on", "off"], help="override dynamic batching")
    p.add_argument("--queue-delay-us", type=int, help="dynamic batching max queue delay in microseconds")
    p.add_argument("--concurrency", default="auto", help="closed-loop levels, e.g. 1,2,4,8, or auto (default)")
    p.add_argument("--rate", help="open-loop levels in requests/s across all workers, e.g. 100,200,400, or auto")
    p.add_argument("--arrivals", choices=["constant", "poisson"], default="constant", help="open-loop arrivals")
    p.add_argument("--seed", type=int, default=0, help="seed of input data and Poisson schedules")
    p.add_argument("--slo", default="p99=100ms", help="latency objective, e.g. p99=100ms (p50/p90/p95/p99/p99.9)")
    p.add_argument("--warmup", default="2s", help="untimed warm-up per level (default 2s)")
    p.add_argument("--window", default="2s", help="measurement window (default 2s)")
    p.add_argument("--max-windows", type=int, default=6, help="window budget per level (default 6)")
    p.add_argument("--stability", default="10%", help="the last 3 windows must agree within this (default 10%%)")
    p.add_argument("--max-concurrency", type=int, default=256, help="upper bound of the auto search (default 256)")
    p.add_argument("--workers", type=int, help="Locust worker processes (default: one per 4 cores, at least 1)")
    p.add_argument("--output", metavar="DIR", help="run folder (default results/<timestamp>-<model>)")
    p.add_argument("--label", default="", help="a label for this run in reports and comparisons")
    add_metrics_flag(p)
    add_distributed_flags(p)
    p.add_argument(
        "--saturation-cpu",
        type=float,
        default=defaults.SATURATION_CPU_PERCENT,
        metavar="PERCENT",
        help="a load-generator process at or above this CPU (percent of one core) flags its level "
        f"client-saturated (default {defaults.SATURATION_CPU_PERCENT:g}; Locust's --saturation-cpu)",
    )
    p.add_argument(
        "--request-timeout",
        default="30s",
        help="a request unanswered this long fails; a window of failures ends the run (default 30s)",
    )
    add_input_data_flags(p)
    p.set_defaults(handler=_run)


def add_distributed_flags(p: argparse.ArgumentParser) -> None:
    """A sweep as a Locust master that workers started anywhere join (instead of its own local children)."""
    p.add_argument(
        "--expect-workers",
        type=int,
        metavar="N",
        help="wait for N workers started anywhere (the sweep prints their command line) instead of starting local ones",
    )
    p.add_argument(
        "--master-bind",
        default="127.0.0.1",
        metavar="HOST",
        help="address the master listens on for workers (default 127.0.0.1; remote workers need an "
        "address of this machine, or 0.0.0.0)",
    )
    p.add_argument(
        "--master-port",
        type=int,
        default=0,
        metavar="PORT",
        help="port the master listens on (default 5557 with --expect-workers, else a free one)",
    )
    p.add_argument(
        "--expect-workers-max-wait",
        default="120s",
        metavar="SECONDS",
        help="how long to wait for the expected workers (default 120s)",
    )


def check_distributed_flags(args: argparse.Namespace) -> None:
    """Bad values end here, in one line, before anything starts."""
    if args.expect_workers is not None and args.expect_workers < 1:
        raise ConfigError(f"--expect-workers {args.expect_workers}: a sweep needs at least 1 worker; give N >= 1")
    if not 0 <= args.master_port <= 65535:
        raise ConfigError(f"--master-port {args.master_port} is not a port; give 1-65535")
    check_local_address(args.master_bind)


def check_local_address(host: str) -> None:
    """The master can only listen on an address of this machine: try binding it (port 0, released at once)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
    except (OSError, UnicodeError) as exc:
        raise ConfigError(
            f"--master-bind {host}: not an address of this machine ({exc.strerror or exc}); give one "
            "of its own addresses, or 0.0.0.0 for all"
        ) from None


def spec_from_args(args: argparse.Namespace) -> SweepSpec:
    rate_text = (args.rate or "").strip().lower()
    concurrency = (
        None if args.concurrency.strip().lower() == "auto" else tuple(parse_int_list(args.concurrency, "--concurrency"))
    )
    if args.batch_size < 1 or args.max_windows < 3:
        raise ConfigError("--batch-size must be >= 1 and --max-windows >= 3 (stability needs 3 windows)")
    workers = args.workers if args.workers is not None else max(1, (os.cpu_count() or 1) // 4)
    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    check_distributed_flags(args)
    workers = args.expect_workers or workers  # open-loop levels run one sender per worker
    return SweepSpec(
        model=args.model,
        instances=_instances(args),
        slo=parse_slo(args.slo),
        concurrency=None if rate_text else concurrency,
        rates=tuple(parse_float_list(args.rate, "--rate")) if rate_text and rate_text != "auto" else None,
        rate_auto=rate_text == "auto",
        batch_size=args.batch_size,
        max_batch_size=args.max_batch_size,
        dynamic_batching=None if args.dynamic_batching is None else args.dynamic_batching == "on",
        queue_delay_us=args.queue_delay_us,
        warmup_s=parse_seconds(args.warmup, "--warmup"),
        window_s=parse_seconds(args.window, "--window"),
        max_windows=args.max_windows,
        stability=parse_percent(args.stability, "--stability"),
        workers=workers,
        label=args.label,
        max_concurrency=args.max_concurrency,
        arrivals=args.arrivals,
        seed=args.seed,
        expect_workers=args.expect_workers,
        master_bind=args.master_bind,
        master_port=args.master_port,
        expect_workers_max_wait_s=parse_seconds(args.expect_workers_max_wait, "--expect-workers-max-wait"),
        request_timeout_s=parse_seconds(args.request_timeout, "--request-timeout"),
        saturation_cpu=_saturation_cpu(args.saturation_cpu),
        **input_data_fields(args),
    )


def _saturation_cpu(percent: float) -> float:
    if not percent > 0:
        raise ConfigError(f"--saturation-cpu must be a CPU percent above 0 (one core is 100), not {percent:g}")
    return percent


def input_data_fields(args: argparse.Namespace) -> dict[str, Any]:
    """--input-data and --shape as SweepSpec fields: one reading for every command that takes them (sweep, search)."""
    return {"input_data": str(Path(args.input_data).resolve()) if args.input_data else "", "shapes": _shapes(args.shape)}


def _shapes(items: list[str]) -> tuple[str, ...]:
    """--shape items, checked now (a typo is one line before anything starts)."""
    parse_shapes(items)
    return tuple(items)


def _instances(args: argparse.Namespace) -> tuple[InstanceGroup, ...]:
    """--instances: override curves. Without it, a server given by --url is measured as deployed (one curve)."""
    if args.instances:
        groups = parse_instances(args.instances)
        for line in thread_warnings(groups, os.cpu_count()):
            print(line, file=sys.stderr)
        return tuple(groups)
    if not args.url:
        return tuple(parse_instances("cpu:1"))
    overrides = [
        flag
        for flag, value in (
            ("--max-batch-size", args.max_batch_size),
            ("--dynamic-batching", args.dynamic_batching),
            ("--queue-delay-us", args.queue_delay_us),
        )
        if value is not None
    ]
    if overrides:
        raise ConfigError(
            f"{overrides[0]} changes the deployed config: give --instances too (the server then needs "
            "--model-control-mode=explicit), or drop it to measure the model as deployed"
        )
    return (InstanceGroup(source="deployed"),)  # kind and count are read from the server
