"""Why an open-loop request costs the compiled engine more CPU than a closed-loop one: its wake-ups per request.

The compiled engine alone (no Locust), driven over its frame protocol against our own tritonserver (mnist_cnn, one
CPU instance), in three modes at comparable rates: open loop with constant arrivals (its sender thread at real-time
priority, the default), the same under the ordinary policy (HARNESS_SENDER_POLICY=normal), and closed loop with
1 and 2 lanes; beside them perf_analyzer's request-rate mode (`--async`, its whole run: start-up included). Per
request: latency p50/p99, the engine's process CPU and its context switches, voluntary (a thread went to sleep: one per wake-up)
and involuntary (a thread was preempted), summed over its threads from /proc. Alternated rounds, medians.

    python scripts/bench_engine_wakeups.py [--rates 1000,2000] [--lanes 1,2] [--duration 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import perf_analyzer  # noqa: E402  (scripts/perf_analyzer.py)
from bench_load_generator import OPEN_MODEL, served  # noqa: E402

from harness.errors import LoadError  # noqa: E402
from harness.load.engine.link import EngineLink  # noqa: E402
from harness.load.engine.protocol import Schedule  # noqa: E402
from harness.load.histogram import LatencyHistogram  # noqa: E402
from harness.textfmt import fmt_num, text_table  # noqa: E402
from harness.triton.control import make_inputs  # noqa: E402
from harness.triton.request import serialize_request  # noqa: E402

Figures = dict[str, float]
KEYS = ("rps", "p50_ms", "p99_ms", "cpu_us", "voluntary", "involuntary")
TICKS = os.sysconf("SC_CLK_TCK")


def process_counters(pid: int) -> tuple[float, int, int]:
    """A process's CPU seconds (all threads) and its threads' voluntary and involuntary context switches."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    voluntary = involuntary = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                involuntary += int(line.split()[1])
    return cpu, voluntary, involuntary


def engine_run(url: str, payload: bytes, start: Callable[[EngineLink], None], duration_s: float) -> Figures:
    """The engine alone under one load (`start`): per-request CPU and context switches over `duration_s` after a
    one-second warm-up."""
    link = EngineLink(url, payload, 30.0)
    pid = link.pid or 0
    hist = LatencyHistogram()
    try:
        start(link)
        requests, began, before = 0, None, None
        while (batch := link.read()) is not None:
            now = time.monotonic()
            if began is None and batch.latencies_us:
                began, before = now + 1.0, None
            if began is not None and now >= began:
                if before is None:
                    before, requests = process_counters(pid), 0
                else:
                    requests += len(batch.latencies_us)
                    for micros in batch.latencies_us:
                        hist.record_micros(micros)
                if now >= began + duration_s:
                    break
        after = process_counters(pid)
        link.stop()
    finally:
        link.close()
    assert before is not None and requests
    latency = hist.summary()
    counted = per_request(after[0] - before[0], after[1] - before[1], after[2] - before[2], requests, duration_s)
    return {**counted, "p50_ms": latency.p50, "p99_ms": latency.p99}


def per_request(cpu_s: float, voluntary: int, involuntary: int, requests: int, wall_s: float) -> Figures:
    return {
        "rps": requests / wall_s,
        "cpu_us": 1e6 * cpu_s / requests,
        "voluntary": voluntary / requests,
        "involuntary": involuntary / requests,
    }


def open_loop(rate: float) -> Callable[[EngineLink], None]:
    return lambda link: link.schedule(Schedule(1, rate, "constant", 1, 1000))


def closed_loop(lanes: int) -> Callable[[EngineLink], None]:
    def start(link: EngineLink) -> None:
        link.set_lanes(lanes)

    return start


def perf_run(url: str, rate: float) -> Figures:
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    try:
        result = perf_analyzer.run(url, OPEN_MODEL, 0, measurement_ms=2000, request_rate=rate, max_trials=6)
    except LoadError as exc:
        print(f"  perf_analyzer at {rate:g} req/s: not measured ({exc})", flush=True)
        return dict.fromkeys(KEYS, float("nan"))
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - started
    requests = result["rps"] * wall
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    counted = per_request(cpu_s, after.ru_nvcsw - before.ru_nvcsw, after.ru_nivcsw - before.ru_nivcsw, requests, wall)
    return {**counted, "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"]}


def with_policy(policy: str, run: Callable[[], Figures]) -> Figures:
    """`run` with the engine's sender policy set."""
    saved = os.environ.pop("HARNESS_SENDER_POLICY", None)
    os.environ["HARNESS_SENDER_POLICY"] = policy
    try:
        return run()
    finally:
        os.environ.pop("HARNESS_SENDER_POLICY", None)
        if saved is not None:
            os.environ["HARNESS_SENDER_POLICY"] = saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1000,2000", help="open-loop constant rates, req/s")
    parser.add_argument("--lanes", default="1,2", help="closed-loop lanes")
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per run (after 1 s warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    lanes = [int(n) for n in args.lanes.split(",")]
    runs: dict[str, list[Figures]] = {}
    with served("wakeups-", OPEN_MODEL, 1) as (_, server, control):
        url = server.endpoints.grpc_url
        payload = serialize_request(OPEN_MODEL, make_inputs(control.model_spec(OPEN_MODEL), 1, 0))
        jobs: dict[str, Callable[[], Figures]] = {}
        for rate in rates:
            jobs[f"engine open loop {rate:g}/s"] = lambda r=rate: engine_run(url, payload, open_loop(r), args.duration)
            jobs[f"engine open loop {rate:g}/s, ordinary sender"] = lambda r=rate: with_policy(
                "normal", lambda: engine_run(url, payload, open_loop(r), args.duration)
            )
            jobs[f"perf_analyzer open loop {rate:g}/s"] = lambda r=rate: perf_run(url, r)
        for count in lanes:
            jobs[f"engine closed loop, {count} lane(s)"] = lambda n=count: engine_run(
                url, payload, closed_loop(n), args.duration
            )
        names = list(jobs)
        for index in range(args.rounds):
            for name in names[index % len(names) :] + names[: index % len(names)]:
                figures = jobs[name]()
                runs.setdefault(name, []).append(figures)
                print(f"  round {index + 1} {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()), flush=True)
    header = ("load", "req/s", "p50 ms", "p99 ms", "CPU us/req", "voluntary switches/req", "involuntary switches/req")
    rows = [(name, *(fmt_num(statistics.median(r[key] for r in rs)) for key in KEYS)) for name, rs in runs.items()]
    print(f"\n{OPEN_MODEL} (1 CPU instance); medians of {args.rounds} alternated rounds; {time.strftime('%Y-%m-%d')}")
    print(text_table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
