"""`harness search --model M --slo p99=50ms [--mode quick|brute] [--budget DURATION]`: the best configuration per
instance kind within an SLO.

The generator (harness.sweep.configuration_search) proposes a configuration, the sweep measures it (the same levels, stability
rules and capacity search as `harness sweep`: one curve per configuration in the run), the generator reacts. The run
folder's run.json carries a `search` section (configurations ranked, best_cpu, best_gpu); `harness report` draws
the ranking and the Pareto front, `harness verdict` compares the best of each kind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import defaults
from harness.analysis.verdict import parse_costs
from harness.cli.flags import (
    add_generator_flags,
    add_input_data_flags,
    add_level_flags,
    add_metrics_flag,
    add_server_flags,
    add_workers_flag,
    generator_fields,
    input_data_fields,
    level_fields,
    parse_workers,
    server_source,
)
from harness.cli.parse import parse_int_list, parse_seconds, parse_slo
from harness.errors import ConfigError
from harness.measure.configurations import ConfigurationSearch, SearchPlan
from harness.measure.job import Job
from harness.sweep.configuration_search import SearchSpace
from harness.sweep.spec import SweepSpec

MODES = ("quick", "brute")


def add_search_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "search", help="search instance count, threads and batching for the best CPU and GPU configuration within an SLO"
    )
    p.add_argument("--model", required=True, help="model name in the repository")
    add_server_flags(p)
    p.add_argument("--slo", default=defaults.SLO, help=f"latency objective, e.g. p99=50ms (default {defaults.SLO})")
    p.add_argument("--mode", choices=MODES, default="quick", help="quick: hill climb per kind (default); brute: all")
    p.add_argument(
        "--budget",
        help="stop the search after this long, mid-configuration if need be, e.g. 10m "
        "(the run kept, incomplete; exit 6; default: none)",
    )
    add_space_flags(p)
    add_level_flags(p, defaults.SEARCH_WARMUP_S, defaults.SEARCH_WINDOW_S, defaults.SEARCH_MAX_WINDOWS)
    p.add_argument(
        "--max-concurrency",
        type=int,
        default=defaults.SEARCH_MAX_CONCURRENCY,
        help=f"upper bound of each concurrency search (default {defaults.SEARCH_MAX_CONCURRENCY})",
    )
    add_workers_flag(p)
    add_generator_flags(p)
    p.add_argument("--cost", help="cost per hour per configuration, e.g. cpu:1=0.20,gpu:1=2.50")
    p.add_argument("--output", metavar="DIR", help="run folder (default results/<timestamp>-search-<model>)")
    p.add_argument("--label", default="", help="a label for this run in reports")
    add_metrics_flag(p)
    add_input_data_flags(p)
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    job, plan = search_job(args)
    from harness.measure.session import measure  # imports Locust, which patches the process for gevent

    return measure(job, ConfigurationSearch(job.spec, plan))


def search_job(args: argparse.Namespace) -> tuple[Job, SearchPlan]:
    """Flags -> the run's Job and the search's plan: every bad value ends here in one line."""
    space = space_from_args(args)
    spec = SweepSpec(
        model=args.model,
        instances=(),
        slo=parse_slo(args.slo),
        **level_fields(args),
        workers=parse_workers(args.workers),
        max_concurrency=args.max_concurrency,
        label=args.label,
        **input_data_fields(args),
        **generator_fields(args),
    )
    budget = parse_seconds(args.budget, "--budget") if args.budget else None
    plan = SearchPlan(space=space, mode=args.mode, costs=parse_costs(args.cost) if args.cost else {})
    output = Path(args.output) if args.output else None
    return Job("search", spec, server_source(args), output, budget_s=budget), plan


def add_space_flags(p: argparse.ArgumentParser) -> None:
    """What the configuration search may try (also `harness plan`'s candidates)."""
    p.add_argument("--kinds", default=defaults.SEARCH_KINDS, help=f"instance kinds to search (default {defaults.SEARCH_KINDS})")
    p.add_argument("--counts", default=defaults.SEARCH_COUNTS, help=f"instance counts (default {defaults.SEARCH_COUNTS})")
    p.add_argument(
        "--threads",
        default=defaults.SEARCH_THREADS,
        help=f"intra-op threads per CPU instance (default {defaults.SEARCH_THREADS})",
    )
    p.add_argument(
        "--max-batch-sizes",
        default=defaults.SEARCH_MAX_BATCH_SIZES,
        help="max_batch_size values; 0 keeps the model's own with dynamic batching off "
        f"(default {defaults.SEARCH_MAX_BATCH_SIZES})",
    )
    p.add_argument(
        "--queue-delays-us",
        default=defaults.SEARCH_QUEUE_DELAYS_US,
        help=f"dynamic batching delays (default {defaults.SEARCH_QUEUE_DELAYS_US})",
    )


def space_from_args(args: argparse.Namespace) -> SearchSpace:
    kinds = tuple(k.strip().upper() for k in args.kinds.split(",") if k.strip())
    if not kinds or any(k not in ("CPU", "GPU") for k in kinds):
        raise ConfigError(f"--kinds {args.kinds!r}: use cpu, gpu or cpu,gpu")
    delays = tuple(None if d.strip().lower() == "off" else _delay(d) for d in args.queue_delays_us.split(","))
    mbs = tuple(_non_negative(v, "--max-batch-sizes") for v in args.max_batch_sizes.split(","))
    return SearchSpace(
        kinds=kinds,
        counts=tuple(parse_int_list(args.counts, "--counts")),
        threads=tuple(parse_int_list(args.threads, "--threads")),
        max_batch_sizes=mbs,
        queue_delays_us=delays,
    )


def _delay(text: str) -> int:
    return _non_negative(text, "--queue-delays-us")


def _non_negative(text: str, flag: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise ConfigError(f"{flag}: {text!r} is not a whole number >= 0; use for example 0,8,32")
    return int(text)
