"""How much load can our Locust load generator produce, and at what client CPU, next to perf_analyzer?

Starts its own tritonserver on the bundled repository, loads `identity` (the cheapest request) with 2 CPU
instances, and prints the tables asked for (--tables). A benchmark, not a test: nothing here is asserted;
the README quotes its output.

1. Levels: closed-loop levels of 1, 4, 16 and 64 users: Locust in 1 process, then master + 2 workers, then
   perf_analyzer (C++, Triton's own tool) at the same concurrency when it can run. Exact percentiles and
   per-process CPU come from --latency-file; Locust's --json-file gives the measured span.
2. Cost per request: ONE Locust process on each load engine (compiled, Python) and perf_analyzer, alternated
   against the same server at --cost-concurrency for --rounds rounds. Per run: requests/s, client CPU per
   request, client mean latency, Triton's own mean request time over the run (statistics API) and the
   client-added latency (client mean - Triton mean); the medians, and the ratios against the targets:
   CPU/request <= 1.2x perf_analyzer's, throughput >= 0.9x, client-added latency <= perf_analyzer's + 0.3 ms.
   With --input-data PATH (entries for identity's INPUT0, e.g. perf_analyzer's JSON) each engine also runs
   sending PATH's entries in turn: real data should cost no more client CPU per request than one request.
3. Workers (`--tables workers`): `harness sweep --url` on the same server with 1, 2 and 4 Locust workers:
   closed loop at --workers-concurrency users (total req/s, generator CPU per request = every worker process
   with its engine, merged exact p50/p99), then an open-loop rate ramp (--ramp) per worker count: late sends
   (> 2 ms behind schedule), max send lag and drops per rate, and the highest rate sent on time (at most
   0.1 % of sends late, none dropped, achieved >= 95 % of offered). The master (the sweep process) sends
   nothing; its CPU is not counted.
4. Jitter at one user (`--tables jitter`): the compiled engine alone (driven over its frame protocol from this
   process, no Locust), perf_analyzer and the full Locust path (one process, one user), interleaved for
   --jitter-rounds rounds on the same server: exact p50/p99 per run, the medians and spread, and the harness
   against perf_analyzer (target: within 5 %).

The load generators share this machine's cores with tritonserver: on a small machine the figures are the
client's and the server's together (the tables say how many cores).

    .venv/bin/python scripts/bench_load_generator.py [--tables levels,cost,workers,jitter] [--levels 1,4,16,64]
        [--duration 8] [--no-perf-analyzer] [--cost-concurrency 16] [--rounds 3] [--cost-duration 10]
        [--workers 1,2,4] [--workers-concurrency 16] [--ramp 1000,2000,4000,6000,8000] [--jitter-rounds 5]
        [--jitter-duration 8] [--no-cost] [--no-levels] [--input-data PATH]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import perf_analyzer

from harness.errors import HarnessError
from harness.load.engine.compiled import engine_name
from harness.load.engine.link import EngineLink
from harness.load.histogram import LatencyHistogram
from harness.net import LOOPBACK, free_port
from harness.record.model import InstanceGroup
from harness.sweep.rules import server_delta
from harness.textfmt import fmt_num, text_table
from harness.triton.control import ControlClient, make_inputs
from harness.triton.repository import BUNDLED_REPOSITORY
from harness.triton.request import serialize_request
from harness.triton.server import LocalServer
from harness.triton.variants import Variant, load_variant

MODEL = "identity"
LOCUSTFILE = Path(__file__).resolve().parent.parent / "loadtests" / "triton_grpc.py"
LOCUST = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]


def locust_level(url: str, users: int, workers: int, duration_s: int, folder: Path) -> dict[str, Any]:
    """One closed-loop level: 1 process (workers=0) or a master with `workers` worker processes."""
    folder.mkdir(parents=True)
    common = ["--triton-url", url, "--model", MODEL, "--latency-file", str(folder / "lat.json")]
    master = [
        *LOCUST,
        "--headless",
        "-u",
        str(users),
        "-r",
        str(min(users * 4, 100)),
        "-t",
        f"{duration_s}s",
        "--json-file",
        str(folder / "locust"),
        *common,
    ]
    children = []
    if workers:
        port = free_port()
        master += [
            "--master",
            "--expect-workers",
            str(workers),
            "--master-bind-host",
            LOOPBACK,
            "--master-bind-port",
            str(port),
        ]
        worker = [*LOCUST, "--worker", "--master-host", LOOPBACK, "--master-port", str(port), *common]
        children = [subprocess.Popen(worker, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
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
    return {
        "rps": doc["requests"] / span,
        "p50_ms": doc["latency_ms"]["p50"],
        "p99_ms": doc["latency_ms"]["p99"],
        "cpu": "+".join(f"{w['cpu_percent']:.0f}" for w in doc["workers"].values()),
        "failures": doc["failures"],
    }


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
    parser.add_argument("--cost-concurrency", type=int, default=16, help="concurrency of the cost table (default 16)")
    parser.add_argument("--cost-duration", type=int, default=10, help="seconds per cost run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds of the cost table (default 3)")
    parser.add_argument("--no-cost", action="store_true", help="leave out the cost table")
    parser.add_argument("--no-levels", action="store_true", help="leave out the levels table")
    parser.add_argument(
        "--input-data", metavar="PATH", help="cost table: each engine also sends these entries in turn (identity's INPUT0)"
    )
    parser.add_argument(
        "--tables",
        default="levels,cost,workers,jitter",
        help="which tables, in this order (default levels,cost,workers,jitter)",
    )
    parser.add_argument("--workers", default="1,2,4", help="worker counts of the workers table (default 1,2,4)")
    parser.add_argument(
        "--workers-concurrency", type=int, default=16, help="closed-loop users of the workers table (default 16)"
    )
    parser.add_argument(
        "--ramp",
        default="1000,2000,4000,6000,8000",
        help="open-loop rates (req/s) of the workers table's ramp (default 1000,2000,4000,6000,8000)",
    )
    parser.add_argument("--jitter-rounds", type=int, default=5, help="interleaved rounds of the jitter table")
    parser.add_argument("--jitter-duration", type=int, default=8, help="seconds per jitter run (default 8)")
    args = parser.parse_args()
    left_out = {"cost"} if args.no_cost else set()
    left_out |= {"levels"} if args.no_levels else set()
    tables = [t.strip() for t in args.tables.split(",") if t.strip() and t.strip() not in left_out]
    print(f"machine: {os.cpu_count()} cores, shared by tritonserver and the load generators", flush=True)
    for table in tables:
        {"levels": levels_table, "cost": cost_table, "workers": workers_table, "jitter": jitter_table}[table](args)
    return 0


def levels_table(args: argparse.Namespace) -> None:
    levels = [int(part) for part in args.levels.split(",")]
    generators = {"locust 1 process": 0, "locust master+2 workers": 2}
    results: dict[tuple[int, str], dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-load-") as tmp,
        LocalServer(BUNDLED_REPOSITORY, Path(tmp) / "triton.log") as server,
    ):
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
                    print(
                        f"  perf_analyzer, concurrency {users}: {results[users, 'perf_analyzer']['rps']:.0f} req/s", flush=True
                    )
            except HarnessError as exc:
                print(f"perf_analyzer skipped: {exc}", flush=True)
    rows = [
        [str(users), name, fmt_num(r["rps"]), fmt_num(r["p50_ms"]), fmt_num(r["p99_ms"]), r["cpu"], str(r["failures"])]
        for (users, name), r in sorted(results.items(), key=lambda item: item[0][0])
    ]
    print(f"\n{MODEL} (2 CPU instances), closed loop; client CPU % per load-generating process (100 = one core)")
    print(text_table(["users", "generator", "req/s", "p50 ms", "p99 ms", "client CPU %", "failures"], rows))


# --- cost per request: one process per engine against perf_analyzer, alternated ------------------------------------

ENGINES = {"locust, compiled engine": "native", "locust, Python engine": "python"}


def cost_table(args: argparse.Namespace) -> None:
    runs: dict[str, list[dict[str, float]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp,
        LocalServer(BUNDLED_REPOSITORY, Path(tmp) / "triton.log") as server,
        ControlClient(server.endpoints.grpc_url) as control,
    ):
        url = server.endpoints.grpc_url
        load_variant(control, MODEL, Variant(InstanceGroup("CPU", 2)))
        generators: dict[str, Callable[[int], dict[str, float]]] = {
            name: (
                lambda index, engine=engine: cost_locust_run(
                    url, engine, args.cost_concurrency, args.cost_duration, Path(tmp) / f"{engine}{index}"
                )
            )
            for name, engine in ENGINES.items()
        }
        if args.input_data:  # the same engines, sending --input-data's entries in turn
            data = ("--input-data", str(Path(args.input_data).resolve()))
            generators.update(
                {
                    f"{name}, --input-data": (
                        lambda index, engine=engine: cost_locust_run(
                            url, engine, args.cost_concurrency, args.cost_duration, Path(tmp) / f"{engine}-data{index}", data
                        )
                    )
                    for name, engine in ENGINES.items()
                }
            )
        if not args.no_perf_analyzer:
            try:
                perf_analyzer.find_or_install()
                generators["perf_analyzer"] = lambda _: cost_perf_run(url, args.cost_concurrency, args.cost_duration)
            except HarnessError as exc:
                print(f"perf_analyzer skipped: {exc}", flush=True)
        for index in range(args.rounds):
            for name, run in generators.items():
                try:
                    runs.setdefault(name, []).append(with_server_time(control, functools.partial(run, index)))
                except (OSError, KeyError, ValueError, IndexError) as exc:  # e.g. the compiled engine cannot build
                    print(f"  round {index + 1} {name}: no result ({exc})", flush=True)
                    continue
                print(
                    f"  round {index + 1} {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in runs[name][-1].items()), flush=True
                )
    print_cost(runs, args.cost_concurrency)


def cost_locust_run(
    url: str, engine: str, concurrency: int, duration_s: int, folder: Path, extra: tuple[str, ...] = ()
) -> dict[str, float]:
    """One headless Locust process on `engine` (HARNESS_LEAN_ENGINE), its CPU with its engine's during the test."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        *LOCUST,
        "--headless",
        "-u",
        str(concurrency),
        "-r",
        str(concurrency),
        "-t",
        f"{duration_s}s",
        "--triton-url",
        url,
        "--model",
        MODEL,
        "--latency-file",
        str(folder / "lat.json"),
        "--json-file",
        str(folder / "locust"),
        "--only-summary",
        *extra,
    ]
    subprocess.run(
        command, capture_output=True, timeout=duration_s + 90, check=False, env={**os.environ, "HARNESS_LEAN_ENGINE": engine}
    )
    doc = json.loads((folder / "lat.json").read_text())
    stats = json.loads((folder / "locust.json").read_text())[0]
    span = stats["last_request_timestamp"] - stats["start_time"]
    worker = next(iter(doc["workers"].values()))
    cpu_s = worker["cpu_percent"] / 100.0 * span
    return {"rps": doc["requests"] / span, "cpu_us": 1e6 * cpu_s / doc["requests"], "mean_ms": doc["latency_ms"]["mean"]}


