"""Flags several commands share: where the server comes from."""

from __future__ import annotations

import argparse


def add_server_flags(parser: argparse.ArgumentParser, with_url: bool = True) -> None:
    parser.add_argument("--model-repository", metavar="DIR", help="Triton model repository (default: the bundled one)")
    parser.add_argument("--tritonserver", metavar="PATH", help="tritonserver binary (default: nvidia-pytriton's, then PATH)")
    if with_url:
        parser.add_argument("--url", metavar="HOST:PORT", help="a running Triton's gRPC endpoint (no server is started)")


def add_metrics_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics-url", metavar="HOST:PORT",
                        help="Triton's Prometheus metrics endpoint of a --url server (default: its host, port 8002)")
