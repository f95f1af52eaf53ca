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

5. Open loop against perf_analyzer (`--tables open`): on mnist_cnn with one CPU instance, `harness sweep --url` at
   constant rates (--open-rates, one worker), perf_analyzer's request-rate mode (`--request-rate-range R:R`) at the
   same rates, and the harness's closed loop (--open-closed-levels) for its CPU per request at the same rate
   (interpolated between its levels), alternated for --open-rounds rounds on one server. Per rate: p50, p99,
   client-added latency (client mean - Triton's mean request time), generator CPU per request (the harness: its
   worker with its engine over the counted windows; perf_analyzer: its process over its run, start-up included),
   the share of sends late (the harness: > 2 ms behind schedule) or delayed (perf_analyzer's own warning), the
   harness's send lag p99 and arrivals CV; medians (min-max), then the targets of issue 21. docs/benchmarks.md
   quotes it.
6. HTTP/REST (`--tables http`): identity at --cost-concurrency over KServe v2 HTTP: the harness's compiled engine
   (--protocol http) against `perf_analyzer -i http` on the same server, the harness over gRPC for reference,
   --rounds alternated rounds: throughput, p99, client CPU per request (docs/benchmarks.md).

The load generators share this machine's cores with tritonserver: on a small machine the figures are the
client's and the server's together (the tables say how many cores).

    .venv/bin/python scripts/bench_load_generator.py [--tables levels,cost,workers,jitter] [--levels 1,4,16,64]
        [--duration 8] [--no-perf-analyzer] [--cost-concurrency 16] [--rounds 3] [--cost-duration 10]
        [--workers 1,2,4] [--workers-concurrency 16] [--ramp 1000,2000,4000,6000,8000] [--jitter-rounds 5]
        [--jitter-duration 8] [--no-cost] [--no-levels] [--input-data PATH]
        [--open-rates 500,1000,2000,4000] [--open-rounds 3] [--open-closed-levels 1,2,4,8] [--open-baseline DIR]
        [--open-results FILE] [--open-python] [--open-ordinary]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import perf_analyzer

from harness.errors import HarnessError, LoadError
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


@contextlib.contextmanager
def served(prefix: str, model: str = MODEL, instances: int = 2) -> Iterator[tuple[Path, LocalServer, ControlClient]]:
    """A temporary folder and our own tritonserver serving `model` on `instances` CPU instances, with its control
    client: what every table measures against."""
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as tmp,
        LocalServer(BUNDLED_REPOSITORY, Path(tmp) / "triton.log") as server,
        ControlClient(server.endpoints.grpc_url) as control,
    ):
        load_variant(control, model, Variant(InstanceGroup("CPU", instances)))
        yield Path(tmp), server, control


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
    parser.add_argument(
        "--open-rates", default="500,1000,2000,4000", help="open table: constant rates, req/s (default 500,1000,2000,4000)"
    )
    parser.add_argument("--open-rounds", type=int, default=3, help="alternated rounds of the open table (default 3)")
    parser.add_argument(
        "--open-results",
        metavar="FILE",
        help="open table: add this run's rounds to the ones saved in FILE, and print the table over all of them",
    )
    parser.add_argument("--open-python", action="store_true", help="open table: also the harness on its Python engine")
    parser.add_argument(
        "--open-ordinary",
        action="store_true",
        help="open table: also the harness with its sender under the ordinary policy (HARNESS_SENDER_POLICY=normal)",
    )
    parser.add_argument(
        "--open-baseline", metavar="DIR", help="open table: also the harness of this checkout (before/after, same rounds)"
    )
    parser.add_argument(
        "--open-closed-levels",
        default="1,2,4,8",
        help="open table: the closed-loop levels its CPU is read at (default 1,2,4,8)",
    )
    args = parser.parse_args()
    left_out = {"cost"} if args.no_cost else set()
    left_out |= {"levels"} if args.no_levels else set()
    tables = [t.strip() for t in args.tables.split(",") if t.strip() and t.strip() not in left_out]
    print(f"machine: {os.cpu_count()} cores, shared by tritonserver and the load generators", flush=True)
    for table in tables:
        tables_by_name = {
            "levels": levels_table,
            "cost": cost_table,
            "workers": workers_table,
            "jitter": jitter_table,
            "open": open_table,
            "http": http_table,
        }
        tables_by_name[table](args)
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
    with served("bench-cost-") as (tmp, server, control):
        url = server.endpoints.grpc_url
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
    return {
        "rps": doc["requests"] / span,
        "cpu_us": 1e6 * cpu_s / doc["requests"],
        "mean_ms": doc["latency_ms"]["mean"],
        "p99_ms": doc["latency_ms"]["p99"],
    }


