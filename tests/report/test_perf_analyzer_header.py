"""`harness export`'s perf_analyzer CSV against a file the real perf_analyzer writes on the session's server: the same
header, column for column, in closed-loop (Concurrency) and open-loop (Request Rate) mode; and the form without
--verbose-csv is a prefix of it (scripts written for either read the export)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.report.perf_analyzer_csv import perf_analyzer_csv
from harness.triton.control import ControlClient
from helpers import factories as f
from helpers.requirements import require_or_skip

pytestmark = pytest.mark.integration

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def perf_analyzer_header(url: str, folder: Path, *load: str, verbose: bool = True) -> str:
    """The first line of the CSV perf_analyzer writes with -f for one short level of identity over gRPC."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        import perf_analyzer  # scripts/perf_analyzer.py: finds the binary of the tritonclient wheel
    finally:
        sys.path.remove(str(SCRIPTS))
    binary = Path(sys.executable).with_name("perf_analyzer")
    if not binary.is_file():
        require_or_skip(f"perf_analyzer is not at {binary} (scripts/setup.sh installs the tritonclient wheel's)")
    report = folder / "perf.csv"
    args = [str(binary), "-m", "identity", "-u", url, "-i", "grpc", *load, "--measurement-interval", "500", "-s", "50"]
    args += ["-r", "10", "-f", str(report), *(["--verbose-csv"] if verbose else [])]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, env=perf_analyzer.environment(), check=False)
    assert result.returncode == 0 and report.is_file(), (result.stdout + result.stderr)[-2000:]
    return report.read_text().splitlines()[0]


def exported_header(mode: str) -> str:
    rate = mode == "rate"
    level = f.level(None if rate else 1, 100.0, 5.0, mode=mode, offered=100.0 if rate else None)
    return perf_analyzer_csv([level]).splitlines()[0]


def test_the_header_is_the_one_perf_analyzer_writes(triton_url: str, control: ControlClient, tmp_path: Path) -> None:
    control.load("identity")
    try:
        closed = perf_analyzer_header(triton_url, tmp_path, "--concurrency-range", "1:1")
        assert exported_header("concurrency") == closed
        opened = perf_analyzer_header(triton_url, tmp_path, "--request-rate-range", "50:50")
        assert exported_header("rate") == opened
        short = perf_analyzer_header(triton_url, tmp_path, "--concurrency-range", "1:1", verbose=False)
        assert closed.startswith(short + ",") and short.endswith(",p99 latency")
    finally:
        control.unload("identity")
