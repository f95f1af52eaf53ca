#!/usr/bin/env python3
"""The load generator against perf_analyzer on the cheapest model, for issue 6's targets.

identity with 2 CPU instances, closed loop at concurrency 16, ONE Locust process (the harness's TritonUser,
its lean engine included) and perf_analyzer, alternated against the same server for --rounds rounds.
Per run: requests/s, client CPU per request, client mean latency, Triton's own mean request time over the
run (statistics API) and the client-added latency (client mean - Triton mean). Prints the medians and the
ratios against the targets: CPU/request <= 1.2x perf_analyzer's, throughput >= 0.9x, client-added latency
<= perf_analyzer's + 0.3 ms. A benchmark, not a test: nothing here is asserted.

    .venv/bin/python scripts/bench_lean.py [--concurrency 16] [--duration 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import perf_analyzer  # noqa: E402

from harness.load.engine.compiled import engine_name  # noqa: E402
from harness.record.model import InstanceGroup  # noqa: E402
from harness.sweep.rules import server_delta  # noqa: E402
from harness.textfmt import text_table  # noqa: E402
from harness.triton.control import ControlClient  # noqa: E402
from harness.triton.repository import BUNDLED_REPOSITORY  # noqa: E402
from harness.triton.server import LocalServer  # noqa: E402
from harness.triton.variants import Variant, load_variant  # noqa: E402

MODEL = "identity"


def locust_run(url: str, concurrency: int, duration_s: int, folder: Path) -> dict[str, float]:
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "triton_grpc.py"), "--headless",
               "-u", str(concurrency), "-r", str(concurrency), "-t", f"{duration_s}s", "--triton-url", url,
               "--model", MODEL, "--latency-file", str(folder / "lat.json"), "--json-file", str(folder / "locust"),
               "--only-summary"]
    subprocess.run(command, capture_output=True, timeout=duration_s + 90, check=False)
    doc = json.loads((folder / "lat.json").read_text())
    stats = json.loads((folder / "locust.json").read_text())[0]
    span = stats["last_request_timestamp"] - stats["start_time"]
    worker = next(iter(doc["workers"].values()))
    cpu_s = worker["cpu_percent"] / 100.0 * span  # this process and its engine, during the test only
    return {"rps": doc["requests"] / span, "cpu_us": 1e6 * cpu_s / doc["requests"], "mean_ms": doc["latency_ms"]["mean"]}


def perf_analyzer_run(url: str, concurrency: int, duration_s: int) -> dict[str, float]:
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    result = perf_analyzer.run(url, MODEL, concurrency, measurement_ms=duration_s * 1000 // 3)
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - started
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"rps": result["rps"], "cpu_us": 1e6 * cpu_s / (result["rps"] * wall), "mean_ms": result["avg_ms"]}


def measured(control: ControlClient, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    """A run plus Triton's mean request time over it, and the latency the client added on top."""
    before = control.statistics(MODEL)
    figures = run()
    times, _ = server_delta(before, control.statistics(MODEL))
    server_ms = times.request / 1000.0 if times else float("nan")
    return {**figures, "server_ms": server_ms, "added_ms": figures["mean_ms"] - server_ms}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"locust (harness)": [], "perf_analyzer": []}
    with tempfile.TemporaryDirectory(prefix="bench-lean-") as tmp, \
            LocalServer(BUNDLED_REPOSITORY, Path(tmp) / "triton.log") as server, \
            ControlClient(server.endpoints.grpc_url) as control:
        url = server.endpoints.grpc_url
        load_variant(control, MODEL, Variant(InstanceGroup("CPU", 2)))
        print(f"perf_analyzer: {perf_analyzer.find_or_install()}; load engine: {engine_name()}", flush=True)
        for index in range(args.rounds):
            for name, run in (("locust (harness)", lambda index=index: locust_run(url, args.concurrency, args.duration,
                                                                       Path(tmp) / f"l{index}")),
                              ("perf_analyzer", lambda: perf_analyzer_run(url, args.concurrency, args.duration))):
                runs[name].append(measured(control, run))
                print(f"  round {index + 1} {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in runs[name][-1].items()),
                      flush=True)
    report(runs, args.concurrency)
    return 0


def report(runs: dict[str, list[dict[str, float]]], concurrency: int) -> None:
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    keys = ("rps", "cpu_us", "mean_ms", "server_ms", "added_ms")
    print(f"\n{MODEL} (2 CPU instances), closed loop, concurrency {concurrency}, one load-generator process, "
          f"medians of {len(next(iter(runs.values())))} runs")
    print(text_table(["generator", "req/s", "client CPU us/req", "client mean ms", "Triton mean ms",
                      "client-added ms"], [[name, *(f"{m[k]:.3f}" for k in keys)] for name, m in med.items()]))
    ours, pa = med["locust (harness)"], med["perf_analyzer"]
    checks: list[tuple[str, float, str, bool]] = [
        ("client CPU per request", ours["cpu_us"] / pa["cpu_us"], "<= 1.2x", ours["cpu_us"] <= 1.2 * pa["cpu_us"]),
        ("throughput", ours["rps"] / pa["rps"], ">= 0.9x", ours["rps"] >= 0.9 * pa["rps"]),
        ("client-added latency", ours["added_ms"] - pa["added_ms"], "<= +0.3 ms",
         ours["added_ms"] <= pa["added_ms"] + 0.3),
    ]
    print(text_table(["target", "measured (ours vs perf_analyzer)", "target", "met"],
                     [[name, f"{value:.2f}{'x' if 'ms' not in goal else ' ms'}", goal, "yes" if ok else "NO"]
                      for name, value, goal, ok in checks]))


if __name__ == "__main__":
    sys.exit(main())