def cost_perf_run(url: str, concurrency: int, duration_s: int) -> dict[str, float]:
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    result = perf_analyzer.run(url, MODEL, concurrency, measurement_ms=duration_s * 1000 // 3)
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - started
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"rps": result["rps"], "cpu_us": 1e6 * cpu_s / (result["rps"] * wall), "mean_ms": result["avg_ms"]}


def with_server_time(control: ControlClient, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    """A run plus Triton's mean request time over it, and the latency the client added on top."""
    before = control.statistics(MODEL)
    figures = run()
    times, _ = server_delta(before, control.statistics(MODEL))
    server_ms = times.request / 1000.0 if times else float("nan")
    return {**figures, "server_ms": server_ms, "added_ms": figures["mean_ms"] - server_ms}


def print_cost(runs: dict[str, list[dict[str, float]]], concurrency: int) -> None:
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items() if rs}
    if not med:
        return
    keys = ("rps", "cpu_us", "mean_ms", "server_ms", "added_ms")
    print(
        f"\n{MODEL} (2 CPU instances), closed loop, concurrency {concurrency}, one load-generator process, "
        f"medians of {max(len(rs) for rs in runs.values())} runs"
    )
    print(
        text_table(
            ["generator", "req/s", "client CPU us/req", "client mean ms", "Triton mean ms", "client-added ms"],
            [[name, *(f"{m[k]:.3f}" for k in keys)] for name, m in med.items()],
        )
    )
    pa = med.get("perf_analyzer")
    if pa is None:
        return
    rows = []
    for name in ENGINES:
        ours = med.get(name)
        if ours is None:
            continue
        rows += [
            [
                name,
                "client CPU per request",
                f"{ours['cpu_us'] / pa['cpu_us']:.2f}x",
                "<= 1.2x",
                "yes" if ours["cpu_us"] <= 1.2 * pa["cpu_us"] else "NO",
            ],
            [
                name,
                "throughput",
                f"{ours['rps'] / pa['rps']:.2f}x",
                ">= 0.9x",
                "yes" if ours["rps"] >= 0.9 * pa["rps"] else "NO",
            ],
            [
                name,
                "client-added latency",
                f"{ours['added_ms'] - pa['added_ms']:+.2f} ms",
                "<= +0.3 ms",
                "yes" if ours["added_ms"] <= pa["added_ms"] + 0.3 else "NO",
            ],
        ]
    print(text_table(["generator", "against perf_analyzer", "measured", "target", "met"], rows))


