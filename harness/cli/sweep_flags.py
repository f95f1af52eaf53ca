"""`harness sweep`: its flags, the SweepSpec they describe, and the hand-over to harness.measure (which imports Locust:
only when the command runs, so `harness --help` and the other commands stay light)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

from harness import defaults
from harness.analysis.capacity import STABLE_WINDOWS
from harness.cli.flags import (
    add_arrival_flags,
    add_generator_flags,
    add_input_data_flags,
    add_level_flags,
    add_metrics_flag,
    add_model_flags,
    add_server_flags,
    add_workers_flag,
    arrival_fields,
    generator_fields,
    input_data_fields,
    level_fields,
    model_fields,
    parse_workers,
    server_source,
)
from harness.cli.parse import (
    parse_float_list,
    parse_instances,
    parse_int_list,
    parse_model_slos,
    parse_percent,
    parse_seconds,
    parse_slo,
    thread_warnings,
)
from harness.errors import ConfigError
from harness.load.mix import check_mix_models, parse_mix
from harness.net import bind_error
from harness.record.model import InstanceGroup
from harness.sweep.spec import SweepSpec


def _run(args: argparse.Namespace) -> int:
    """Flags become a typed Job here; the run's life (harness.measure) never sees the Namespace."""
    from harness.measure.fixed import FixedCurves
    from harness.measure.job import Job

    spec = spec_from_args(args)
    job = Job("sweep", spec, server_source(args), Path(args.output) if args.output else None)
    from harness.measure.session import measure  # imports Locust, which patches the process for gevent

    return measure(job, FixedCurves(spec))


def add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("sweep", help="measure a model under rising load per instance group; write a run + report")
    add_model_flags(p, what="sweep")
    add_server_flags(p)
    p.add_argument(
        "--instances",
        help="instance groups, one curve each, e.g. cpu:1,cpu:2,gpu:1 (default cpu:1; "
        "with --url: the model as deployed, never reloaded)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=defaults.BATCH_SIZE,
        help=f"inferences per request (default {defaults.BATCH_SIZE})",
    )
    p.add_argument("--max-batch-size", type=int, help="override the model's max_batch_size")
    p.add_argument("--dynamic-batching", choices=["on", "off"], help="override dynamic batching")
    p.add_argument("--queue-delay-us", type=int, help="dynamic batching max queue delay in microseconds")
    p.add_argument("--concurrency", default="auto", help="closed-loop levels, e.g. 1,2,4,8, or auto (default)")
    p.add_argument("--rate", help="open-loop levels in requests/s across all workers, e.g. 100,200,400, or auto")
    p.add_argument(
        "--rate-start",
        default=defaults.SWEEP_RATE_START,
        metavar="RPS|probe",
        help="--rate auto: the rate of the search's first probe; 'probe' (default): what a short closed-loop probe "
        "served. Only a starting point: the search doubles or halves from it to the capacity, whatever it is",
    )
    add_arrival_flags(p)
    p.add_argument(
        "--seed", type=int, default=defaults.SEED, help=f"seed of input data and Poisson schedules (default {defaults.SEED})"
    )
    p.add_argument(
        "--mix",
        metavar="MODEL=WEIGHT,...",
        help="serve --model's models together in every level, e.g. --model a,b --mix a=3,b=1: closed-loop users (or "
        "an open-loop --rate) split by weight; each level records every model's figures beside the combined ones "
        "(without --mix, --model a,b measures one curve per model)",
    )
    p.add_argument(
        "--slo",
        default=defaults.SLO,
        help=f"latency objective (p50/p90/p95/p99/p99.9; default {defaults.SLO}); with --mix, a model's own as "
        "MODEL:p99=50ms, e.g. a:p99=50ms,b:p99=200ms: a level passes when every model meets its own",
    )
    add_level_flags(p, defaults.SWEEP_WARMUP_S, defaults.SWEEP_WINDOW_S, defaults.SWEEP_MAX_WINDOWS)
    p.add_argument(
        "--stability",
        default=f"{defaults.SWEEP_STABILITY:.0%}",
        help=f"the last {STABLE_WINDOWS} windows must agree within this (default {defaults.SWEEP_STABILITY:.0%}%)",
    )
    p.add_argument(
        "--max-concurrency",
        type=int,
        default=defaults.SWEEP_MAX_CONCURRENCY,
        help=f"upper bound of the concurrency search (default {defaults.SWEEP_MAX_CONCURRENCY})",
    )
    add_workers_flag(p)
    p.add_argument("--output", metavar="DIR", help="run folder (default results/<timestamp>-<model>)")
    p.add_argument("--label", default="", help="a label for this run in reports and comparisons")
    add_metrics_flag(p)
    add_distributed_flags(p)
    add_generator_flags(p)
    add_input_data_flags(p)
    p.add_argument(
        "--validate-outputs",
        action="store_true",
        help="check each response of a variant against its original's outputs for the same request (the same top-1 "
        "class, or within 1%% of the largest |value|): a mismatch fails its level. --input-data's validation_data, "
        "when the file has it, is checked with or without this flag",
    )
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
        default=defaults.MASTER_BIND,
        metavar="HOST",
        help=f"address the master listens on for workers (default {defaults.MASTER_BIND}; remote workers need an "
        "address of this machine, or 0.0.0.0)",
    )
    p.add_argument(
        "--master-port",
        type=int,
        default=0,
        metavar="PORT",
        help=f"port the master listens on (default {defaults.MASTER_PORT_FOR_EXTERNAL_WORKERS} with --expect-workers, "
        "else a free one)",
    )
    p.add_argument(
        "--expect-workers-max-wait",
        default=f"{defaults.EXPECT_WORKERS_MAX_WAIT_S:g}s",
        metavar="SECONDS",
        help=f"how long to wait for the expected workers (default {defaults.EXPECT_WORKERS_MAX_WAIT_S:g}s)",
    )


