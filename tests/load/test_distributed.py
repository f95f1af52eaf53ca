"""A sweep as a Locust master: external workers join it, mismatched ones are refused, lost ones are never silent.

Real processes throughout: the `harness sweep` CLI, plain `locust --worker` processes started from the line the
sweep prints, the session's tritonserver. Losses are real SIGKILLs.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness import defaults
from harness.load.clock import SKEW_ENV
from harness.net import LOOPBACK, port_is_free
from harness.record.store import load_run
from harness.triton.server import free_port
from helpers.processes import HARNESS, command_lines
from helpers.requirements import require_or_skip

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "LOCUST_LATENCY_FILE": ""}  # workers leave no files in the repo
WORKER_ENV = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}  # as a user has it: the harness installed
WORKER_LINE = r"^  (python3 -m harness.locustfile --worker .*)$"
# Windows long enough that a heartbeat loss (Locust marks a worker missing after ~3-4 s) lands inside the level;
# a stability bound no level meets, so each level runs every window.
MODEL = ["--model", "identity", "--instances", "cpu:1"]
LEVEL = ["--warmup", "0.5s", "--window", "1s", "--max-windows", "8", "--stability", "0.01%"]
# A worker's exit is seen at once: 4 windows hold the kill and the level's end (the suite saves ~8 s).
SHORT_LEVEL = ["--warmup", "0.5s", "--window", "1s", "--max-windows", "4", "--stability", "0.01%"]


class Sweep:
    """`harness sweep` as a subprocess whose output is read as it comes."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen([*HARNESS, "sweep", *args], cwd=ROOT, env=ENV, stdout=out, stderr=subprocess.STDOUT)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout_s: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while not (match := re.search(pattern, self.output, re.MULTILINE)):
            assert self.process.poll() is None, f"sweep exited early:\n{self.output[-3000:]}"
            assert time.monotonic() < deadline, f"no {pattern!r} within {timeout_s}s:\n{self.output[-3000:]}"
            time.sleep(0.1)
        return match

    def finish(self, timeout_s: float = 120) -> int:
        return self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                child.kill()
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture()
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every process a test starts, killed by PID at the end whatever happened."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def start_worker(line: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A worker started exactly from the line the sweep printed (`python3 ...`, run with this Python), in a
    folder of its own: the line must not depend on the checkout being the working folder (nor on PYTHONPATH)."""
    words = shlex.split(line)
    assert words[0] == "python3"
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, *words[1:]], cwd=log.parent, env=env or WORKER_ENV, stdout=out, stderr=subprocess.STDOUT
        )


def worker_children(sweep: Sweep) -> list[psutil.Process]:
    return [
        p for p, line in command_lines(psutil.Process(sweep.process.pid).children(recursive=True)) if "--worker" in line.split()
    ]


def flags_in_report_table(folder: Path) -> list[str]:
    """The flags cell of each rendered level row (not the embedded JSON), found under its column header."""
    html = (folder / "report.html").read_text()
    for table in re.findall(r"<table[^>]*>(.*?)</table>", html, re.DOTALL):
        header = re.findall(r"<th[^>]*>([^<]*)</th>", table)
        if "flags" in header:
            rows = re.findall(r"<tr>((?:<td>[^<]*</td>)+)</tr>", table)
            return [re.findall(r"<td>([^<]*)</td>", row)[header.index("flags")] for row in rows]
    raise AssertionError("no level table with a flags column in the report")


def test_a_local_worker_killed_mid_level_flags_that_level_and_the_sweep_goes_on(triton_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    sweep = Sweep(
        [*MODEL, "--url", triton_url, "--concurrency", "2,2", "--workers", "2", *SHORT_LEVEL, "--output", str(folder)],
        tmp_path / "sweep.out",
    )
    try:
        sweep.wait_for(r"concurrency 2 \| window 1 ")
        victims = worker_children(sweep)
        assert len(victims) == 2
        victims[0].send_signal(signal.SIGKILL)
        assert sweep.finish() == 0, sweep.output[-3000:]
    finally:
        sweep.kill()
    assert re.search(
        r"^WORKER LOST: worker .* exited \(code -9\); 1 worker\(s\) left, continuing", sweep.output, re.MULTILINE
    ), sweep.output[-3000:]
    run = load_run(folder)
    first, second = run.curves[0].levels
    assert "worker-lost" in first.flags and "worker-lost" not in second.flags
    assert run.metadata.complete is True
    assert len(second.workers) == 1 and second.workers[0].requests == second.requests > 0
    assert second.workers[0].engine in ("native", "python")
    with open(folder / "levels.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert ["worker-lost" in row["flags"].split(";") for row in rows] == [True, False]
    assert ["worker-lost" in cell for cell in flags_in_report_table(folder)] == [True, False]


def test_external_workers_join_from_the_printed_line_and_a_lost_one_stops_the_sweep(
    triton_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    folder = tmp_path / "run"
    sweep = Sweep(
        [
            *MODEL,
            "--url",
            triton_url,
            "--concurrency",
            "2,4,4",
            *LEVEL,
            "--expect-workers",
            "2",
            "--master-port",
            str(free_port()),
            "--output",
            str(folder),
        ],
        tmp_path / "sweep.out",
    )
    try:
        line = sweep.wait_for(WORKER_LINE).group(1)
        assert "--model identity" in line
        processes += [start_worker(line, tmp_path / f"worker-{i}.log") for i in range(2)]
        sweep.wait_for(r"concurrency 4 \| window 1 ")
        processes[0].send_signal(signal.SIGKILL)  # no goodbye: only its missing heartbeats tell
        code = sweep.finish()
    finally:
        sweep.kill()
    assert code == 5, sweep.output[-3000:]
    last = sweep.output.strip().splitlines()[-1]
    assert re.fullmatch(
        r"harness sweep: error: only 1 of 2 Locust workers remain \(worker .* missed its "
        r"heartbeats\); the sweep stopped .*",
        last,
    ), last
    run = load_run(folder)
    assert run.metadata.complete is False
    first, second = run.curves[0].levels  # the third level never started
    assert "worker-lost" not in first.flags and "worker-lost" in second.flags
    assert len(first.workers) == 2 and sum(w.requests for w in first.workers) == first.requests
    assert all(w.requests > 0 for w in first.workers)


def listening(process: psutil.Process) -> set[tuple[str, int]]:
    return {(c.laddr.ip, c.laddr.port) for c in process.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}


def test_the_sweep_master_listens_on_loopback_on_a_free_port_for_its_own_workers(triton_url: str, tmp_path: Path) -> None:
    sweep = Sweep(
        [*MODEL, "--url", triton_url, "--concurrency", "1", *SHORT_LEVEL, "--output", str(tmp_path / "run")],
        tmp_path / "sweep.out",
    )
    try:
        sweep.wait_for(r"concurrency 1 \| window 1 ")
        ((address, port),) = listening(psutil.Process(sweep.process.pid))
        (worker,) = [line for _, line in command_lines(worker_children(sweep))]
        assert sweep.finish() == 0, sweep.output[-3000:]
    finally:
        sweep.kill()
    assert address == LOOPBACK and port != defaults.MASTER_PORT_FOR_EXTERNAL_WORKERS
    assert f"--master-host {LOOPBACK} --master-port {port} " in worker


def test_the_sweep_master_listens_where_it_says_for_external_workers_who_join_from_any_folder(
    triton_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """--expect-workers with no address given: loopback, Locust's port; the printed line names both and works
    from a folder that is not the checkout."""
    if not port_is_free(defaults.MASTER_PORT_FOR_EXTERNAL_WORKERS):
        require_or_skip(
            f"port {defaults.MASTER_PORT_FOR_EXTERNAL_WORKERS} is taken by another program; the default cannot be tested"
        )
    folder = tmp_path / "run"
    args = [*MODEL, "--url", triton_url, "--concurrency", "1", *SHORT_LEVEL, "--expect-workers", "1"]
    args += ["--expect-workers-max-wait", "30s"]
    sweep = Sweep([*args, "--output", str(folder)], tmp_path / "sweep.out")
    try:
        line = sweep.wait_for(WORKER_LINE).group(1)
        assert listening(psutil.Process(sweep.process.pid)) == {(LOOPBACK, defaults.MASTER_PORT_FOR_EXTERNAL_WORKERS)}
        assert f" --master-host {LOOPBACK} --master-port {defaults.MASTER_PORT_FOR_EXTERNAL_WORKERS} " in line
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        processes.append(start_worker(line, elsewhere / "worker.log"))
        assert sweep.finish() == 0, sweep.output[-3000:]
    finally:
        sweep.kill()
    (level,) = load_run(folder).curves[0].levels
    assert level.requests > 0 and [w.requests for w in level.workers] == [level.requests]


def test_a_worker_whose_clock_runs_7ms_ahead_keeps_the_merged_constant_arrivals_regular(
    triton_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Two workers, one on a host whose clock is 7 ms ahead (the test-only skew). Their senders are 25 ms apart at
    40 req/s: uncorrected, the merged gaps would be 18 and 32 ms (CV 0.28); corrected at the handshake, regular."""
    folder = tmp_path / "run"
    args = [*MODEL, "--url", triton_url, "--rate", "40", "--arrivals", "constant", *SHORT_LEVEL]
    sweep = Sweep(
        [*args, "--expect-workers", "2", "--master-port", str(free_port()), "--output", str(folder)],
        tmp_path / "sweep.out",
    )
    try:
        line = sweep.wait_for(WORKER_LINE).group(1)
        processes.append(start_worker(line, tmp_path / "worker-0.log"))
        processes.append(start_worker(line, tmp_path / "worker-1.log", env={**WORKER_ENV, SKEW_ENV: "7"}))
        assert sweep.finish() == 0, sweep.output[-3000:]
    finally:
        sweep.kill()
    (level,) = load_run(folder).curves[0].levels
    assert level.failures == 0 and len(level.workers) == 2 and all(w.requests > 0 for w in level.workers)
    offsets = sorted(w.clock_offset_ms for w in level.workers if w.clock_offset_ms is not None)
    assert len(offsets) == 2 and abs(offsets[0]) < 1.5 and abs(offsets[1] - 7) < 1.5, offsets
    assert level.arrivals_cv is not None and level.arrivals_cv <= 0.1, level.arrivals_cv


