"""Fault injection with real processes: what a measuring command (harness sweep, harness search) leaves behind when
its server dies or hangs, its model will not load, its disk fills up, a port is taken, or it is stopped by Ctrl-C
or SIGTERM.

Each fault must leave a valid run folder holding every finished level and a one-line cause, a non-zero exit
where the run did not complete, and no process of its own still running. (Worker SIGKILL: tests/load.)
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import jsonschema
import psutil
import pytest

from harness.load.engine.link import EngineLink
from harness.record.model import Run
from harness.record.store import load_run
from harness.triton.request import serialize_request
from harness.triton.server import LOOPBACK, free_port
from helpers.processes import HARNESS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "run.schema.json").read_text())
QUICK = ["--warmup", "0.5s", "--window", "0.5s", "--max-windows", "4", "--workers", "1"]
LEVELS = ["--concurrency", "1,2,4,8,16,32,64"]
# Each measuring command with levels enough to be cut mid-run: a sweep's list, a search's one configuration whose
# concurrency search climbs (identity keeps growing to 64 users on this machine).
MEASURING = {
    "sweep": LEVELS,
    "search": ["--kinds", "cpu", "--counts", "1", "--threads", "1", "--max-batch-sizes", "0", "--queue-delays-us", "off"],
}


class Sweep:
    """A measuring command (`harness sweep` unless told) as a child process with its own tritonserver, output
    captured to files."""

    def __init__(self, folder: Path, *args: str, sigint_ignored: bool = False, command: str = "sweep") -> None:
        self.folder, self.command = folder, command
        self.out, self.err = folder.parent / f"{command}.out", folder.parent / f"{command}.err"
        # sigint_ignored: as a script's background job (`harness sweep ... &`) inherits it
        ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.process = subprocess.Popen(
                [*HARNESS, command, "--output", str(folder), *args],
                cwd=ROOT,
                stdout=out,
                stderr=err,
                text=True,
                preexec_fn=ignore,
            )
        self.seen: set[int] = set()

    def descendants(self) -> list[psutil.Process]:
        try:
            found = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        self.seen.update(p.pid for p in found)
        return found

    def server(self) -> psutil.Process:
        return next(p for p in self.descendants() if p.name() == "tritonserver")

    def wait_levels(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            self.descendants()
            run_file = self.folder / "run.json"
            if run_file.exists():
                curves = json.loads(run_file.read_text())["curves"]
                if sum(len(c["levels"]) for c in curves) >= count:
                    return
            time.sleep(0.1)
        pytest.fail(f"no {count} level(s) saved in time; exit {self.process.poll()}: {self.err.read_text()[-2000:]}")

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:  # a hang is the failure; don't leave it running
                for child in self.descendants():
                    child.kill()
                self.process.kill()
                self.process.wait()

    def assert_nothing_left(self) -> None:
        deadline = time.monotonic() + 20
        alive = [pid for pid in self.seen if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [pid for pid in alive if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
        assert not alive, f"processes outlived the sweep: {alive}"


def _valid_run(folder: Path) -> Run:
    jsonschema.validate(json.loads((folder / "run.json").read_text()), SCHEMA)
    return load_run(folder)


def _interrupted(sweep: Sweep, code: int, expected_code: int, cause: str) -> Run:
    """The run is kept, not complete, and says why in run.json, levels.csv, stderr (one line), and stdout."""
    assert code == expected_code, sweep.err.read_text()[-2000:]
    run = _valid_run(sweep.folder)
    assert run.metadata.complete is False
    assert cause in run.metadata.interrupted and "\n" not in run.metadata.interrupted
    rows = list(csv.DictReader((sweep.folder / "levels.csv").open()))
    assert rows[-1]["skipped_reason"] == f"run interrupted: {run.metadata.interrupted}"
    assert "run complete" not in sweep.out.read_text()
    assert "Traceback" not in sweep.err.read_text()
    return run


def _finished_levels_kept(run: Run, at_least: int) -> None:
    levels = run.curves[0].levels
    finished = [lv for lv in levels if "interrupted" not in lv.flags]
    assert len(finished) >= at_least
    assert all(lv.requests > 0 and lv.failures == 0 for lv in finished)


@pytest.mark.parametrize("command", MEASURING)
def test_server_sigkill_mid_level_ends_the_run_at_once(command: str, tmp_path: Path) -> None:
    sweep = Sweep(tmp_path / "run", "--model", "identity", *MEASURING[command], *QUICK, command=command)
    sweep.wait_levels(1)
    server = sweep.server()
    server.kill()
    killed = time.monotonic()
    code = sweep.wait(timeout=60)
    assert time.monotonic() - killed < 15, "the sweep should stop at once, not after the level's budget"
    run = _interrupted(sweep, code, 3, "tritonserver exited (killed by signal 9)")
    _finished_levels_kept(run, 1)
    assert sweep.err.read_text().strip().splitlines()[-1].startswith(f"harness {command}: error: tritonserver exited")
    html = (sweep.folder / "report.html").read_text()
    assert '<p class="banner warn">This run was interrupted: tritonserver exited (killed by signal 9)' in html
    _says_how_it_ended(sweep, run, "server-lost")
    sweep.assert_nothing_left()


def _says_how_it_ended(sweep: Sweep, run: Run, stopped: str) -> None:
    """A search records and prints how it ended (it once printed "ended: done" above a lost server's error)."""
    if sweep.command != "search":
        return
    assert run.search is not None and run.search.stopped == stopped
    assert f"ended: {stopped})" in sweep.out.read_text()


@pytest.mark.parametrize("command", MEASURING)
def test_server_sigstop_mid_level_is_caught_by_the_request_timeout(command: str, tmp_path: Path) -> None:
    sweep = Sweep(
        tmp_path / "run", "--model", "identity", *MEASURING[command], *QUICK, "--request-timeout", "2s", command=command
    )
    sweep.wait_levels(1)
    server = sweep.server()
    server.suspend()
    code = sweep.wait(timeout=90)
    run = _interrupted(sweep, code, 3, "")
    assert run.metadata.interrupted.split(" (at ")[0] in sweep.err.read_text()
    _finished_levels_kept(run, 1)
    _says_how_it_ended(sweep, run, "server-lost")
    sweep.assert_nothing_left()


def test_a_model_that_fails_to_load(tmp_path: Path) -> None:
    repository = tmp_path / "models"
    shutil.copytree(ROOT / "model_repository" / "identity", repository / "broken")
    config = repository / "broken" / "config.pbtxt"
    config.write_text(config.read_text().replace('name: "identity"', 'name: "broken"'))
    (repository / "broken" / "1" / "model.py").write_text(
        "class TritonPythonModel:\n    def initialize(self, args):\n        raise RuntimeError('weights missing')\n"
    )
    sweep = Sweep(tmp_path / "run", "--model", "broken", "--model-repository", str(repository), *LEVELS, *QUICK)
    code = sweep.wait(timeout=120)
    run = _interrupted(sweep, code, 4, "weights missing")
    assert run.curves == () or run.curves[0].levels == ()
    assert sweep.err.read_text().strip().splitlines()[-1].startswith("harness sweep: error: ")
    sweep.assert_nothing_left()


def _failed_before_the_first_level(sweep: Sweep, code: int, expected_code: int, cause: str) -> Run:
    """Nothing measured, and still a valid run.json that says what happened; the CLI's one-line error."""
    run = _interrupted(sweep, code, expected_code, cause)
    assert run.metadata.model == "identity" and all(c.levels == () for c in run.curves)
    err = sweep.err.read_text().strip().splitlines()
    assert err[-1] == f"harness sweep: error: {run.metadata.interrupted}"
    return run


def test_a_server_killed_before_the_first_level(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path / "run", "--model", "identity", *LEVELS, *QUICK)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sweep.process.poll() is None:
        server = next((p for p in sweep.descendants() if p.name() == "tritonserver"), None)
        if server is not None:
            server.kill()  # while it starts: before any level, before the run would have been recorded
            break
        time.sleep(0.01)
    code = sweep.wait(timeout=60)
    _failed_before_the_first_level(sweep, code, 3, "tritonserver exited during start-up (code -9)")
    sweep.assert_nothing_left()


def test_a_deployed_model_that_is_not_loaded(triton_url: str, tmp_path: Path) -> None:
    """Measured as deployed (--url, no --instances) while the model is not loaded: refused before any load, and
    the run folder still says so."""
    from harness.triton.control import ControlClient

    with ControlClient(triton_url) as control:
        if control.is_ready("identity"):
            control.unload("identity")
    sweep = Sweep(tmp_path / "run", "--model", "identity", "--url", triton_url, *LEVELS, *QUICK)
    code = sweep.wait(timeout=60)
    _failed_before_the_first_level(sweep, code, 4, f"model 'identity' is not loaded on {triton_url}")


def test_bad_input_at_the_server(triton_url: str, tmp_path: Path) -> None:
    sweep = Sweep(tmp_path / "run", "--model", "no_such_model", "--url", triton_url, *LEVELS, *QUICK)
    code = sweep.wait(timeout=60)
    assert code == 4
    run = _valid_run(sweep.folder)
    assert run.metadata.complete is False and run.curves == ()
    assert run.metadata.interrupted.startswith("unknown model 'no_such_model'")
    assert sweep.err.read_text().strip().splitlines() == [f"harness sweep: error: {run.metadata.interrupted}"]


def test_the_run_folder_disk_filling_up(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)], check=True)
    try:
        sweep = Sweep(disk / "run", "--model", "identity", "--concurrency", "1,2", *QUICK)
        code = sweep.wait(timeout=120)
        assert code == 2, sweep.err.read_text()[-2000:]
        err = sweep.err.read_text().strip().splitlines()
        assert err[-1].startswith("harness sweep: error: cannot write") and "No space left" in err[-1]
        run = _valid_run(disk / "run")  # the last run.json that fitted, intact
        assert run.metadata.complete is False
        _finished_levels_kept(run, 1)
        assert "run complete" not in sweep.out.read_text()
        sweep.assert_nothing_left()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_port_already_taken(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((LOOPBACK, port))
        taken.listen()
        result = subprocess.run(
            [*HARNESS, "serve", "--grpc-port", str(port)], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 3 and len(lines) == 1, result.stderr
    assert f"port {port}" in lines[0] and "already in use" in lines[0]


# Each signal and each phase once per command (the full cross cost ~40 s more; both signals raise KeyboardInterrupt in
# the main greenlet, harness.measure.signals.stop_on_signals). Ctrl-C's run starts with SIGINT ignored, as a script's
# background job does: it must still stop (a sweep ran to its end there before it set its own handler).
@pytest.mark.parametrize(
    ("command", "sig", "phase"),
    [
        ("sweep", signal.SIGINT, "warm-up"),
        ("sweep", signal.SIGTERM, "window"),
        ("search", signal.SIGINT, "window"),
        ("search", signal.SIGTERM, "warm-up"),
    ],
    ids=["sweep-ctrl-c-warm-up", "sweep-sigterm-window", "search-ctrl-c-window", "search-sigterm-warm-up"],
)
def test_stopping_a_run_keeps_the_finished_levels(command: str, sig: int, phase: str, tmp_path: Path) -> None:
    timing = ["--warmup", "4s", "--window", "0.5s"] if phase == "warm-up" else ["--warmup", "0.5s", "--window", "4s"]
    sweep = Sweep(
        tmp_path / "run",
        "--model",
        "identity",
        *MEASURING[command],
        "--max-windows",
        "3",
        "--workers",
        "1",
        *timing,
        sigint_ignored=sig == signal.SIGINT,
        command=command,
    )
    sweep.wait_levels(1, timeout=150)
    time.sleep(2.0)  # level 2: 2 s into its 4 s warm-up, or 1.5 s into its first 4 s window
    os.kill(sweep.process.pid, sig)
    code = sweep.wait(timeout=60)
    run = _interrupted(sweep, code, 130, "stopped by Ctrl-C or SIGTERM")
    where = "warm-up" if phase == "warm-up" else "window 1"
    group = "cpu:1" if command == "sweep" else "cpu:1x1"  # the search's configuration names its threads
    assert run.metadata.interrupted.endswith(f"(at {group} concurrency 2, {where})")
    assert [lv.concurrency for lv in run.curves[0].levels] == [1]
    _finished_levels_kept(run, 1)
    _says_how_it_ended(sweep, run, "interrupted")
    assert not sweep.err.read_text().strip(), "a stop asked for is said by the summary, not as an error"
    sweep.assert_nothing_left()


@pytest.mark.parametrize("engine", ["python", "native"])
def test_engines_back_off_on_refused_connections(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """4 lanes against a closed port for 2 s: resending at once makes thousands of failures (and burns a core);
    backing off from 10 ms to 500 ms makes ~8 per lane."""
    monkeypatch.setenv("HARNESS_LEAN_ENGINE", engine)
    link = EngineLink(f"{LOOPBACK}:{free_port()}", serialize_request("identity", {}), 5.0)
    try:
        link.set_lanes(4)
        assert link.read() is not None  # the engine is up and sending (its start-up CPU is not counted)
        started, errors = time.monotonic(), 0
        process = psutil.Process(link._process.pid)  # type: ignore[union-attr]
        cpu0 = sum(process.cpu_times()[:2])
        while time.monotonic() - started < 2.0:
            batch = link.read()
            assert batch is not None
            errors += len(batch.errors)
            assert all(text.startswith("UNAVAILABLE") for _, text in batch.errors)
        cpu = sum(process.cpu_times()[:2]) - cpu0
    finally:
        link.close()
    assert 4 <= errors <= 4 * 12, errors
    assert cpu < 0.6, f"the engine used {cpu:.2f} CPU s in 2 s against a refused port"
