"""Multi-host for real: Triton, the sweep's master and two workers each on its own host (a network namespace).

The hosts reach each other only through a bridge (tests/helpers/netns.py), with their own addresses, so the
worker line the sweep prints must work from another machine, the master must listen on an address that is not
loopback, and a worker's cable can be pulled. Needs root; skipped with the reason elsewhere (failed in CI).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.load.clock import SKEW_ENV
from harness.record.model import Level
from harness.record.store import load_run
from harness.triton.repository import BUNDLED_REPOSITORY
from helpers.netns import Hosts, hosts, namespaces_unavailable, triton_in
from helpers.requirements import require_or_skip

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LOCUST_LATENCY_FILE": ""}
MASTER_PORT = "5557"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hosts, str]]:
    """Four hosts and Triton serving on the first; every namespace deleted however the module ends."""
    reason = namespaces_unavailable()
    if reason:
        require_or_skip(reason)
    log = tmp_path_factory.mktemp("netns") / "triton.log"
    with hosts(["triton", "master", "worker1", "worker2"]) as machines:
        with triton_in(machines, "triton", BUNDLED_REPOSITORY, log) as url:
            deadline = time.monotonic() + 60
            while "Started GRPCInferenceService" not in (log.read_text(errors="replace") if log.exists() else ""):
                assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
                time.sleep(0.2)
            yield machines, url


class Processes:
    """Everything a test starts inside the hosts, killed by PID at the end (before the namespaces go)."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env or ENV, stdout=out, stderr=subprocess.STDOUT)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture()
def processes() -> Iterator[Processes]:
    started = Processes()
    yield started
    started.stop_all()


def wait_for(log: Path, pattern: str, process: subprocess.Popen[bytes], timeout_s: float = 90) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    while not (match := re.search(pattern, log.read_text(errors="replace"), re.MULTILINE)):
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.1)
    return match


def start_sweep(
    machines: Hosts,
    url: str,
    folder: Path,
    levels: list[str],
    processes: Processes,
    log: Path,
    worker_env: dict[str, dict[str, str]] | None = None,
) -> subprocess.Popen[bytes]:
    """The sweep on the master host, then both workers on theirs, each from the line the sweep printed (with the
    environment `worker_env` gives its host, if any)."""
    sweep = processes.start(
        machines.exec(
            "master",
            sys.executable,
            "-m",
            "harness.cli",
            "sweep",
            "--model",
            "identity",
            "--instances",
            "cpu:1",
            "--url",
            url,
            "--expect-workers",
            "2",
            "--master-bind",
            machines.addresses["master"],
            "--master-port",
            MASTER_PORT,
            "--output",
            str(folder),
            *levels,
        ),
        log,
    )
    line = wait_for(log, r"^  (python3 -m harness.locustfile --worker .*)$", sweep).group(1)
    assert f"--master-host {machines.addresses['master']} --master-port {MASTER_PORT}" in line
    for name in ("worker1", "worker2"):
        words = shlex.split(line)
        env = (worker_env or {}).get(name)
        processes.start(machines.exec(name, sys.executable, *words[1:]), log.with_name(f"{name}.log"), env)
    return sweep


def triton_success_count(machines: Hosts, url: str) -> int:
    """Triton's own count, asked from the master's host (the test's host has no route to Triton)."""
    script = (
        "from harness.triton.control import ControlClient\n"
        f"with ControlClient({url!r}) as c: print(c.statistics('identity').success_count)"
    )
    result = subprocess.run(
        machines.exec("master", sys.executable, "-c", script),
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(result.stdout.strip())


def one_level(
    net: tuple[Hosts, str],
    load: list[str],
    tmp_path: Path,
    processes: Processes,
    worker_env: dict[str, dict[str, str]] | None = None,
) -> Level:
    """A one-level sweep across the hosts (3 windows of 1 s, every one counted): its level, free of failures."""
    machines, url = net
    folder, out = tmp_path / "run", tmp_path / "sweep.out"
    windows = ["--window", "1s", "--max-windows", "3", "--stability", "99%"]
    sweep = start_sweep(machines, url, folder, [*load, *windows], processes, out, worker_env)
    assert sweep.wait(timeout=120) == 0, out.read_text()[-3000:]
    (level,) = load_run(folder).curves[0].levels
    assert level.failures == 0 and level.flags.count("worker-lost") == 0
    return level


def test_a_sweep_across_hosts_counts_what_triton_served(net: tuple[Hosts, str], tmp_path: Path, processes: Processes) -> None:
    machines, url = net
    # One level, every window counted (3 windows, any spread is stable), no warm-up: what the level reports is
    # all Triton served except the last report of each worker, which arrives as the level stops.
    level = one_level(net, ["--concurrency", "2", "--warmup", "0s"], tmp_path, processes)
    served = triton_success_count(machines, url)
    assert 0.8 * served <= level.requests <= served, (level.requests, served)
    hosts_seen = sorted(w.host.rsplit("(", 1)[-1].rstrip(")") for w in level.workers)
    assert hosts_seen == sorted([machines.addresses["worker1"], machines.addresses["worker2"]])
    assert all(w.requests > 0 for w in level.workers) and sum(w.requests for w in level.workers) == level.requests


def test_an_open_loop_sweep_across_hosts_keeps_its_constant_arrivals_regular(
    net: tuple[Hosts, str], tmp_path: Path, processes: Processes
) -> None:
    """Open loop across two worker hosts, the second one's clock 7 ms ahead (the test-only skew: the namespaces
    share one kernel clock). The handshake measures both offsets; the merged constant arrivals stay regular."""
    machines, _ = net
    skewed = {"worker2": {**ENV, SKEW_ENV: "7"}}
    level = one_level(net, ["--rate", "40", "--arrivals", "constant", "--warmup", "0.5s"], tmp_path, processes, skewed)
    by_host = {w.host.rsplit("(", 1)[-1].rstrip(")"): w for w in level.workers}
    assert sorted(by_host) == sorted([machines.addresses["worker1"], machines.addresses["worker2"]])
    first, second = by_host[machines.addresses["worker1"]], by_host[machines.addresses["worker2"]]
    assert first.requests > 0 and second.requests > 0
    assert first.clock_offset_ms is not None and abs(first.clock_offset_ms) < 1.5, first
    assert second.clock_offset_ms is not None and abs(second.clock_offset_ms - 7) < 1.5, second
    assert level.arrivals_cv is not None and level.arrivals_cv <= 0.1, level.arrivals_cv


def test_a_worker_whose_link_goes_down_mid_level_flags_the_level_and_stops_the_sweep(
    net: tuple[Hosts, str], tmp_path: Path, processes: Processes
) -> None:
    machines, url = net
    folder, out = tmp_path / "run", tmp_path / "sweep.out"
    sweep = start_sweep(
        machines,
        url,
        folder,
        ["--concurrency", "2,4", "--warmup", "0.5s", "--window", "1s", "--max-windows", "8", "--stability", "0.01%"],
        processes,
        out,
    )
    wait_for(out, r"concurrency 2 \| window 1 ", sweep)
    machines.link_down("worker2")
    assert sweep.wait(timeout=120) == 5, out.read_text()[-3000:]
    text = out.read_text()
    assert re.search(
        rf"^WORKER LOST: worker .*\({re.escape(machines.addresses['worker2'])}\) pid \d+ missed its "
        r"heartbeats; 1 worker\(s\) left, fewer than the 2 expected remain",
        text,
        re.MULTILINE,
    ), text
    run = load_run(folder)
    assert run.metadata.complete is False
    (level,) = run.curves[0].levels
    assert "worker-lost" in level.flags and level.concurrency == 2