def test_a_worker_of_another_version_is_refused_and_the_sweep_times_out_saying_who_came(
    triton_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    other = tmp_path / "other_version"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import harness\nharness.__version__ = '0.0.0-other'\n")
    sweep = Sweep(
        [
            *MODEL,
            "--url",
            triton_url,
            "--concurrency",
            "1",
            "--expect-workers",
            "1",
            "--master-port",
            str(free_port()),
            "--expect-workers-max-wait",
            "8s",
            "--output",
            str(tmp_path / "run"),
        ],
        tmp_path / "sweep.out",
    )
    try:
        line = sweep.wait_for(WORKER_LINE).group(1)
        worker = start_worker(line, tmp_path / "worker.log", env={**ENV, "PYTHONPATH": f"{other}:{ROOT}"})
        processes.append(worker)
        assert worker.wait(timeout=60) == 3
        code = sweep.finish()
    finally:
        sweep.kill()
    refusal = [ln for ln in (tmp_path / "worker.log").read_text().splitlines() if "refused" in ln]
    assert len(refusal) == 1 and "harness version 0.0.0-other differs from the master's" in refusal[0]
    assert code == 5
    last = sweep.output.strip().splitlines()[-1]
    assert re.fullmatch(
        r"harness sweep: error: only 0 of 1 Locust workers joined within 8s; refused 1: .*"
        r"harness version 0.0.0-other differs .*",
        last,
    ), last
    assert json.loads((tmp_path / "run" / "run.json").read_text())["curves"] == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--expect-workers", "0"], "--expect-workers 0: a sweep needs at least 1 worker"),
        (["--expect-workers", "1", "--master-bind", "192.0.2.1"], "--master-bind 192.0.2.1: not an address of this"),
    ],
)
def test_bad_distributed_flags_are_one_line_errors(flags: list[str], message: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [*HARNESS, "sweep", "--model", "identity", "--url", "127.0.0.1:1", *flags, "--output", str(tmp_path / "run")],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "run").exists()
