"""Flags several commands share: where the server comes from."""

from __future__ import annotations

import argparse
from dataclasses import dataclass


def add_server_flags(parser: argparse.ArgumentParser, with_url: bool = True) -> None:
    parser.add_argument("--model-repository", metavar="DIR", help="Triton model repository (default: the bundled one)")
    parser.add_argument("--tritonserver", metavar="PATH", help="tritonserver binary (default: nvidia-pytriton's, then PATH)")
    if with_url:
        parser.add_argument("--url", metavar="HOST:PORT", help="a running Triton's gRPC endpoint (no server is started)")


@dataclass(frozen=True)
class ServerSource:
    """Where a command's server comes from, read from add_server_flags' flags: handlers take this, not a Namespace."""

    url: str | None = None  # a running Triton's gRPC endpoint as typed (no server is started)
    model_repository: str | None = None
    tritonserver: str | None = None
    metrics_url: str | None = None  # --metrics-url: a --url server's Prometheus endpoint


def server_source(args: argparse.Namespace) -> ServerSource:
    return ServerSource(
        url=getattr(args, "url", None),
        model_repository=args.model_repository,
        tritonserver=args.tritonserver,
        metrics_url=getattr(args, "metrics_url", None),
    )


def add_metrics_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-url",
        metavar="HOST:PORT",
        help="Triton's Prometheus metrics endpoint of a --url server (default: its host, port 8002)",
    )


def add_input_data_flags(parser: argparse.ArgumentParser) -> None:
    """Real request data instead of seeded random tensors (harness.triton.input_data reads and checks it)."""
    parser.add_argument(
        "--input-data",
        metavar="PATH",
        help="requests cycle through this data: perf_analyzer's JSON input-data file, a folder of .npy "
        "files, or a folder of images (decoded and resized to the model's input)",
    )
    parser.add_argument(
        "--shape",
        metavar="NAME:DIMS",
        action="append",
        default=[],
        help="the sizes of an input's variable dimensions, batch dimension excluded, e.g. tokens:64 "
        "(repeat for several inputs); with or without --input-data (default: 16 each)",
    )
