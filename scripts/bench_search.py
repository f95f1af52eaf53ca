#!/usr/bin/env python3
"""Time to an answer of the searches, and what each finds.

Default: `harness search --mode quick` vs `--mode brute` on one model, and the capacity each finds. Each mode runs
as the user would run it (its own tritonserver, the sweep's stability rules and capacity search), on the same
search space; the figures come from each run's `search` section.

--rate: `harness sweep --rate auto` from its closed-loop start probe, from 10x below and from 10x above the
capacity (`--rate-start`), against a `--rate` grid in 5 % steps around it, all on one server, the starts
alternated each round: what the start probe buys (probes, seconds) and where each start lands (median of rounds).
Run it under the heavy lock here:

    /work/wt/heavy .venv/bin/python scripts/bench_search.py [--model mnist_cnn] [--slo p99=50ms]
    /work/wt/heavy .venv/bin/python scripts/bench_search.py --rate --model fixed_delay --slo p99=60ms [--rounds 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.textfmt import fmt_num, text_table
from harness.triton.repository import BUNDLED_REPOSITORY
from harness.triton.server import LocalServer

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


RATE_LEVELS = ["--warmup", "1s", "--window", "1s", "--max-windows", "4", "--workers", "1"]
RATE_STARTS = (("closed-loop probe", None), ("10x below", 0.1), ("10x above", 10.0))  # share of the capacity
GRID_SHARES = (0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1)


def rate_sweep(url: str, args: argparse.Namespace, folder: Path, *flags: str) -> tuple[dict, float]:
    """One `harness sweep` on the shared server: its curve and its wall time (start probe included)."""
    started = time.monotonic()
    command = ["sweep", "--url", url, "--model", args.model, "--slo", args.slo, "--instances", args.instances]
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", *command, "--output", str(folder), *RATE_LEVELS, *flags],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise SystemExit(f"sweep {' '.join(flags)} failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads((folder / "run.json").read_text())["curves"][0], time.monotonic() - started


def rate_table(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="bench-rate-") as tmp,
        LocalServer(BUNDLED_REPOSITORY, Path(tmp) / "t.log") as server,
    ):
        url, folders = server.endpoints.grpc_url, (Path(tmp) / f"{i}" for i in itertools.count())
        reference = rate_sweep(url, args, next(folders), "--rate", "auto")[0]["capacity"]["max_rps_within_slo"]
        if not reference:
            raise SystemExit(f"--rate auto found no rate within {args.slo}; choose a looser --slo")
        grid = ",".join(f"{share * reference:.1f}" for share in GRID_SHARES)
        runs: dict[str, list[tuple[float, int, float]]] = {name: [] for name, _ in RATE_STARTS}
        grid_capacities = []
        for round_index in range(args.rounds):
            for name, share in RATE_STARTS[round_index:] + RATE_STARTS[:round_index]:  # alternated order
                start = ("--rate-start", f"{share * reference:.1f}") if share else ()
                curve, wall = rate_sweep(url, args, next(folders), "--rate", "auto", *start)
                runs[name].append((wall, len(curve["probes"]), curve["capacity"]["max_rps_within_slo"] or 0.0))
                print(f"  round {round_index + 1} {name}: {runs[name][-1]}", flush=True)
            grid_capacities.append(rate_sweep(url, args, next(folders), "--rate", grid)[0]["capacity"]["max_rps_within_slo"])
    on_grid = statistics.median(c or 0.0 for c in grid_capacities)
    print(f"\n{args.model} {args.instances}, {args.slo}: grid capacity {fmt_num(on_grid)} req/s (median of {args.rounds})")
    rows = [
        [
            name,
            fmt_num(statistics.median(wall for wall, _, _ in found)),
            fmt_num(statistics.median(probes for _, probes, _ in found)),
            fmt_num(statistics.median(rps for _, _, rps in found)),
            " ".join(f"{rps / on_grid:.2f}" for _, _, rps in found) if on_grid else "-",
        ]
        for name, found in runs.items()
    ]
    print(text_table(["start", "wall s", "probes", "capacity req/s", "found / grid, each round"], rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist_cnn")
    parser.add_argument("--slo", default="p99=50ms")
    parser.add_argument("--rate", action="store_true", help="the rate search's starts against a --rate grid instead")
    parser.add_argument("--instances", default="cpu:1", help="--rate: the instance group measured (default cpu:1)")
    parser.add_argument("--rounds", type=int, default=3, help="--rate: alternated rounds (default 3)")
    args = parser.parse_args()
    if args.rate:
        rate_table(args)
        return 0
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
