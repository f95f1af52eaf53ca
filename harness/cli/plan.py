"""`harness plan --model M --slo p99=50ms (--traffic RPS | --traffic-file day.csv) --cost cpu:1=0.05,...`: the cheapest
deployment for a day of traffic, from measured candidates (harness.measure.plan), or from runs already measured
(`--from RUN ...`: no server, no load)."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from harness import defaults
from harness.analysis.plan import make_plan, plan_candidates
from harness.analysis.traffic import Traffic, parse_traffic, peak_traffic
from harness.analysis.verdict import parse_costs
from harness.cli.flags import (
    add_generator_flags,
    add_input_data_flags,
    add_level_flags,
    add_metrics_flag,
    add_model_flags,
    add_server_flags,
    add_workers_flag,
    generator_fields,
    input_data_fields,
    level_fields,
    model_fields,
    parse_workers,
    server_source,
)
from harness.cli.parse import parse_instances, parse_seconds, parse_share, parse_slo
from harness.cli.search import MODES, add_space_flags, space_from_args
from harness.errors import ConfigError
from harness.measure.configurations import SearchPlan
from harness.measure.job import Job, command_line
from harness.measure.plan import PlanProposer, PlanRequest
from harness.record.model import Metadata, Run
from harness.record.store import load_run, save_run
from harness.report.run_page import write_report
from harness.sweep.spec import SweepSpec


def add_plan_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("plan", help="the cheapest deployment (replicas of which configuration) for your traffic")
    add_model_flags(p, what="plan with")
    add_server_flags(p)
    p.add_argument("--slo", default=defaults.SLO, help=f"latency objective, e.g. p99=50ms (default {defaults.SLO})")
    traffic = p.add_mutually_exclusive_group(required=True)
    traffic.add_argument("--traffic", metavar="PEAK_RPS", type=float, help="one peak rate, all day (requests/s)")
    traffic.add_argument("--traffic-file", metavar="CSV", help="a day of traffic: time,rps lines of equal steps")
    p.add_argument("--cost", help="price per replica-hour per configuration, e.g. cpu:1=0.05,cpu:2=0.10,gpu:1=2.50")
    p.add_argument(
        "--headroom",
        default=f"{defaults.PLAN_HEADROOM:.0%}",
        help=f"fleets carry the rate times (1 + headroom) within the SLO (default {defaults.PLAN_HEADROOM:.0%}%)",
    )
    p.add_argument(
        "--instances",
        help="the candidates, e.g. cpu:1,cpu:2x2,gpu:1 (default: the configuration search, --mode, for CPU and GPU)",
    )
    p.add_argument("--mode", choices=MODES, default="quick", help="the configuration search's (default quick)")
    add_space_flags(p)
    p.add_argument("--budget", help="stop measuring after this long, e.g. 30m; the plan uses what was measured")
    p.add_argument("--from", dest="runs", nargs="+", metavar="RUN", help="plan from runs already measured: no server")
    add_level_flags(p, defaults.SEARCH_WARMUP_S, defaults.SEARCH_WINDOW_S, defaults.SEARCH_MAX_WINDOWS)
    add_workers_flag(p)
    add_generator_flags(p)
    add_metrics_flag(p)
    add_input_data_flags(p)
    p.add_argument("--output", metavar="DIR", help="run folder (default results/<timestamp>-plan-<model>)")
    p.add_argument("--label", default="", help="a label for this run in reports")
    p.set_defaults(handler=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    traffic = _traffic(args)
    costs = parse_costs(args.cost) if args.cost else {}
    headroom = parse_share(args.headroom, "--headroom")
    slo = parse_slo(args.slo)
    if args.runs:
        return _plan_from_runs(args, traffic, costs, headroom)
    spec = SweepSpec(
        **model_fields(args),
        instances=tuple(parse_instances(args.instances)) if args.instances else (),
        slo=slo,
        **level_fields(args),
        workers=parse_workers(args.workers),
        label=args.label,
        max_concurrency=defaults.SEARCH_MAX_CONCURRENCY,
        **generator_fields(args),
        **input_data_fields(args),
    )
    search = None if args.instances else SearchPlan(space=space_from_args(args), mode=args.mode, costs=costs)
    request = PlanRequest(traffic=traffic, costs=costs, headroom=headroom, search=search)
    budget = parse_seconds(args.budget, "--budget") if args.budget else None
    proposer = PlanProposer(spec, request)
    # the proposer's spec: the run records, and its workers start with, the arrivals the fit reads (Poisson)
    job = Job("plan", proposer.spec, server_source(args), Path(args.output) if args.output else None, budget_s=budget)
    from harness.measure.session import measure  # imports Locust, which patches the process for gevent

    return measure(job, proposer)


def _traffic(args: argparse.Namespace) -> Traffic:
    if args.traffic is not None:
        if not args.traffic > 0:
            raise ConfigError(f"--traffic {args.traffic:g}: give the peak rate in requests/s, above 0")
        return peak_traffic(args.traffic)
    path = Path(args.traffic_file)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"--traffic-file {path}: cannot read it ({exc.strerror}); give a time,rps CSV") from None
    return parse_traffic(text, str(path))


def _plan_from_runs(args: argparse.Namespace, traffic: Traffic, costs: dict[str, float], headroom: float) -> int:
    """Plan from saved runs: their curves are the candidates; the plan goes into a run folder of its own."""
    runs = [load_run(path) for path in args.runs]
    slo = parse_slo(args.slo)
    plan = make_plan(plan_candidates(runs, slo, costs), traffic, slo, headroom)
    folder = Path(args.output) if args.output else Path("results") / f"{datetime.now():%Y%m%d-%H%M%S}-plan-{args.model}"
    settings = {"kind": "plan", "from": [str(Path(path).resolve()) for path in args.runs]}
    metadata = Metadata(model=args.model, label=args.label, command_line=command_line(), settings=settings, complete=True)
    run = Run(metadata=metadata, slo=slo, plan=plan)
    save_run(run, folder)
    write_report(run, folder / "report.html")
    print(f"plan: {plan.sentence}")
    for note in plan.notes:
        print(f"  note: {note}")
    print(f"\n  run:    {folder / 'run.json'}\n  report: {folder / 'report.html'}")
    return 0
