"""Queueing theory next to what `harness sweep` measures on fixed_delay (one instance), with 1, 2 and 4 workers.

Starts its own tritonserver on the bundled repository and runs real sweeps (`harness sweep --url`), one per
case and worker count. The service time S is measured on the server (Triton's compute_infer per request at
that level), so every theory column uses the server's own figure:
  closed loop, concurrency C:   X = 1/S, mean latency = C*S
  constant arrivals, rho < 1:   latency ~ S (no queueing; Triton's queue time ~ 0), merged arrivals CV 0
  Poisson arrivals at rho:      mean latency = S + rho*S / (2*(1 - rho))  (M/D/1), merged arrivals CV 1
A benchmark, not a test: nothing is asserted (tests/sweep/test_queueing.py asserts the same with tolerances).

    .venv/bin/python scripts/bench_queueing.py [--workers 1,2,4] [--window 2] [--rho 0.3,0.5,0.7]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.textfmt import fmt_num, text_table
from harness.triton.repository import BUNDLED_REPOSITORY
from harness.triton.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
NOMINAL_S_MS = 10.0  # fixed_delay's delay_ms: only to choose the offered rates; theory uses the measured S


def sweep(url: str, folder: Path, workers: int, window_s: float, *args: str) -> list[dict[str, Any]]:
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "sweep",
        "--url",
        url,
        "--model",
        "fixed_delay",
        "--instances",
        "cpu:1",
        "--workers",
        str(workers),
        "--warmup",
        "1s",
        "--window",
        f"{window_s:g}s",
        "--max-windows",
        "3",
        "--stability",
        "99%",
        "--output",
        str(folder),
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise SystemExit(f"sweep failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads((folder / "run.json").read_text())["curves"][0]["levels"]


def row(case: str, workers: int, level: dict[str, Any]) -> list[str]:
    s = level["server_us"]["compute_infer"] / 1000.0
    latency = level["latency_ms"]
    if level["mode"] == "concurrency":
        c = level["concurrency"]
        theory_x, theory_lat, kind = 1000.0 / s, c * s, "mean"
    else:
        rho = level["achieved_rps"] * s / 1000.0
        theory_x = level["offered_rps"]
        if case.startswith("poisson"):
            theory_lat, kind = s + rho * s / (2 * (1 - rho)) if rho < 1 else float("inf"), "mean"
        else:
            theory_lat, kind = s, "p50"
    measured_lat = latency["mean"] if kind == "mean" else latency["p50"]
    return [
        case,
        str(workers),
        fmt_num(s),
        fmt_num(theory_x),
        fmt_num(level["achieved_rps"]),
        kind,
        fmt_num(theory_lat),
        fmt_num(measured_lat),
        f"{measured_lat / theory_lat:.2f}",
        fmt_num(level["server_us"]["queue"] / 1000.0),
        fmt_num(level.get("arrivals_cv")),
        ",".join(level["flags"]) or "-",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts (default 1,2,4)")
    parser.add_argument("--window", type=float, default=2.0, help="seconds per measurement window (default 2)")
    parser.add_argument("--rho", default="0.3,0.5,0.7", help="Poisson utilisations (default 0.3,0.5,0.7)")
    args = parser.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]
    rhos = [float(r) for r in args.rho.split(",")]
    rows: list[list[str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-queueing-") as tmp,
        LocalServer(BUNDLED_REPOSITORY, Path(tmp) / "triton.log") as server,
    ):
        url, base = server.endpoints.grpc_url, Path(tmp)
        for workers in worker_counts:
            cases: list[tuple[str, tuple[str, ...]]] = [
                ("closed C=1,4", ("--concurrency", "1,4")),
                ("constant rho=0.5", ("--rate", f"{0.5 * 1000 / NOMINAL_S_MS:g}", "--arrivals", "constant")),
                *(
                    (f"poisson rho={rho:g}", ("--rate", f"{rho * 1000 / NOMINAL_S_MS:g}", "--arrivals", "poisson"))
                    for rho in rhos
                ),
            ]
            for case, flags in cases:
                folder = base / f"{workers}-{len(rows)}"
                for level in sweep(url, folder, workers, args.window, *flags):
                    label = f"closed C={level['concurrency']}" if level["mode"] == "concurrency" else case
                    rows.append(row(label, workers, level))
                    print("  " + " | ".join(rows[-1]), flush=True)
    print("\nfixed_delay, one instance: theory (from the server-measured S) next to the sweep's figures")
    print(
        text_table(
            [
                "case",
                "workers",
                "S ms",
                "X theory",
                "X measured",
                "latency",
                "theory ms",
                "measured ms",
                "ratio",
                "queue ms",
                "arrivals CV",
                "flags",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
