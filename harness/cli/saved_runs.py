"""`harness report`, `harness compare` and `harness verdict`: work on saved runs, no server needed."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import defaults
from harness.analysis.capacity import curve_labels, objectives_text, with_model_slos
from harness.analysis.compare import comparison_rows, format_table
from harness.analysis.plan import plan_lines
from harness.analysis.saturation import saturation_sentence
from harness.analysis.verdict import Verdict, decide, format_verdict, parse_costs
from harness.cli.parse import parse_model_slos, parse_slo
from harness.errors import ConfigError
from harness.record.model import Run, Slo
from harness.record.store import load_run


def add_report_parser(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="rebuild report.html from a run folder (also an interrupted one)")
    report.add_argument("run", metavar="DIR", help="run folder, run.json or report.html")
    report.add_argument("-o", "--output", help="where to write (default: DIR/report.html)")
    report.set_defaults(handler=run_report)


def add_compare_parser(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser("compare", help="compare saved runs on shared axes; optional verdict")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="run folders, run.json or report.html files")
    compare.add_argument("-o", "--output", default="compare.html", help="compare page (default compare.html)")
    compare.add_argument("--baseline", type=int, default=1, help="which run is the baseline, 1-based (default 1)")
    _add_decision_flags(compare, required=False)
    compare.set_defaults(handler=run_compare)


def add_verdict_parser(commands: argparse._SubParsersAction) -> None:
    verdict = commands.add_parser("verdict", help="is a GPU necessary for a target load within an SLO?")
    verdict.add_argument("runs", nargs="+", metavar="RUN", help="run folders, run.json or report.html files")
    _add_decision_flags(verdict, required=True)
    verdict.set_defaults(handler=run_verdict)


def _add_decision_flags(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--target-rps", type=float, required=required, help="the load the deployment must sustain")
    parser.add_argument(
        "--slo",
        help="latency objective, e.g. p99=50ms (default: each run's own); for runs of a mix, each model's own: "
        "a:p99=50ms,b:p99=200ms",
    )
    parser.add_argument("--cost", help="cost per hour per configuration, e.g. cpu:1=0.20,gpu:1=2.50")


def run_report(args: argparse.Namespace) -> int:
    from harness.report.run_page import write_report

    run = load_run(args.run)
    source = Path(args.run)
    folder = source if source.is_dir() else source.parent
    target = Path(args.output) if args.output else folder / "report.html"
    write_report(run, target)
    print(f"report: {target}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from harness.report.compare_page import write_compare

    runs, slo = _judged([load_run(path) for path in args.runs], args.slo)
    if not 1 <= args.baseline <= len(runs):
        raise ConfigError(f"--baseline {args.baseline}: give a number between 1 and {len(runs)}")
    verdict = _decision(runs, args, slo) if args.target_rps is not None else None
    if verdict is not None:
        print(format_verdict(verdict), end="\n\n")
    print(format_table(comparison_rows(runs, baseline=args.baseline - 1, slo=slo)))
    for line in plan_lines(runs):
        print(f"\n{line}")
    write_compare(runs, Path(args.output), baseline=args.baseline - 1, slo=slo, verdict=verdict)
    print(f"\ncompare page: {args.output}")
    return 0


def run_verdict(args: argparse.Namespace) -> int:
    runs, slo = _judged([load_run(path) for path in args.runs], args.slo)
    print(format_verdict(_decision(runs, args, slo)))
    for _, curve, label in curve_labels(runs):
        if curve.mix:
            print(f"\n{label}: judged within {objectives_text(slo or runs[0].slo, curve)}")
    for line in plan_lines(runs):
        print(f"\n{line}")
    limits = [why for run in runs for curve in run.curves if (why := saturation_sentence(run, curve))]
    if limits:
        print("\nwhat saturated:\n" + "\n".join(f"  {why}" for why in limits))
    return 0


def _judged(runs: list[Run], text: str | None) -> tuple[list[Run], Slo | None]:
    """The runs and the SLO a reader's --slo asks for: one objective ('p99=50ms'), or one per model of the runs'
    mixes ('a:p99=50ms,b:p99=200ms'; an unprefixed item sets the other models'), which then judge each mixed
    level's models in place of the objectives recorded with them."""
    if not text:
        return runs, None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if all(":" not in item for item in items):
        return runs, parse_slo(text)
    models = tuple(dict.fromkeys(model for run in runs for curve in run.curves for model in curve.mix))
    if not models:
        raise ConfigError(
            f"--slo {text!r} names models, but no run given serves a mix (--mix); give one objective, e.g. p99=50ms"
        )
    others, own = parse_model_slos(text, models, defaults.SLO)
    common = others if any(":" not in item for item in items) else None  # else each run keeps its own for the rest
    return [with_model_slos(run, dict(own), common) for run in runs], common


def _decision(runs: list[Run], args: argparse.Namespace, slo: Slo | None) -> Verdict:
    costs = parse_costs(args.cost) if args.cost else None
    return decide(runs, args.target_rps, slo or runs[0].slo, costs)
