"""What each variant of a bundled model gains or loses against fp32 on this CPU: capacity within an SLO (`harness
sweep --concurrency auto`, one CPU instance, one thread) and agreement with the original (`harness variants`).

Copies the bundled repository to OUT/repo, writes the variants there (`harness variants --force`: the copy's
hand-made mnist_cnn_int8 is replaced by the checked one), then sweeps each model with all its variants as curves
of one run, ROUNDS times with the curve order reversed every other round; the table gives the median capacity
(min-max) and its ratio to fp32's median. A benchmark, not a test: nothing is asserted.

    .venv/bin/python scripts/bench_variants.py [--models mnist_cnn,sentiment] [--rounds 3] [--slo p99=50ms]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from harness.record.sysinfo import host_info
from harness.textfmt import fmt_num
from harness.triton.repository import BUNDLED_REPOSITORY

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("int8", "onnx", "onnx-int8", "bf16")


def harness(*args: object) -> None:
    result = subprocess.run([sys.executable, "-m", "harness.cli", *map(str, args)], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"harness {args[0]} failed: {result.stderr.strip().splitlines()[-1:]}")


def capacities(folder: Path) -> dict[str, float]:
    run = json.loads((folder / "run.json").read_text())
    return {c["model"]: c["capacity"]["max_rps_within_slo"] or 0.0 for c in run["curves"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnist_cnn,sentiment")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slo", default="p99=50ms")
    parser.add_argument("--window", default="1s")
    parser.add_argument("--out", default=str(ROOT / "results" / "bench-variants"))
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(BUNDLED_REPOSITORY, out / "repo")
    models = args.models.split(",")
    for model in models:
        harness("variants", "--model", model, "--model-repository", out / "repo", "--variants", ",".join(VARIANTS), "--force")
    measured: dict[str, dict[str, list[float]]] = {m: {} for m in models}
    for round_ in range(args.rounds):
        for model in models:
            names = [model] + [f"{model}_{v.replace('-', '_')}" for v in VARIANTS]
            order = names if round_ % 2 == 0 else names[::-1]
            folder = out / f"{model}-round{round_}"
            harness(
                "sweep", "--model-repository", out / "repo", "--model", ",".join(order), "--instances", "cpu:1",
                "--concurrency", "auto", "--slo", args.slo, "--warmup", "1s", "--window", args.window,
                "--workers", "1", "--output", folder,
            )  # fmt: skip
            for name, rps in capacities(folder).items():
                measured[model].setdefault(name, []).append(rps)
    print(table(out / "repo", measured, args))


def table(repository: Path, measured: dict[str, dict[str, list[float]]], args: argparse.Namespace) -> str:
    host = host_info()
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {host.get('cpu_model')} ({host.get('cores')} cores, "
        f"{host.get('memory_gb')} GB), tritonserver and the load generator on the same cores; one CPU instance of one "
        f"thread per variant, SLO {args.slo}, median of {args.rounds} rounds (min-max), curve order reversed every "
        "other round. Command: `.venv/bin/python scripts/bench_variants.py "
        f"--models {args.models} --rounds {args.rounds} --slo {args.slo}`.",
        "",
        "| model | variant | capacity req/s | vs fp32 | top-1 agreement | max abs diff |",
        "|---|---|---|---|---|---|",
    ]
    for model, runs in measured.items():
        base = statistics.median(runs[model])
        for name, values in runs.items():
            record = repository / name / "variant.json"
            agreement = json.loads(record.read_text()) if record.is_file() else None
            median = statistics.median(values)
            lines.append(
                f"| {model} | {agreement['variant'] if agreement else 'fp32'} | {fmt_num(median)} "
                f"({fmt_num(min(values))}-{fmt_num(max(values))}) | {median / base:.2f}x | "
                f"{'-' if agreement is None else format(agreement['top1'], '.4f')} | "
                f"{'-' if agreement is None else format(agreement['max_abs_diff'], '.3g')} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
