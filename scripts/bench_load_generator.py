"""How much load can our Locust load generator produce, and at what client CPU, next to perf_analyzer?

Starts its own tritonserver on the bundled repository, loads `identity` (the cheapest request) with 2 CPU
instances, and runs closed-loop levels of 1, 4, 16 and 64 users: Locust in 1 process, then master + 2 workers,
then perf_analyzer (C++, Triton's own tool) at the same concurrency when it can run. Exact percentiles and
per-process CPU come from --latency-file; Locust's --json-file gives the measured span.

    .venv/bin/python scripts/bench_load_generator.py [--levels 1,4,16,64] [--duration 8] [--no-perf-analyzer]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import perf_analyzer

from harness.errors import HarnessError
from harness.load.engine.compiled import engine_name
from harness.net import LOOPBACK, free_port
from harness.record.model import InstanceGroup
from harness.textfmt import fmt_num, text_table
from harness.triton.control import ControlClient
from harness.triton.repository import BUNDLED_REPOSITORY
from harness.triton.server import LocalServer
from harness.triton.variants import Variant, load_variant

MODEL = "identity"
LOCUSTFILE = Path(__file__).resolve().parent.parent / "loadtests" / "triton_grpc.py"
LOCUST = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]


def locust_level(url: str, users: int, workers: int, duration_s: int, folder: Path) -> dict[str, Any]:
    """One closed-loop level: 1 process (workers=0) or a master with `workers` worker processes."""
    folder.mkdir(parents=True)
    common = ["--triton-url", url, "--model", MODEL, "--latency-file", str(folder / "lat.json")]
    master = [*LOCUST, "--headless", "-u", str(users), "-r", str(min(users * 4, 100)), "-t", f"{duration_s}s",
              "--json-file", str(folder / "locust"), *common]
    children = []
    if workers:
        port = free_port()
        master += ["--master", "--expect-workers", str(workers), "--master-bind-host", LOOPBACK,
                   "--master-bind-port", str(port)]
        worker = [*LOCUST, "--worker", "--master-host", LOOPBACK, "--master-port", str(port), *common]
        children = [subprocess.Popen(worker, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    for _ in range(workers)]
    try:
        with open(folder / "locust.log", "wb") as log:
            subprocess.run(master, stdout=log, stderr=subprocess.STDOUT, timeout=duration_s + 90, check=False)
        for child in children:
            child.wait(timeout=30)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
    doc = json.loads((folder / "lat.json").read_text())
    stats = json.loads((folder / "locust.json").read_text())[0]
    span = stats["last_request_timestamp"] - stats["start_time"]
    return {"rps": doc["requests"] / span, "p50_ms": doc["latency_ms"]["p50"], "p99_ms": doc["latency_ms"]["p99"],
            "cpu": "+".join(f"{w['cpu_percent']:.0f}" for w in doc["workers"].values()),
            "failures": doc["failures"]}


def perf_level(url: str, users: int) -> dict[str, Any]:
    """perf_analyzer at one concurrency; its CPU is the children's CPU time over the call's wall time."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    result = perf_analyzer.run(url, MODEL, users)
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - started
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / wall * 100.0
    return {**result, "cpu": f"{cpu:.0f}", "failures": 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,4,16,64", help="closed-loop users / concurrency levels")
    parser.add_argument("--duration", type=int, default=8, help="seconds per Locust level (default 8)")
    parser.add_argument("--no-perf-analyzer", action="store_true", help="Locust only")
    args = parser.parse_args()
    levels = [int(part) for part in args.levels.split(",")]
    generators = {"locust 1 process": 0, "locust master+2 workers": 2}
    results: dict[tuple[int, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, \
            LocalServer(BUNDLED_REPOSITORY, Path(tmp) / "triton.log") as server:
        url = server.endpoints.grpc_url
        with ControlClient(url) as control:
            load_variant(control, MODEL, Variant(InstanceGroup("CPU", 2)))
        for name, workers in generators.items():
            for users in levels:
                results[users, name] = locust_level(url, users, workers, args.duration, Path(tmp) / f"{workers}-{users}")
                print(f"  {name}, {users} users: {results[users, name]['rps']:.0f} req/s", flush=True)
        if not args.no_perf_analyzer:
            try:
                print(f"perf_analyzer: {perf_analyzer.find_or_install()}; load engine: {engine_name()}", flush=True)
                for users in levels:
                    results[users, "perf_analyzer"] = perf_level(url, users)
                    print(f"  perf_analyzer, concurrency {users}: {results[users, 'perf_analyzer']['rps']:.0f} req/s",
                          flush=True)
            except HarnessError as exc:
                print(f"perf_analyzer skipped: {exc}", flush=True)
    rows = [[str(users), name, fmt_num(r["rps"]), fmt_num(r["p50_ms"]), fmt_num(r["p99_ms"]), r["cpu"],
             str(r["failures"])] for (users, name), r in sorted(results.items(), key=lambda item: item[0][0])]
    print(f"\n{MODEL} (2 CPU instances), closed loop; client CPU % per load-generating process (100 = one core)")
    print(text_table(["users", "generator", "req/s", "p50 ms", "p99 ms", "client CPU %", "failures"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