def cost_perf_run(url: str, concurrency: int, duration_s: int, protocol: str = "grpc") -> dict[str, float]:
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    result = perf_analyzer.run(url, MODEL, concurrency, measurement_ms=duration_s * 1000 // 3, protocol=protocol)
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - started
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {
        "rps": result["rps"],
        "cpu_us": 1e6 * cpu_s / (result["rps"] * wall),
        "mean_ms": result["avg_ms"],
        "p99_ms": result["p99_ms"],
    }


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


# --- HTTP/REST: the compiled engine over KServe v2 HTTP against perf_analyzer -i http, alternated ------------------


def http_table(args: argparse.Namespace) -> None:
    """identity on 2 CPU instances, closed loop at --cost-concurrency (16): one Locust process on the compiled engine
    over HTTP (--protocol http), perf_analyzer -i http on the same server, and the harness over gRPC for
    reference, in alternated rounds (--rounds); medians of throughput, p99 and client CPU per request.
    perf_analyzer's CPU is its process over its whole run (start-up and its stability trials included)."""
    runs: dict[str, list[dict[str, float]]] = {}
    concurrency, duration = args.cost_concurrency, args.cost_duration
    with served("bench-http-") as (tmp, server, control):
        grpc_url, http_url = server.endpoints.grpc_url, server.endpoints.http_url or ""
        generators: dict[str, Callable[[int], dict[str, float]]] = {
            "harness, http": lambda i: cost_locust_run(
                http_url, "native", concurrency, duration, tmp / f"http{i}", ("--protocol", "http")
            ),
            "harness, grpc": lambda i: cost_locust_run(grpc_url, "native", concurrency, duration, tmp / f"grpc{i}"),
        }
        if not args.no_perf_analyzer:
            try:
                perf_analyzer.find_or_install()
                generators["perf_analyzer -i http"] = lambda _: cost_perf_run(http_url, concurrency, duration, "http")
            except HarnessError as exc:
                print(f"perf_analyzer skipped: {exc}", flush=True)
        for index in range(args.rounds):
            for name, run in generators.items():
                try:
                    runs.setdefault(name, []).append(run(index))
                except (OSError, KeyError, ValueError, IndexError, LoadError) as exc:
                    print(f"  round {index + 1} {name}: no result ({exc})", flush=True)
                    continue
                print(
                    f"  round {index + 1} {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in runs[name][-1].items()), flush=True
                )
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items() if rs}
    print(
        f"\n{MODEL} (2 CPU instances), closed loop, concurrency {concurrency}, one load-generator process, "
        f"medians of {args.rounds} rounds"
    )
    keys = ("rps", "p99_ms", "cpu_us")
    rows = [[name, *(f"{m[k]:.3f}" for k in keys)] for name, m in med.items()]
    print(text_table(["generator", "req/s", "p99 ms", "client CPU us/req"], rows))
    ours, pa = med.get("harness, http"), med.get("perf_analyzer -i http")
    if ours and pa:
        ratio = ours["rps"] / pa["rps"]
        verdict = "met" if ratio >= 1 else "NOT met"
        print(f"harness http throughput {ratio:.2f}x perf_analyzer -i http's (target >= 1.00x: {verdict})")


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


