"""Open-loop users in real Locust processes: a user without a rate is refused out loud (it used to start and
silently never send), and users of one process share its rate as separate senders."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from harness.triton.control import ControlClient
from helpers.processes import RUN_TIMEOUT_S

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
OPEN_LOOP = ROOT / "loadtests" / "triton_grpc_open_loop.py"


def test_an_open_loop_user_without_a_rate_is_refused(triton_url: str, control: ControlClient, tmp_path: Path) -> None:
    control.load("identity")
    before = control.statistics("identity").success_count
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(OPEN_LOOP),
            "--triton-url",
            triton_url,
            "--model",
            "identity",
            "--latency-file",
            "",
            "--csv",
            str(tmp_path / "stats"),
            "--headless",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "2s",
            "--target-rps",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr[-2000:]  # Locust's exit code for a run with failures
    assert "Traceback" not in result.stderr
    refusals = [line for line in result.stderr.splitlines() if "TritonOpenLoopUser needs a target rate" in line]
    assert len(refusals) == 2 and "--target-rps" in refusals[0]  # one line per user
    with open(tmp_path / "stats_stats.csv", newline="") as handle:
        total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    assert total["Request Count"] == "2" and total["Failure Count"] == "2"  # one refusal per user, nothing sent
    assert control.statistics("identity").success_count == before
