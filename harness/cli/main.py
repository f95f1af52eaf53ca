"""The `harness` command: parse flags, dispatch, and turn HarnessError into one line and an exit code."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from harness import __version__
from harness.cli.flags import add_server_flags
from harness.cli.stop_signals import INTERRUPTED_EXIT
from harness.errors import HarnessError


def _serve(args: argparse.Namespace) -> int:
    from harness.cli.serve import run_serve

    return run_serve(args)


def _models(args: argparse.Namespace) -> int:
    from harness.cli.serve import run_models

    return run_models(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Is a GPU necessary? Load-test Triton models.")
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="start Triton on the model repository and serve until Ctrl-C")
    add_server_flags(serve, with_url=False)
    serve.add_argument("--models", help="comma-separated models to load (default: all)")
    serve.add_argument("--grpc-port", type=int, help="gRPC port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--log", metavar="FILE", help="server log (default: results/serve/triton.log)")
    serve.set_defaults(handler=_serve)

    models = commands.add_parser("models", help="list models with their inputs, outputs and instance groups")
    add_server_flags(models)
    models.set_defaults(handler=_models)

    for register in _EXTRA_COMMANDS:
        register(commands)
    return parser


def _add_sweep(commands: argparse._SubParsersAction) -> None:
    from harness.cli.sweep_flags import add_sweep_parser

    add_sweep_parser(commands)


def _add_results(commands: argparse._SubParsersAction) -> None:
    from harness.cli.saved_runs import add_results_parsers

    add_results_parsers(commands)


def _add_ui(commands: argparse._SubParsersAction) -> None:
    from harness.cli.ui import add_ui_parser

    add_ui_parser(commands)


def _add_import_model(commands: argparse._SubParsersAction) -> None:
    from harness.cli.import_model import add_import_parser

    add_import_parser(commands)


def _add_latency(commands: argparse._SubParsersAction) -> None:
    from harness.cli.latency import add_latency_parser

    add_latency_parser(commands)


_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_sweep, _add_results, _add_ui]
_EXTRA_COMMANDS.append(_add_latency)
_EXTRA_COMMANDS.append(_add_import_model)


def _add_search(commands: argparse._SubParsersAction) -> None:
    from harness.cli.search import add_search_parser

    add_search_parser(commands)


_EXTRA_COMMANDS.append(_add_search)


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