# --- workers: harness sweep with 1, 2, 4 Locust workers, closed loop and an open-loop rate ramp --------------------

ROOT = Path(__file__).resolve().parent.parent
# An open-loop level is sent on time when it reached this share of the offered rate, dropped nothing, and at most
# LATE_SHARE of its sends left late (> 2 ms behind schedule: on a small shared machine a rare scheduler hiccup does that).
ON_TIME_SHARE = 0.95
LATE_SHARE = 0.001


def workers_table(args: argparse.Namespace) -> None:
    counts = [int(part) for part in args.workers.split(",")]
    closed: list[list[str]] = []
    ramp: list[list[str]] = []
    best: dict[int, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp,
        LocalServer(BUNDLED_REPOSITORY, Path(tmp) / "triton.log") as server,
    ):
        url = server.endpoints.grpc_url
        with ControlClient(url) as control:
            load_variant(control, MODEL, Variant(InstanceGroup("CPU", 2)))
        for workers in counts:
            folder = Path(tmp) / f"closed-{workers}"
            for level in sweep_levels(server, workers, folder, "--concurrency", str(args.workers_concurrency)):
                closed.append([str(workers), str(level["concurrency"]), *generator_figures(level)])
                print("  closed: " + " | ".join(closed[-1]), flush=True)
            folder = Path(tmp) / f"ramp-{workers}"
            for level in sweep_levels(server, workers, folder, "--rate", args.ramp, "--arrivals", "constant"):
                on_time = (
                    level["late_sends"] <= LATE_SHARE * level["requests"]
                    and level["dropped"] == 0
                    and level["achieved_rps"] >= ON_TIME_SHARE * level["offered_rps"]
                )
                if on_time:
                    best[workers] = max(best.get(workers, 0.0), level["offered_rps"])
                ramp.append(
                    [
                        str(workers),
                        fmt_num(level["offered_rps"]),
                        *generator_figures(level),
                        str(level["late_sends"]),
                        fmt_num(level["max_send_lag_ms"]),
                        str(level["dropped"]),
                        "yes" if on_time else "no",
                    ]
                )
                print("  ramp: " + " | ".join(ramp[-1]), flush=True)
    cores = f"{os.cpu_count()} cores shared with tritonserver"
    print(
        f"\n{MODEL} (2 CPU instances), harness sweep, closed loop; generator CPU = all workers with their engines "
        f"per request ({cores})"
    )
    print(text_table(["workers", "users", "req/s", "generator CPU us/req", "generator CPU %", "p50 ms", "p99 ms"], closed))
    print(
        f"\n{MODEL}, open loop (constant arrivals, one sender per worker): late = sent > 2 ms behind schedule; "
        f"on time = <= {LATE_SHARE:.1%} late, none dropped, >= {ON_TIME_SHARE:.0%} of the offered rate"
    )
    print(
        text_table(
            [
                "workers",
                "offered req/s",
                "req/s",
                "generator CPU us/req",
                "generator CPU %",
                "p50 ms",
                "p99 ms",
                "late sends",
                "max lag ms",
                "dropped",
                "on time",
            ],
            ramp,
        )
    )
    print(
        text_table(
            ["workers", "highest rate sent on time (req/s)"],
            [[str(w), fmt_num(best[w]) if w in best else "none of the ramp"] for w in counts],
        )
    )