def check_distributed_flags(args: argparse.Namespace) -> None:
    """Bad values end here, in one line, before anything starts."""
    if args.expect_workers is not None and args.expect_workers < 1:
        raise ConfigError(f"--expect-workers {args.expect_workers}: a sweep needs at least 1 worker; give N >= 1")
    if not 0 <= args.master_port <= 65535:
        raise ConfigError(f"--master-port {args.master_port} is not a port; give 1-65535")
    check_local_address(args.master_bind)


def check_local_address(host: str) -> None:
    """The master can only listen on an address of this machine."""
    if (why := bind_error(host)) is not None:
        raise ConfigError(
            f"--master-bind {host}: not an address of this machine ({why}); give one of its own addresses, or 0.0.0.0 for all"
        )


def spec_from_args(args: argparse.Namespace) -> SweepSpec:
    arrivals = arrival_fields(args)
    trace = arrivals.get("trace")
    if trace is not None and args.concurrency.strip().lower() != "auto":
        raise ConfigError("--schedule replays open-loop sends; give --rate (or no rate: the file's own), not --concurrency")
    rate_text = (args.rate or "").strip().lower() or (f"{trace.rate:.6g}" if trace is not None else "")
    concurrency = (
        None if args.concurrency.strip().lower() == "auto" else tuple(parse_int_list(args.concurrency, "--concurrency"))
    )
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size}: give at least 1")
    levels = level_fields(args)
    workers = parse_workers(args.workers)
    check_distributed_flags(args)
    workers = args.expect_workers or workers  # open-loop levels run one sender per worker
    models = model_fields(args)
    return SweepSpec(
        **models,
        instances=_instances(args),
        **mix_fields(args, models["models"], rate_text, trace is not None),
        concurrency=None if rate_text else concurrency,
        rates=tuple(parse_float_list(rate_text, "--rate")) if rate_text and rate_text != "auto" else None,
        rate_auto=rate_text == "auto",
        rate_start=_rate_start(args.rate_start, rate_text == "auto"),
        batch_size=args.batch_size,
        max_batch_size=args.max_batch_size,
        dynamic_batching=None if args.dynamic_batching is None else args.dynamic_batching == "on",
        queue_delay_us=args.queue_delay_us,
        **levels,
        stability=parse_percent(args.stability, "--stability"),
        workers=workers,
        label=args.label,
        max_concurrency=args.max_concurrency,
        seed=args.seed,
        expect_workers=args.expect_workers,
        master_bind=args.master_bind,
        master_port=args.master_port,
        expect_workers_max_wait_s=parse_seconds(args.expect_workers_max_wait, "--expect-workers-max-wait"),
        **generator_fields(args),
        **input_data_fields(args),
        **arrivals,
    )


