#!/usr/bin/env python3
"""Single-request latency of each bundled model on this machine, over gRPC against a real local tritonserver.

One client, one request in flight: what a lone user sees, not capacity. Each model is loaded with its repository
config, warmed up, timed on the lean path the load generator uses (request serialized once, raw bytes over a gRPC
channel), then unloaded.

    .venv/bin/python scripts/model_latency.py [--models mnist_cnn,identity] [--batch-size 1] [-n 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.triton.control import ControlClient, make_inputs  # noqa: E402
from harness.triton.probe import probe  # noqa: E402
from harness.triton.repository import BUNDLED_REPOSITORY, model_names  # noqa: E402
from harness.triton.server import LocalServer  # noqa: E402

DEFAULT_CALLS = 200
SLOW_MODELS = {"resnet50": 30}  # about 0.1 s per image on a small CPU


def measure(control: ControlClient, url: str, model: str, batch_size: int, calls: int) -> dict[str, float]:
    started = time.monotonic()
    control.load(model)
    load_s = time.monotonic() - started
    try:
        result = probe(url, model, make_inputs(control.model_spec(model), batch_size, seed=0), calls)
    finally:
        control.unload(model)
    return {
        "load_s": load_s,
        "n": calls,
        "median": result.median_ms,
        "p90": result.p90_ms,
        "min": result.min_ms,
        "max": result.max_ms,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated (default: every bundled model)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("-n", type=int, help=f"timed calls per model (default {DEFAULT_CALLS}; resnet50 30)")
    args = parser.parse_args()
    models = [m.strip() for m in (args.models or "").split(",") if m.strip()] or model_names(BUNDLED_REPOSITORY)

    with (
        tempfile.TemporaryDirectory(prefix="model-latency-") as tmp,
        LocalServer(BUNDLED_REPOSITORY, Path(tmp) / "triton.log") as server,
        ControlClient(server.endpoints.grpc_url) as control,
    ):
        url = server.endpoints.grpc_url
        print(
            f"tritonserver {control.server_version()} at {url}; {os.cpu_count()} CPUs; "
            f"1 torch thread per instance (the config default); batch size {args.batch_size}; "
            f"10 warm-up calls, then one request at a time",
            flush=True,
        )
        header = f"{'model':<16} {'n':>4} {'median ms':>10} {'p90 ms':>9} {'min ms':>9} {'max ms':>9} {'load s':>7}"
        print(header)
        print("-" * len(header), flush=True)
        for model in models:
            calls = args.n or SLOW_MODELS.get(model, DEFAULT_CALLS)
            row = measure(control, url, model, args.batch_size, calls)
            print(
                f"{model:<16} {row['n']:>4} {row['median']:>10.2f} {row['p90']:>9.2f} {row['min']:>9.2f} "
                f"{row['max']:>9.2f} {row['load_s']:>7.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
