#!/usr/bin/env python3
"""Soak: `harness sweep` held at half of capacity for minutes, closed loop then open loop, with two workers.

Nothing else in the project runs for minutes; this checks what only time shows:
- memory: the sweep's master process and each worker (with its engine child) grow by less than 10 % between the
  level's second minute and its last (the first minute fills pools and histograms);
- nothing lost: the requests the client counted equal Triton's own success count over the same run, less only
  the requests still in flight when the level stopped (their results are dropped, never cancelled);
- no errors: no failed request, no lost worker, no level check failed (harness.sweep.checks).

The server is fixed_delay with a known service time (delay_ms, default 4 ms) and four instances: capacity is
instances / S (1,000 req/s), confirmed by a short saturated closed-loop probe before the soak. Half of it is
offered as closed-loop users, one per two instances (concurrency instances/2, one per worker), and as an
open-loop constant rate.
Starts its own tritonserver on a copy of the bundled fixed_delay. A benchmark, not a test; exit status 1 when a
criterion fails. Figures go to results/soak/ (JSON) and the terminal.

    .venv/bin/python scripts/soak.py [--minutes 10] [--delay-ms 4] [--instances 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from harness.triton.control import ControlClient
from harness.triton.repository import BUNDLED_REPOSITORY
from harness.triton.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
MODEL = "fixed_delay"
GROWTH_LIMIT = 0.10
SAMPLE_S = 5.0
SETTLE_S = 60.0  # memory before this far into the level is the start-up's, not the soak's (a fifth of shorter ones)


@dataclass
class Phase:
    name: str
    load: list[str]  # the sweep's load flags
    offered_rps: float
    level: dict[str, Any] | None = None
    triton_successes: int = 0
    master_mb: tuple[float, float] = (0.0, 0.0)  # median RSS in the level's second minute, and in its last
    workers_mb: tuple[tuple[float, float], ...] = ()
    problems: tuple[str, ...] = ()
    samples: dict[str, list[float]] | None = None  # every RSS sample (MB) by seconds into the level, for the record


def repository_with_delay(target: Path, delay_ms: float, instances: int) -> Path:
    """A repository holding only fixed_delay, its delay and instance count set. The sweeps measure it as deployed:
    a variant load would reset Triton's statistics, and the soak compares its counts over every phase."""
    shutil.copytree(BUNDLED_REPOSITORY / MODEL, target / MODEL)
    config = target / MODEL / "config.pbtxt"
    text = re.sub(r'(key: "delay_ms" value: \{ string_value: )"[^"]*"', rf'\1"{delay_ms:g}"', config.read_text())
    text = re.sub(r"(instance_group \[ \{ kind: KIND_CPU count: )\d+", rf"\g<1>{instances}", text)
    config.write_text(text)
    return target


def sweep_command(url: str, folder: Path, args: argparse.Namespace, load: list[str], window_s: float) -> list[str]:
    """One level of 3 windows, every one counted (any spread is stable at 99 %): the whole level is measured."""
    flags = {
        "--url": url,
        "--model": MODEL,
        "--workers": str(args.workers),
        "--warmup": "0s",
        "--window": f"{window_s:g}s",
        "--max-windows": "3",
        "--stability": "99%",
        "--output": str(folder),
    }
    return [sys.executable, "-m", "harness.cli", "sweep", *(word for pair in flags.items() for word in pair), *load]


def tree_rss_mb(process: psutil.Process) -> float:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def watch(sweep: subprocess.Popen[bytes]) -> tuple[list[float], list[float], dict[int, list[float]]]:
    """RSS samples every SAMPLE_S while the level runs: times, the master's own, each worker tree's (by PID).
    The level runs from the moment a worker has started its engine child."""
    master = psutil.Process(sweep.pid)
    times: list[float] = []
    master_mb: list[float] = []
    workers: dict[int, list[float]] = {}
    started: float | None = None
    while sweep.poll() is None:
        try:
            children = [p for p in master.children() if "--worker" in p.cmdline()]
            if started is None and any(p.children() for p in children):
                started = time.monotonic()
            if started is not None:
                times.append(time.monotonic() - started)
                master_mb.append(master.memory_info().rss / 2**20)
                for worker in children:
                    workers.setdefault(worker.pid, []).append(tree_rss_mb(worker))
        except psutil.Error:
            pass  # the sweep is ending
        time.sleep(SAMPLE_S)
    return times, master_mb, workers


def start_and_end(times: list[float], values: list[float], settle_s: float) -> tuple[float, float]:
    """Median RSS over the level's second minute and over its last minute (for a short level: fifths)."""
    end = times[-1] if times else 0.0
    first = [v for t, v in zip(times, values, strict=False) if settle_s <= t < 2 * settle_s]
    last = [v for t, v in zip(times, values, strict=False) if t >= end - settle_s]
    return (round(statistics.median(first), 1), round(statistics.median(last), 1)) if first and last else (0.0, 0.0)


