"""The `harness` command: one dispatch table, and the one place where a HarnessError becomes one line and an exit code.

Each command's module registers its parser (flags, help, handler); handlers turn the flags into typed values and
call the room that does the work. Measuring commands import Locust (through harness.measure) only when they run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from harness import __version__
from harness.cli import export, import_model, latency, plan, saved_runs, search, serve, sweep_flags, ui, variants
from harness.errors import INTERRUPTED_EXIT, HarnessError

Register = Callable[[argparse._SubParsersAction], None]

COMMANDS: tuple[Register, ...] = (
    # in the order of a user's path: serve and inspect, bring a model, watch load, measure, read saved runs, export them
    serve.add_serve_parser,
    serve.add_models_parser,
    import_model.add_import_parser,
    variants.add_variants_parser,
    ui.add_ui_parser,
    sweep_flags.add_sweep_parser,
    search.add_search_parser,
    latency.add_latency_parser,
    plan.add_plan_parser,
    saved_runs.add_report_parser,
    saved_runs.add_compare_parser,
    saved_runs.add_verdict_parser,
    export.add_export_parser,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Is a GPU necessary? Load-test Triton models.")
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except HarnessError as exc:
        print(f"harness {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"harness {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT


if __name__ == "__main__":
    sys.exit(main())
