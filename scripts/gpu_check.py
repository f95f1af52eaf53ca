#!/usr/bin/env python3
"""GPU check: resnet50 on a KIND_GPU instance group and on a KIND_CPU one, side by side, in a few minutes.

Starts Triton on the bundled repository, loads resnet50 as cpu:1 and as gpu:1 (config override), and prints
single-request latency at batch 1 and batch 8 for each. On a machine without a GPU the GPU part is reported
as skipped. With --sweep it then runs `harness sweep --instances cpu:1,gpu:1` for full curves and a report.
The CPU instance's torch threads are printed as the server used them: the INTRA_OP_THREAD_COUNT parameter of
the config Triton loaded (what the bundled models read, model_repository/_nets/serving.py; 1 when absent).

    python scripts/gpu_check.py [--model resnet50] [--threads 1] [--calls 30] [--sweep] [--output results/gpu/<name>]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.errors import GpuUnavailable  # noqa: E402
from harness.record.model import InstanceGroup  # noqa: E402
from harness.record.sysinfo import gpu_model, host_info  # noqa: E402
from harness.triton.control import ControlClient, make_inputs  # noqa: E402
from harness.triton.probe import probe  # noqa: E402
from harness.triton.repository import BUNDLED_REPOSITORY  # noqa: E402
from harness.triton.server import LocalServer  # noqa: E402
from harness.triton.variants import THREADS_PARAMETER, Variant, configured_threads, load_variant  # noqa: E402

MODEL = "resnet50"


def check_group(control: ControlClient, url: str, model: str, kind: str, calls: int, threads: int) -> list[str]:
    try:
        config = load_variant(control, model, Variant(InstanceGroup(kind, 1, threads=threads if kind == "CPU" else None)))
    except GpuUnavailable as exc:
        return [f"{kind.lower()}:1  skipped: {exc}"]
    lines = [threads_line(kind, config)] if kind == "CPU" else []
    spec = control.model_spec(model)
    for batch in (1, 8):
        result = probe(url, model, make_inputs(spec, batch, seed=0), calls if batch == 1 else max(calls // 3, 5))
        lines.append(
            f"{kind.lower()}:1  batch {batch:>2}  median {result.median_ms:8.2f} ms  p90 {result.p90_ms:8.2f} ms"
            f"  -> {1000.0 * batch / result.median_ms:8.1f} images/s (one request in flight, n={result.calls})"
        )
    return lines


def threads_line(kind: str, config: dict) -> str:
    """The threads each instance set, read back from the config Triton loaded (the models default to 1)."""
    in_effect = configured_threads(config)
    source = f"{THREADS_PARAMETER} in the loaded config" if in_effect else f"no {THREADS_PARAMETER}: the model's default"
    return f"{kind.lower()}:1  torch intra-op threads per instance: {in_effect or 1} ({source})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=MODEL, help=f"bundled model to check (default {MODEL})")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads of the CPU instance (default 1)")
    parser.add_argument("--calls", type=int, default=30, help="timed batch-1 requests per group (default 30)")
    parser.add_argument("--sweep", action="store_true", help="also run a short sweep cpu:1 vs gpu:1 with a report")
    parser.add_argument("--output", default=str(ROOT / "results" / "gpu" / "sweep"), help="sweep run folder")
    args = parser.parse_args()
    host = host_info()
    print(f"host: {host['cpu_model']}, {host['cores']} cores; GPU: {gpu_model() or 'none'}", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp,
        LocalServer(BUNDLED_REPOSITORY, Path(tmp) / "triton.log") as server,
        ControlClient(server.endpoints.grpc_url) as control,
    ):
        print(f"tritonserver {control.server_version()}; model {args.model}", flush=True)
        for kind in ("CPU", "GPU"):
            for line in check_group(control, server.endpoints.grpc_url, args.model, kind, args.calls, args.threads):
                print(line, flush=True)
    if args.sweep:
        command = [
            sys.executable,
            "-m",
            "harness.cli",
            "sweep",
            "--model",
            args.model,
            "--instances",
            f"cpu:1x{args.threads},gpu:1",
            "--concurrency",
            "1,2,4,8",
            "--slo",
            "p99=500ms",
            "--warmup",
            "3s",
            "--window",
            "3s",
            "--label",
            "gpu-check",
            "--output",
            args.output,
        ]
        return subprocess.run(command, cwd=ROOT, check=False).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