def mix_fields(args: argparse.Namespace, models: tuple[str, ...], rate_text: str, schedule: bool) -> dict[str, Any]:
    """--mix and --slo as SweepSpec fields: the mix's weights (checked against --model), the run's SLO and each
    model's own. Without --mix, --model a,b keeps meaning one curve per model, and an SLO names no model."""
    if not args.mix:
        if ":" in args.slo:
            raise ConfigError(f"--slo {args.slo!r}: a model's own SLO is for models served together; add --mix")
        return {"slo": parse_slo(args.slo)}
    weights = parse_mix(args.mix)
    check_mix_models(weights, models or (args.model.strip(),))
    refused = [flag for flag, given in MIX_EXCLUDES if getattr(args, given, None)] + (["--schedule"] if schedule else [])
    if refused:
        raise ConfigError(f"{refused[0]} with --mix: not supported (each model needs its own); drop one of them")
    mixed = tuple(name for name, _ in weights)
    slo, own = parse_model_slos(args.slo, mixed, defaults.SLO)
    return {"mix": weights, "slo": slo, "model_slos": own, "model_instances": _model_instances(args.instances, mixed)}


def _model_instances(text: str | None, models: tuple[str, ...]) -> tuple[tuple[str, InstanceGroup], ...]:
    """--instances a=cpu:2,b=gpu:1: each model of the mix on its own group, every model named once; () for the
    plain form (every group a curve, each model deployed on it)."""
    if not text or "=" not in text:
        return ()
    groups: dict[str, InstanceGroup] = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        model, sep, group = item.partition("=")
        if not sep or model.strip() not in models:
            raise ConfigError(
                f"--instances {item!r}: give each model of --mix its group, MODEL=KIND:COUNT (models: {', '.join(models)})"
            )
        if model.strip() in groups:
            raise ConfigError(f"--instances: {model.strip()} is given twice; give each model one group")
        (groups[model.strip()],) = parse_instances(group)
    if missing := [m for m in models if m not in groups]:
        raise ConfigError(f"--instances names no group for {missing[0]}; add {missing[0]}=KIND:COUNT (e.g. cpu:1)")
    return tuple((m, groups[m]) for m in models)


MIX_EXCLUDES = (("--variants", "variants"), ("--input-data", "input_data"), ("--validate-outputs", "validate_outputs"))


def _rate_start(text: str, rate_auto: bool) -> float | None:
    """--rate-start: a positive rate, or None for the closed-loop start probe; only with --rate auto."""
    if text.strip().lower() == defaults.SWEEP_RATE_START:
        return None
    if not rate_auto:
        raise ConfigError(f"--rate-start {text} starts the capacity search: give --rate auto too, or drop --rate-start")
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise ConfigError(
            f"--rate-start: {text!r} is not a positive rate; give one in requests/s (e.g. 50), or 'probe' to start "
            "where a closed-loop probe gets"
        )
    return rate


def _instances(args: argparse.Namespace) -> tuple[InstanceGroup, ...]:
    """--instances: override curves. Without it, a server given by --url is measured as deployed (one curve)."""
    if args.instances and "=" in args.instances:  # per model (--mix checks them): one curve, named after the first's
        if not args.mix:
            raise ConfigError(f"--instances {args.instances}: a group per model is for models served together; add --mix")
        groups = parse_instances(args.instances.split(",")[0].partition("=")[2] or "cpu:1")
        return tuple(groups)
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
