"""`harness latency --model M`: single-request latency for batch 1..N, in-process vs through Triton, CPU vs GPU, the
model and its variants (the measuring is harness.measure.latency). The table goes to the terminal as it is
measured; the rows go to a run folder (run.json `latency`, report.html), which `harness report` rebuilds like any
other run.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from harness.cli.flags import add_server_flags, server_source
from harness.cli.parse import parse_int_list
from harness.errors import ConfigError
from harness.measure.latency import LatencyJob, measure_latency
from harness.triton.repository import resolve_repository


def add_latency_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "latency", help="single-request latency per batch size: in-process vs Triton, CPU vs GPU, the model and its variants"
    )
    p.add_argument("--model", required=True, help="model name in the repository")
    add_server_flags(p)
    p.add_argument("--batch-sizes", default="1,2,4,8", help="batch sizes to time (default 1,2,4,8)")
    p.add_argument("-n", "--calls", type=int, default=50, help="timed calls per row, after 10 warm-up calls (default 50)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of the CPU instance and in-process (default 1)")
    p.add_argument("--output", metavar="DIR", help="run folder (default results/<timestamp>-latency-<model>)")
    p.add_argument("--label", default="", help="a label for this run in reports")
    p.set_defaults(handler=run_latency)


def run_latency(args: argparse.Namespace) -> int:
    batches = tuple(parse_int_list(args.batch_sizes, "--batch-sizes"))
    if args.calls < 1 or args.threads < 1:
        raise ConfigError("-n/--calls and --threads must be at least 1")
    source = server_source(args)
    if source.url:  # in-process timing still reads the model's files: the repository is needed too
        source = replace(source, model_repository=resolve_repository(args.model_repository))
    folder = Path(args.output) if args.output else None
    job = LatencyJob(args.model, source, batches, args.calls, args.threads, folder, args.label)
    return measure_latency(job)
