"""`harness search --model M --slo p99=50ms [--mode quick|brute] [--budget DURATION]`: the best configuration per
instance kind within an SLO.

The generator (harness.sweep.search) proposes a configuration, the sweep measures it (the same levels, stability
rules and capacity search as `harness sweep`: one curve per configuration in the run), the generator reacts. The run
folder's run.json carries a `search` section (configurations ranked, best_cpu, best_gpu); `harness report` draws
the ranking and the Pareto front, `harness verdict` compares the best of each kind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.flags import add_input_data_flags, add_metrics_flag, add_server_flags, server_source
from harness.cli.parse import parse_int_list, parse_seconds, parse_slo
from harness.errors import ConfigError

MODES = ("quick", "brute")


def add_search_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "search", help="search instance count, threads and batching for the best CPU and GPU configuration within an SLO"
    )
    p.add_argument("--model", required=True, help="model name in the repository")
    add_server_flags(p)
    p.add_argument("--slo", default="p99=100ms", help="latency objective, e.g. p99=50ms")
    p.add_argument("--mode", choices=MODES, default="quick", help="quick: hill climb per kind (default); brute: all")
    p.add_argument(
        "--budget",
        help="stop the search after this long, mid-configuration if need be, e.g. 10m "
        "(the run kept, incomplete; exit 6; default: none)",
    )
    p.add_argument("--kinds", default="cpu,gpu", help="instance kinds to search (default cpu,gpu)")
    p.add_argument("--counts", default="1,2,4", help="instance counts (default 1,2,4)")
    p.add_argument("--threads", default="1,2", help="intra-op threads per CPU instance (default 1,2)")
    p.add_argument(
        "--max-batch-sizes",
        default="0,8,32",
        help="max_batch_size values; 0 keeps the model's own with dynamic batching off (default 0,8,32)",
    )
    p.add_argument("--queue-delays-us", default="off,500,2000", help="dynamic batching delays (default off,500,2000)")
    p.add_argument("--warmup", default="1s", help="untimed warm-up per level (default 1s)")
    p.add_argument("--window", default="1s", help="measurement window (default 1s)")
    p.add_argument("--max-windows", type=int, default=6, help="window budget per level (default 6)")
    p.add_argument("--max-concurrency", type=int, default=64, help="upper bound of each capacity search (default 64)")
    p.add_argument("--workers", type=int, default=1, help="Locust worker processes (default 1)")
    p.add_argument("--cost", help="cost per hour per configuration, e.g. cpu:1=0.20,gpu:1=2.50")
    p.add_argument("--output", metavar="DIR", help="run folder (default results/<timestamp>-search-<model>)")
    p.add_argument("--label", default="", help="a label for this run in reports")
    add_metrics_flag(p)
    add_input_data_flags(p)
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from harness.cli.search_run import run_search  # imports Locust, which patches the process for gevent

    return run_search(search_settings(args), server_source(args))


def search_settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Flags -> (space, spec, mode, budget, costs, output): every bad value ends here in one line."""
    from harness.analysis.verdict import parse_costs
    from harness.cli.sweep_flags import input_data_fields
    from harness.sweep.search import SearchSpace
    from harness.sweep.spec import SweepSpec

    kinds = tuple(k.strip().upper() for k in args.kinds.split(",") if k.strip())
    if not kinds or any(k not in ("CPU", "GPU") for k in kinds):
        raise ConfigError(f"--kinds {args.kinds!r}: use cpu, gpu or cpu,gpu")
    delays = tuple(None if d.strip().lower() == "off" else _delay(d) for d in args.queue_delays_us.split(","))
    mbs = tuple(_non_negative(v, "--max-batch-sizes") for v in args.max_batch_sizes.split(","))
    space = SearchSpace(
        kinds=kinds,
        counts=tuple(parse_int_list(args.counts, "--counts")),
        threads=tuple(parse_int_list(args.threads, "--threads")),
        max_batch_sizes=mbs,
        queue_delays_us=delays,
    )
    if args.max_windows < 3:
        raise ConfigError("--max-windows must be >= 3 (stability needs 3 windows)")
    spec = SweepSpec(
        model=args.model,
        instances=(),
        slo=parse_slo(args.slo),
        warmup_s=parse_seconds(args.warmup, "--warmup"),
        window_s=parse_seconds(args.window, "--window"),
        max_windows=args.max_windows,
        workers=max(1, args.workers),
        max_concurrency=args.max_concurrency,
        label=args.label,
        **input_data_fields(args),
    )
    budget = parse_seconds(args.budget, "--budget") if args.budget else None
    costs = parse_costs(args.cost) if args.cost else {}
    return space, spec, args.mode, budget, costs, Path(args.output) if args.output else None


def _delay(text: str) -> int:
    return _non_negative(text, "--queue-delays-us")


def _non_negative(text: str, flag: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise ConfigError(f"{flag}: {text!r} is not a whole number >= 0; use for example 0,8,32")
    return int(text)