def sweep_levels(
    server: LocalServer,
    workers: int,
    folder: Path,
    *flags: str,
    model: str = MODEL,
    checkout: Path = ROOT,
    engine: str = "auto",
    env: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """A short `harness sweep --url` on the running server: 1 s warm-up, three 2 s windows per level; the harness
    of `checkout` (another git worktree, for a before/after comparison) and the load engine `engine` where given."""
    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "sweep",
        "--url",
        server.endpoints.grpc_url,
        "--model",
        model,
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
    environment = {**os.environ, "PYTHONPATH": str(checkout), "HARNESS_LEAN_ENGINE": engine, **(env or {})}
    result = subprocess.run(command, capture_output=True, text=True, cwd=checkout, check=False, timeout=900, env=environment)
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
    with served("bench-jitter-") as (tmp, server, control):
        url = server.endpoints.grpc_url
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


# --- open loop against perf_analyzer's request-rate mode, mnist_cnn on one CPU instance --------------------------

OPEN_MODEL = "mnist_cnn"
OPEN_TARGETS = (1000.0, 2000.0)  # where the harness's p99 should be within 5 % of perf_analyzer's
Figures = dict[str, float]


def open_table(args: argparse.Namespace) -> None:
    rates = [float(part) for part in args.open_rates.split(",")]
    closed_levels = args.open_closed_levels
    saved = Path(args.open_results) if args.open_results else None
    runs = load_open_runs(saved)
    done = max((len(rs) for rs in runs.values()), default=0)  # rounds saved before: the rotation goes on from there
    with served("bench-open-", OPEN_MODEL, 1) as (tmp, server, control):
        url = server.endpoints.grpc_url
        generators: dict[str, Callable[[int], dict[float, Figures]]] = {
            "harness open loop": lambda index: harness_open_run(server, rates, Path(tmp) / f"open{index}"),
            "harness closed loop": lambda index: harness_closed_run(server, closed_levels, Path(tmp) / f"closed{index}"),
        }
        if args.open_python:
            generators[PYTHON] = lambda index: harness_open_run(server, rates, tmp / f"py{index}", engine="python")
        if args.open_ordinary:  # the compiled engine's sender thread under the ordinary policy
            generators[ORDINARY] = lambda index: harness_open_run(
                server, rates, tmp / f"ordinary{index}", env={"HARNESS_SENDER_POLICY": "normal"}
            )
        if args.open_baseline:  # the same sweep from another checkout (e.g. main), for before/after figures
            baseline = Path(args.open_baseline).resolve()
            generators[BASELINE] = lambda index: harness_open_run(server, rates, tmp / f"base{index}", baseline)
        if not args.no_perf_analyzer:
            try:
                perf_analyzer.find_or_install()
                generators["perf_analyzer"] = lambda _: {rate: perf_rate_run(control, url, rate) for rate in rates}
            except HarnessError as exc:
                print(f"perf_analyzer skipped: {exc}", flush=True)
        names = list(generators)
        for index in range(done, done + args.open_rounds):
            for name in names[index % len(names) :] + names[: index % len(names)]:  # the order rotates
                for rate, figures in generators[name](index).items():
                    runs.setdefault((name, rate), []).append(figures)
                    shown = ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
                    print(f"  round {index + 1} {name} {rate:g}: {shown}", flush=True)
                if saved is not None:  # after each generator: a crash later in the round loses nothing measured
                    save_open_runs(saved, runs)
    print_open(runs, rates)


def load_open_runs(path: Path | None) -> dict[tuple[str, float], list[Figures]]:
    """Rounds an earlier invocation saved (--open-results): rounds can be measured a few at a time."""
    if path is None or not path.is_file():
        return {}
    return {(row["generator"], row["rate"]): row["runs"] for row in json.loads(path.read_text())}


def save_open_runs(path: Path, runs: dict[tuple[str, float], list[Figures]]) -> None:
    rows = [{"generator": name, "rate": rate, "runs": rs} for (name, rate), rs in runs.items()]
    path.write_text(json.dumps(rows, indent=1, allow_nan=True))


def harness_open_run(
    server: LocalServer,
    rates: list[float],
    folder: Path,
    checkout: Path = ROOT,
    engine: str = "auto",
    env: dict[str, str] | None = None,
) -> dict[float, Figures]:
    """One `harness sweep --url` over the constant rates (one worker): its levels' figures by offered rate."""
    rate_list = ",".join(f"{r:g}" for r in rates)
    levels = sweep_levels(server, 1, folder, "--rate", rate_list, model=OPEN_MODEL, checkout=checkout, engine=engine, env=env)
    return {float(level["offered_rps"]): harness_figures(level) for level in levels}


def harness_closed_run(server: LocalServer, levels: str, folder: Path) -> dict[float, Figures]:
    """The closed loop's levels by concurrency (closed_cpu_at reads its CPU per request between their rates)."""
    measured = sweep_levels(server, 1, folder, "--concurrency", levels, model=OPEN_MODEL)
    return {float(level["concurrency"]): harness_figures(level) for level in measured}


def harness_figures(level: dict[str, Any]) -> Figures:
    latency, server_us = level["latency_ms"], level.get("server_us") or {}
    cpu = sum(worker["cpu_percent"] for worker in level["workers"])
    lag = level.get("send_lag_us") or {}
    return {
        "rps": level["achieved_rps"],
        "p50_ms": latency["p50"],
        "p99_ms": latency["p99"],
        "added_ms": latency["mean"] - server_us.get("request", float("nan")) / 1000.0,
        "cpu_us": 1e6 * cpu / 100.0 / level["achieved_rps"] if level["achieved_rps"] else float("nan"),
        "late_share": level.get("late_sends", 0) / level["requests"] if level["requests"] else float("nan"),
        "lag_p99_us": lag.get("p99", float("nan")),
        "cv": level.get("arrivals_cv") if level.get("arrivals_cv") is not None else float("nan"),
    }


def perf_rate_run(control: ControlClient, url: str, rate: float) -> Figures:
    """perf_analyzer at one constant request rate: its stable windows' latency, its CPU over the whole run."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    stats = control.statistics(OPEN_MODEL)
    try:
        result = perf_analyzer.run(url, OPEN_MODEL, 0, measurement_ms=2000, request_rate=rate, max_trials=6)
    except LoadError as exc:  # past the server's capacity its windows never agree: that rate is not measured
        print(f"  perf_analyzer at {rate:g} req/s: not measured ({exc})", flush=True)
        return dict.fromkeys(OPEN_KEYS, float("nan"))
    times, _ = server_delta(stats, control.statistics(OPEN_MODEL))
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - started
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    server_ms = times.request / 1000.0 if times else float("nan")
    return {
        "rps": result["rps"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "added_ms": result["avg_ms"] - server_ms,
        "cpu_us": 1e6 * cpu_s / (result["rps"] * wall),
        "late_share": result["delayed_share"],
        "lag_p99_us": float("nan"),
        "cv": float("nan"),
    }


def closed_cpu_at(runs: dict[tuple[str, float], list[Figures]], rate: float) -> float:
    """The closed loop's CPU per request at `rate`, interpolated between its levels' medians (nan outside them)."""
    points = sorted(
        (statistics.median(r["rps"] for r in rs), statistics.median(r["cpu_us"] for r in rs))
        for (name, _), rs in runs.items()
        if name == "harness closed loop"
    )
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if x0 <= rate <= x1:
            return y0 + (y1 - y0) * (rate - x0) / (x1 - x0)
    return float("nan")


BASELINE = "harness open loop, baseline checkout"
PYTHON = "harness open loop, Python engine"
ORDINARY = "harness open loop, ordinary sender"
OPEN_KEYS = ("rps", "p50_ms", "p99_ms", "added_ms", "cpu_us", "late_share", "lag_p99_us", "cv")


def print_open(runs: dict[tuple[str, float], list[Figures]], rates: list[float]) -> None:
    def spread(rs: list[Figures], key: str) -> str:
        values = [r[key] for r in rs if r[key] == r[key]]  # nan: not measured
        if not values:
            return "-"
        middle, low, high = statistics.median(values), min(values), max(values)
        return f"{fmt_num(middle)} ({fmt_num(low)}-{fmt_num(high)})"

    rounds = max((len(rs) for rs in runs.values()), default=0)
    print(
        f"\n{OPEN_MODEL} (1 CPU instance), open loop, constant arrivals, one load-generator process; median (min-max) "
        f"of {rounds} alternated rounds; {os.cpu_count()} cores shared with tritonserver; {time.strftime('%Y-%m-%d')}"
    )
    headers = ["rate", "generator", "req/s", "p50 ms", "p99 ms", "client-added ms", "CPU us/req"]
    headers += ["late/delayed", "send lag p99 us", "arrivals CV"]
    rows = []
    for rate in rates:
        for name in ("harness open loop", ORDINARY, BASELINE, PYTHON, "perf_analyzer"):
            if rs := runs.get((name, rate)):
                rows.append([fmt_num(rate), name, *(spread(rs, key) for key in OPEN_KEYS)])
        closed = closed_cpu_at(runs, rate)
        rows.append([fmt_num(rate), "harness closed loop (interpolated)", "", "", "", "", fmt_num(closed), "", "", ""])
    print(text_table(headers, rows))
    print(text_table(["rate", "target", "measured", "met"], open_targets(runs, rates)))


def open_targets(runs: dict[tuple[str, float], list[Figures]], rates: list[float]) -> list[list[str]]:
    """Issue 21's targets, each measured against the medians."""

    def median(name: str, rate: float, key: str) -> float:
        values = [r[key] for r in runs.get((name, rate), []) if r[key] == r[key]]
        return statistics.median(values) if values else float("nan")

    rows = []
    for rate in rates:
        ours = functools.partial(median, "harness open loop", rate)
        pa = functools.partial(median, "perf_analyzer", rate)
        closed = closed_cpu_at(runs, rate)
        checks = [
            ("CPU/req <= closed loop's", ours("cpu_us") / closed, ours("cpu_us") <= closed),
            ("CPU/req < perf_analyzer's", ours("cpu_us") / pa("cpu_us"), ours("cpu_us") < pa("cpu_us")),
        ]
        if rate in OPEN_TARGETS:
            checks.append(
                ("p99 <= 1.05x perf_analyzer's", ours("p99_ms") / pa("p99_ms"), ours("p99_ms") <= 1.05 * pa("p99_ms"))
            )
        if rate == 1000.0:
            added = ours("added_ms") - pa("added_ms")
            rows.append([fmt_num(rate), "client-added <= perf_analyzer's", f"{added:+.3f} ms", "yes" if added <= 0 else "NO"])
        if rate == 2000.0:
            rows.append([fmt_num(rate), "arrivals CV <= 0.1", fmt_num(ours("cv")), "yes" if ours("cv") <= 0.1 else "NO"])
            lag = ours("lag_p99_us")
            rows.append([fmt_num(rate), "send lag p99 < 200 us", fmt_num(lag), "yes" if lag < 200 else "NO"])
        rows += [
            [fmt_num(rate), what, f"{ratio:.2f}x", "yes" if met else "NO"]
            for what, ratio, met in checks
            if ratio == ratio  # nan: a side not measured at this rate (e.g. no closed-loop level spans it)
        ]
    return rows


if __name__ == "__main__":
    sys.exit(main())
