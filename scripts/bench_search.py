#!/usr/bin/env python3
"""Time to an answer of `harness search --mode quick` vs `--mode brute` on one model, and the capacity each finds.

Each mode runs as the user would run it (its own tritonserver, the sweep's stability rules and capacity search),
on the same search space; the figures come from each run's `search` section. Run it under the heavy lock here:

    /work/wt/heavy .venv/bin/python scripts/bench_search.py [--model mnist_cnn] [--slo p99=50ms]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACE = ["--counts", "1,2", "--threads", "1,2", "--max-batch-sizes", "0,8", "--queue-delays-us", "off,500"]
QUICK_LEVELS = ["--warmup", "0.5s", "--window", "0.5s", "--max-windows", "4", "--max-concurrency", "8"]


def run_mode(model: str, slo: str, mode: str, folder: Path) -> dict:
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "search",
            "--model",
            model,
            "--slo",
            slo,
            "--mode",
            mode,
            "--output",
            str(folder),
            *SPACE,
            *QUICK_LEVELS,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise SystemExit(f"{mode} search failed: {result.stderr.strip().splitlines()[-1]}")
    search = json.loads((folder / "run.json").read_text())["search"]
    best = next((r for r in search["configurations"] if r["configuration"] == search["best_cpu"]), None)
    return {
        "mode": mode,
        "wall_s": time.monotonic() - started,
        "search_s": search["elapsed_s"],
        "measured": len(search["configurations"]),
        "best_cpu": search["best_cpu"],
        "capacity": best["capacity_rps"] if best else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist_cnn")
    parser.add_argument("--slo", default="p99=50ms")
    args = parser.parse_args()
    print(f"search space: {' '.join(SPACE)} (and gpu kinds); levels: {' '.join(QUICK_LEVELS)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        rows = [run_mode(args.model, args.slo, mode, Path(tmp) / mode) for mode in ("quick", "brute")]
    print(f"{'mode':<6} {'wall s':>7} {'search s':>9} {'configs':>8} {'best CPU':<18} {'capacity req/s':>15}")
    for r in rows:
        capacity = f"{r['capacity']:,.0f}" if r["capacity"] else "-"
        print(
            f"{r['mode']:<6} {r['wall_s']:>7.0f} {r['search_s']:>9.0f} {r['measured']:>8} {r['best_cpu'] or '-':<18} "
            f"{capacity:>15}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