def sweep_levels(server: LocalServer, workers: int, folder: Path, *flags: str) -> list[dict[str, Any]]:
    """A short `harness sweep --url` on the running server: 1 s warm-up, three 2 s windows per level."""
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "sweep",
        "--url",
        server.endpoints.grpc_url,
        "--model",
        MODEL,
        "--workers",
        str(workers),
        "--warmup",
        "1s",
        "--window",
        "2s",
        "--max-windows",
        "3",
        "--stability",
        "99%",
        "--output",
        str(folder),
        *flags,
    ]
    if server.endpoints.metrics_url:
        command += ["--metrics-url", server.endpoints.metrics_url]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False, timeout=900)
    if not (folder / "run.json").is_file():
        raise SystemExit(f"sweep failed ({result.returncode}): {result.stderr.strip().splitlines()[-1:]}")
    return json.loads((folder / "run.json").read_text())["curves"][0]["levels"]


def generator_figures(level: dict[str, Any]) -> list[str]:
    """req/s, CPU per request and CPU % of every worker (its engine included), p50, p99 of one sweep level."""
    cpu = sum(worker["cpu_percent"] for worker in level["workers"])
    per_request_us = 1e6 * cpu / 100.0 / level["achieved_rps"] if level["achieved_rps"] else float("nan")
    shares = "+".join(f"{worker['cpu_percent']:.0f}" for worker in level["workers"])
    return [
        fmt_num(level["achieved_rps"]),
        fmt_num(per_request_us),
        shares,
        fmt_num(level["latency_ms"]["p50"]),
        fmt_num(level["latency_ms"]["p99"]),
    ]


