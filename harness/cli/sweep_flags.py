"""Flags of `harness sweep` and the SweepSpec they describe. Light: no Locust import (see cmd_sweep)."""

from __future__ import annotations

import argparse
import os

from harness.cli.flags import add_server_flags
from harness.cli.parse import parse_float_list, parse_instances, parse_int_list, parse_percent, parse_seconds, parse_slo
from harness.errors import ConfigError
from harness.sweep.spec import SweepSpec


def _run(args: argparse.Namespace) -> int:
    from harness.cli.sweep import run_sweep  # imports Locust, which patches the process for gevent

    return run_sweep(args)


def add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("sweep", help="measure a model under rising load per instance group; write a run + report")
    p.add_argument("--model", required=True, help="model name in the repository")
    add_server_flags(p)
    p.add_argument("--instances", default="cpu:1", help="instance groups, one curve each, e.g. cpu:1,cpu:2,gpu:1")
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
    p.add_argument("--request-timeout", default="30s",
                   help="a request unanswered this long fails; a window of failures ends the run (default 30s)")
    p.set_defaults(handler=_run)


def spec_from_args(args: argparse.Namespace) -> SweepSpec:
    rate_text = (args.rate or "").strip().lower()
    concurrency = None if args.concurrency.strip().lower() == "auto" else tuple(
        parse_int_list(args.concurrency, "--concurrency"))
    if args.batch_size < 1 or args.max_windows < 3:
        raise ConfigError("--batch-size must be >= 1 and --max-windows >= 3 (stability needs 3 windows)")
    workers = args.workers if args.workers is not None else max(1, (os.cpu_count() or 1) // 4)
    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    return SweepSpec(
        model=args.model, instances=tuple(parse_instances(args.instances)), slo=parse_slo(args.slo),
        concurrency=None if rate_text else concurrency,
        rates=tuple(parse_float_list(args.rate, "--rate")) if rate_text and rate_text != "auto" else None,
        rate_auto=rate_text == "auto", batch_size=args.batch_size, max_batch_size=args.max_batch_size,
        dynamic_batching=None if args.dynamic_batching is None else args.dynamic_batching == "on",
        queue_delay_us=args.queue_delay_us, warmup_s=parse_seconds(args.warmup, "--warmup"),
        window_s=parse_seconds(args.window, "--window"), max_windows=args.max_windows,
        stability=parse_percent(args.stability, "--stability"), workers=workers, label=args.label,
        max_concurrency=args.max_concurrency, arrivals=args.arrivals, seed=args.seed,
        request_timeout_s=parse_seconds(args.request_timeout, "--request-timeout"),
    )