def run_phase(phase: Phase, url: str, args: argparse.Namespace, out: Path) -> Phase:
    window_s = args.minutes * 60.0 / 3
    folder = out / phase.name
    with ControlClient(url) as control:
        before = control.statistics(MODEL).success_count
    command = sweep_command(url, folder, args, phase.load, window_s)
    print(f"\n{phase.name}: {' '.join(command[2:])}", flush=True)
    with open(out / f"{phase.name}.log", "wb") as log:
        sweep = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        times, master_mb, workers = watch(sweep)
    with ControlClient(url) as control:
        phase.triton_successes = control.statistics(MODEL).success_count - before
    run = json.loads((folder / "run.json").read_text())
    (phase.level,) = run["curves"][0]["levels"]
    settle_s = min(SETTLE_S, args.minutes * 60.0 / 5)
    phase.master_mb = start_and_end(times, master_mb, settle_s)
    phase.workers_mb = tuple(start_and_end(times[-len(v) :], v, settle_s) for v in workers.values())
    phase.problems = judge(phase, sweep.returncode)
    phase.samples = {"s": [round(t, 1) for t in times], "master": master_mb}
    phase.samples |= {f"worker {i}": v for i, v in enumerate(workers.values())}
    return phase


def judge(phase: Phase, code: int) -> tuple[str, ...]:
    level = phase.level or {}
    problems = [] if code == 0 else [f"the sweep exited with {code}"]
    if level.get("failures") or level.get("first_error"):
        problems.append(f"{level.get('failures')} failed requests: {level.get('first_error')}")
    if level.get("inconsistent") or "worker-lost" in level.get("flags", []):
        problems.append(f"flags {level.get('flags')}, failed checks {level.get('inconsistent')}")
    for name, (start, end) in [("master", phase.master_mb), *((f"worker {i}", w) for i, w in enumerate(phase.workers_mb))]:
        if not start or (end - start) / start >= GROWTH_LIMIT:
            problems.append(f"{name} memory {start} -> {end} MB")
    lost = phase.triton_successes - (level.get("requests", 0) - level.get("failures", 0))
    if not 0 <= lost <= in_flight_bound(phase):
        problems.append(f"client counted {level.get('requests')}, Triton {phase.triton_successes}")
    return tuple(problems)


def in_flight_bound(phase: Phase) -> int:
    """What Triton may count beyond the client: requests in flight at the level's start and stop (closed loop:
    its users; open loop: rate x latency), and those served in the moment between a statistics call and the
    level's first or last window (a second's worth at most)."""
    level = phase.level or {}
    users = level.get("concurrency") or level.get("achieved_rps", 0) * level["latency_ms"]["mean"] / 1000.0
    return int(2 * users + level.get("achieved_rps", 0) * 1.0) + 2


def capacity_rps(url: str, args: argparse.Namespace, out: Path) -> float:
    """A short saturated closed loop (two users per instance): the sustained throughput is the capacity."""
    folder = out / "capacity"
    load = ["--concurrency", str(2 * args.instances)]
    command = sweep_command(url, folder, args, load, 5.0)
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=600)
    (level,) = json.loads((folder / "run.json").read_text())["curves"][0]["levels"]
    return float(level["achieved_rps"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of each phase (default 10)")
    parser.add_argument("--delay-ms", type=float, default=4.0, help="fixed_delay's service time (default 4)")
    parser.add_argument("--instances", type=int, default=4, help="server instances (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="Locust workers (default 2)")
    args = parser.parse_args()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / "results" / "soak" / f"soak-{socket.gethostname()}-{stamp}"
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        repository = repository_with_delay(Path(tmp) / "repository", args.delay_ms, args.instances)
        with LocalServer(repository, out / "triton.log") as server:
            url = server.endpoints.grpc_url
            with ControlClient(url) as control:
                control.load(MODEL)
            capacity = capacity_rps(url, args, out)
            half = round(capacity / 2, 1)
            print(f"capacity {capacity:.0f} req/s (theory {1000 * args.instances / args.delay_ms:.0f}); soak at {half}")
            phases = [
                Phase("closed", ["--concurrency", str(max(1, args.instances // 2))], half),
                Phase("open", ["--rate", f"{half:g}", "--arrivals", "constant"], half),
            ]
            for phase in phases:
                run_phase(phase, url, args, out)
    report = {"command": " ".join(sys.argv), "date": stamp, "host": socket.gethostname(), "capacity_rps": capacity}
    report["phases"] = [{**asdict(p), "level": _brief(p.level)} for p in phases]
    (out / "soak.json").write_text(json.dumps(report, indent=2))
    for p in phases:
        level = p.level or {}
        print(
            f"{p.name:>6}: {level.get('achieved_rps')} req/s, client {level.get('requests')} requests "
            f"({level.get('failures')} failed), Triton {p.triton_successes} (bound {in_flight_bound(p)}); master "
            f"{p.master_mb[0]} -> {p.master_mb[1]} MB; workers {list(p.workers_mb)} MB; "
            f"{'OK' if not p.problems else 'FAILED: ' + '; '.join(p.problems)}"
        )
    print(f"saved: {out / 'soak.json'}")
    return 1 if any(p.problems for p in phases) else 0


def _brief(level: dict[str, Any] | None) -> dict[str, Any]:
    keys = ("concurrency", "offered_rps", "achieved_rps", "requests", "failures", "flags", "inconsistent", "arrivals_cv")
    return {k: (level or {}).get(k) for k in keys} | {"p99_ms": (level or {}).get("latency_ms", {}).get("p99")}


if __name__ == "__main__":
    sys.exit(main())