# --- jitter at one user: the engine alone, perf_analyzer, the full Locust path -------------------------------------


def jitter_table(args: argparse.Namespace) -> None:
    runs: dict[str, list[dict[str, float]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-jitter-") as tmp,
        LocalServer(BUNDLED_REPOSITORY, Path(tmp) / "triton.log") as server,
        ControlClient(server.endpoints.grpc_url) as control,
    ):
        url = server.endpoints.grpc_url
        load_variant(control, MODEL, Variant(InstanceGroup("CPU", 2)))
        payload = serialize_request(MODEL, make_inputs(control.model_spec(MODEL), 1, 0))
        duration = args.jitter_duration
        generators: dict[str, Callable[[int], dict[str, float]]] = {
            "compiled engine alone": lambda _: engine_alone_run(url, payload, duration),
            "locust, 1 process, 1 user": lambda index: locust_run(url, 1, duration, Path(tmp) / f"locust{index}"),
        }
        if not args.no_perf_analyzer:
            try:
                perf_analyzer.find_or_install()
                generators["perf_analyzer"] = lambda _: perf_run(url, 1, duration)
            except HarnessError as exc:
                print(f"perf_analyzer skipped: {exc}", flush=True)
        names = list(generators)
        for index in range(args.jitter_rounds):
            for name in names[index % len(names) :] + names[: index % len(names)]:  # the order rotates
                runs.setdefault(name, []).append(with_server_time(control, functools.partial(generators[name], index)))
                print(
                    f"  round {index + 1} {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in runs[name][-1].items()), flush=True
                )
    print_jitter(runs)


def engine_alone_run(url: str, payload: bytes, duration_s: int, warmup_s: float = 1.0) -> dict[str, float]:
    """One lane of the compiled engine, its frames read here (no Locust, no gevent): the engine's own latency."""
    link = EngineLink(url, payload, 30.0)
    hist, requests, started = LatencyHistogram(), 0, time.monotonic()
    try:
        link.set_lanes(1)
        while (batch := link.read()) is not None:
            elapsed = time.monotonic() - started
            if elapsed >= warmup_s:
                for micros in batch.latencies_us:
                    hist.record_micros(micros)
                requests += len(batch.latencies_us)
            if elapsed >= warmup_s + duration_s:
                break
        link.stop()
    finally:
        link.close()
    latency = hist.summary()
    return {"rps": hist.count / duration_s, "p50_ms": latency.p50, "p99_ms": latency.p99, "mean_ms": latency.mean}


def locust_run(
    url: str, users: int, duration_s: int, folder: Path, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()
) -> dict[str, float]:
    """One headless Locust process, closed loop: exact p50/p99 from --latency-file."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        *LOCUST,
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{duration_s}s",
        "--triton-url",
        url,
        "--model",
        MODEL,
        "--latency-file",
        str(folder / "lat.json"),
        "--json-file",
        str(folder / "locust"),
        "--only-summary",
        *extra,
    ]
    subprocess.run(command, capture_output=True, timeout=duration_s + 90, check=False, env={**os.environ, **(env or {})})
    doc = json.loads((folder / "lat.json").read_text())
    stats = json.loads((folder / "locust.json").read_text())[0]
    span = stats["last_request_timestamp"] - stats["start_time"]
    latency = doc["latency_ms"]
    return {"rps": doc["requests"] / span, "p50_ms": latency["p50"], "p99_ms": latency["p99"], "mean_ms": latency["mean"]}


def perf_run(url: str, concurrency: int, duration_s: int) -> dict[str, float]:
    """perf_analyzer's stable windows (3 of duration/3 s each, at least)."""
    result = perf_analyzer.run(url, MODEL, concurrency, measurement_ms=duration_s * 1000 // 3)
    return {"rps": result["rps"], "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"], "mean_ms": result["avg_ms"]}


def print_jitter(runs: dict[str, list[dict[str, float]]]) -> None:
    if not runs:
        return
    keys = ("rps", "p50_ms", "p99_ms", "mean_ms", "server_ms", "added_ms")

    def spread(rs: list[dict[str, float]], key: str) -> str:
        values = [r[key] for r in rs]
        return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"

    print(
        f"\n{MODEL} (2 CPU instances), one request in flight; median (min-max) of "
        f"{max(len(rs) for rs in runs.values())} interleaved runs; {os.cpu_count()} cores shared with tritonserver"
    )
    print(
        text_table(
            ["generator", "req/s", "p50 ms", "p99 ms", "client mean ms", "Triton mean ms", "client-added ms"],
            [[name, *(spread(rs, k) for k in keys)] for name, rs in runs.items()],
        )
    )
    pa = runs.get("perf_analyzer")
    if not pa:
        return
    rows = []
    for name, rs in runs.items():
        if name == "perf_analyzer":
            continue
        for key in ("p50_ms", "p99_ms"):
            ratio = statistics.median(r[key] for r in rs) / statistics.median(r[key] for r in pa)
            rows.append([name, key[:3], f"{ratio:.3f}x", "<= 1.05x", "yes" if ratio <= 1.05 else "NO"])
    print(text_table(["generator", "against perf_analyzer", "measured", "target", "met"], rows))


if __name__ == "__main__":
    sys.exit(main())
