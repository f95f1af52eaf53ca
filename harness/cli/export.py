"""`harness export RUN --format perf-analyzer-csv|csv|json [-o FILE] [--curve NAME]`: a saved run for other tools.

perf-analyzer-csv: perf_analyzer's `-f` columns (harness.report.perf_analyzer_csv), one file per curve as one
perf_analyzer run measures one configuration: with one measured curve, FILE (or stdout); with several, FILE's name
with each curve's added (perf.csv -> perf.cpu_1.csv, perf.cpu_2.csv), or the one --curve names. csv: the run's
levels.csv columns. json: the run as run.json holds it, in today's schema (the form every reader upgrades to).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.errors import ConfigError, ResultsError
from harness.record.model import Run, run_to_dict
from harness.record.store import levels_csv, load_run, write_atomic
from harness.report.perf_analyzer_csv import CurveCsv, curve_files

PERF_ANALYZER_CSV = "perf-analyzer-csv"
FORMATS = (PERF_ANALYZER_CSV, "csv", "json")


def add_export_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("export", help="write a saved run for other tools: perf_analyzer's CSV, levels CSV or JSON")
    p.add_argument("run", metavar="RUN", help="run folder, run.json or report.html")
    p.add_argument(
        "--format",
        default=PERF_ANALYZER_CSV,
        metavar="FORMAT",
        help=f"{', '.join(FORMATS)} (default {PERF_ANALYZER_CSV}: the columns perf_analyzer -f --verbose-csv writes)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="where to write (default: stdout)")
    p.add_argument("--curve", metavar="NAME", help="perf-analyzer-csv: only this curve, as reports name it (e.g. cpu:2)")
    p.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    if args.format not in FORMATS:
        raise ConfigError(f"--format {args.format!r} is not a format of harness export; give one of {', '.join(FORMATS)}")
    if args.curve and args.format != PERF_ANALYZER_CSV:
        raise ConfigError(f"--curve picks one of perf-analyzer-csv's files; {args.format} holds every curve: drop --curve")
    run = load_run(args.run)
    if args.format != PERF_ANALYZER_CSV:
        _emit(levels_csv(run) if args.format == "csv" else json.dumps(run_to_dict(run), indent=2) + "\n", args.output)
        return 0
    files = _chosen(run, args.run, args.curve)
    if len(files) == 1:
        _emit(files[0].text, args.output)
        return 0
    if not args.output:
        names = ", ".join(f.label for f in files)
        raise ConfigError(
            f"{args.run} has {len(files)} curves ({names}) and a perf_analyzer CSV holds one: give -o FILE (one file "
            "per curve) or --curve NAME"
        )
    for curve_file, path in zip(files, _paths(Path(args.output), files), strict=True):
        write_atomic(path, curve_file.text)
        print(f"{curve_file.label}: {path}")
    return 0


def _paths(target: Path, files: list[CurveCsv]) -> list[Path]:
    """FILE's name with each curve's added; curves whose names read alike there are numbered (-1, -2...)"""
    parts = [f.file_part for f in files]
    unique = [p if parts.count(p) == 1 else f"{p}-{parts[:i].count(p) + 1}" for i, p in enumerate(parts)]
    return [target.with_name(f"{target.stem}.{part}{target.suffix}") for part in unique]


def _chosen(run: Run, source: str, curve: str | None) -> list[CurveCsv]:
    files = curve_files(run)
    if not files:
        raise ResultsError(f"{source} has no measured level; nothing to write in perf_analyzer's columns")
    if curve is None:
        return files
    chosen = [f for f in files if f.label == curve]
    if not chosen:
        raise ConfigError(f"--curve {curve!r}: {source} has no such curve; give one of {', '.join(f.label for f in files)}")
    return chosen


def _emit(text: str, output: str | None) -> None:
    if output:
        write_atomic(Path(output), text)
    else:
        sys.stdout.write(text)
