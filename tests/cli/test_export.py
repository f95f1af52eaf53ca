"""`harness export`: a saved run in perf_analyzer's `-f` CSV, the run's own levels CSV, or its JSON (no server).

The CSV is read back with perf_analyzer's own column names, written out here as report_writer.cc writes them with
`-f FILE --verbose-csv` (tests/report/test_perf_analyzer_header.py compares them with a file the real binary
writes). Expected cells are worked out by hand from the levels below: times in whole microseconds, truncated.
  level c1: 250.5 inf/s; p50 3.9996 ms -> 3999, p90 4.007 -> 4007 (4006.9999999999995 in floats: no truncating
            that), p95 6.0 -> 6000, p99 8.001 -> 8001 (likewise), mean 4.1 -> 4100;
            Triton queue 1000.9 us -> 1000, compute 10.2 / 2500.5 / 5.7 -> 10 / 2500 / 5;
            network+server = 4100 - (1000.9 + 10.2 + 2500.5 + 5.7) = 582.7 -> 582
  level c2: 200 inf/s (fewer: its row comes first, perf_analyzer sorts by Inferences/Second); no Triton statistics
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.record.model import Latency, ServerTimes
from harness.record.store import LEVELS_FILE, RUN_FILE, save_run
from helpers import factories as f

PERF_ANALYZER_COLUMNS = [
    "Inferences/Second",
    "Client Send",
    "Network+Server Send/Recv",
    "Server Queue",
    "Server Compute Input",
    "Server Compute Infer",
    "Server Compute Output",
    "Client Recv",
    "p50 latency",
    "p90 latency",
    "p95 latency",
    "p99 latency",
    "Avg latency",
    "request/response",
    "response wait",
]


def _levels(mode: str = "concurrency") -> tuple:
    rate = mode == "rate"
    c1 = f.level(
        None if rate else 1,
        250.5,
        7.5,
        mode=mode,
        offered=150.0 if rate else None,
        latency_ms=Latency(p50=3.9996, p90=4.007, p95=6.0, p99=8.001, p999=9.0, mean=4.1, max=12.0),
        server_us=ServerTimes(queue=1000.9, compute_input=10.2, compute_infer=2500.5, compute_output=5.7),
    )
    c2 = f.level(
        None if rate else 2,
        200.0,
        10.0,
        mode=mode,
        offered=300.0 if rate else None,
        latency_ms=Latency(p50=8.0, p90=9.0, p95=9.5, p99=10.0, p999=11.0, mean=8.5, max=13.0),
        server_us=None,
    )
    return c1, c2


@pytest.fixture()
def one_curve(tmp_path: Path) -> Path:
    folder = tmp_path / "one"
    save_run(f.run([f.curve("CPU", 1, _levels())]), folder)
    return folder


@pytest.fixture()
def two_curves(tmp_path: Path) -> Path:
    folder = tmp_path / "two"
    skipped = f.curve("GPU", 1, skipped="no GPU on this host")
    save_run(f.run([f.curve("CPU", 1, _levels()), f.curve("CPU", 2, _levels("rate")), skipped]), folder)
    return folder


def export(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["export", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def read_perf_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def test_a_curve_reads_with_perf_analyzers_column_names(capsys: pytest.CaptureFixture[str], one_curve: Path) -> None:
    code, out, err = export(capsys, one_curve, "--format", "perf-analyzer-csv")
    assert code == 0 and err == ""
    header, rows = read_perf_csv(out)
    assert header == ["Concurrency", *PERF_ANALYZER_COLUMNS]
    assert [row["Concurrency"] for row in rows] == ["2", "1"]  # increasing Inferences/Second, as perf_analyzer sorts
    slow, fast = rows
    assert fast == {
        "Concurrency": "1",
        "Inferences/Second": "250.5",
        "Client Send": "",
        "Network+Server Send/Recv": "582",
        "Server Queue": "1000",
        "Server Compute Input": "10",
        "Server Compute Infer": "2500",
        "Server Compute Output": "5",
        "Client Recv": "",
        "p50 latency": "3999",
        "p90 latency": "4007",
        "p95 latency": "6000",
        "p99 latency": "8001",
        "Avg latency": "4100",
        "request/response": "",
        "response wait": "4100",
    }
    assert slow["Inferences/Second"] == "200" and slow["p99 latency"] == "10000" and slow["Avg latency"] == "8500"
    server_columns = ["Network+Server Send/Recv", "Server Queue", "Server Compute Input", "Server Compute Infer"]
    assert [slow[c] for c in server_columns] == ["", "", "", ""]  # no Triton statistics: empty, never 0


def test_the_default_format_is_perf_analyzers_and_a_folder_run_json_or_report_read_alike(
    capsys: pytest.CaptureFixture[str], one_curve: Path
) -> None:
    code, from_folder, _ = export(capsys, one_curve)
    assert code == 0 and read_perf_csv(from_folder)[0][0] == "Concurrency"
    assert export(capsys, one_curve / RUN_FILE)[1] == from_folder


def test_several_curves_go_one_file_each_and_stdout_asks_which(
    capsys: pytest.CaptureFixture[str], two_curves: Path, tmp_path: Path
) -> None:
    code, out, err = export(capsys, two_curves)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "2 curves (cpu:1, cpu:2)" in err and "-o FILE" in err and "--curve NAME" in err

    code, out, _ = export(capsys, two_curves, "-o", tmp_path / "perf.csv")
    assert code == 0
    closed, opened = tmp_path / "perf.cpu_1.csv", tmp_path / "perf.cpu_2.csv"
    assert out.splitlines() == [f"cpu:1: {closed}", f"cpu:2: {opened}"]  # the skipped gpu:1 has no file
    assert read_perf_csv(closed.read_text())[0] == ["Concurrency", *PERF_ANALYZER_COLUMNS]
    header, rows = read_perf_csv(opened.read_text())
    assert header == ["Request Rate", *PERF_ANALYZER_COLUMNS]  # perf_analyzer's request-rate mode
    assert [row["Request Rate"] for row in rows] == ["300", "150"]

    code, out, _ = export(capsys, two_curves, "--curve", "cpu:2")
    assert code == 0 and out == opened.read_text()


def test_csv_is_the_runs_levels_csv_and_json_the_run(capsys: pytest.CaptureFixture[str], two_curves: Path) -> None:
    code, out, _ = export(capsys, two_curves, "--format", "csv")
    assert code == 0 and out == (two_curves / LEVELS_FILE).read_text()
    code, out, _ = export(capsys, two_curves, "--format", "json")
    assert code == 0 and json.loads(out) == json.loads((two_curves / RUN_FILE).read_text())


def test_an_output_file_holds_what_stdout_would(capsys: pytest.CaptureFixture[str], one_curve: Path, tmp_path: Path) -> None:
    target = tmp_path / "levels.csv"
    code, out, _ = export(capsys, one_curve, "--format", "csv", "-o", target)
    assert code == 0 and out == "" and target.read_text() == (one_curve / LEVELS_FILE).read_text()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--format", "xml"], "--format 'xml' is not a format of harness export; give one of perf-analyzer-csv, csv, json"),
        (["--format", "csv", "--curve", "cpu:1"], "--curve picks one of perf-analyzer-csv's files"),
        (["--curve", "gpu:9"], "--curve 'gpu:9': "),
    ],
)
def test_bad_flags_are_one_line_naming_the_fix(
    capsys: pytest.CaptureFixture[str], one_curve: Path, args: list[str], expected: str
) -> None:
    code, out, err = export(capsys, one_curve, *args)
    assert code == 2 and out == ""
    assert err.startswith(f"harness export: error: {expected}") and len(err.strip().splitlines()) == 1


def test_a_run_that_cannot_be_read_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    for source, expected in (
        (tmp_path / "missing", "no such file or folder; give a run folder, run.json or report.html"),
        (tmp_path / "broken.json", "invalid JSON at line 1"),
        (tmp_path, "folder has no run.json"),
    ):
        code, out, err = export(capsys, source)
        assert code == 2 and out == "" and expected in err and len(err.strip().splitlines()) == 1


def test_a_run_without_levels_has_nothing_in_perf_analyzers_columns(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    save_run(f.run([f.curve("GPU", 1, skipped="no GPU on this host")]), tmp_path / "run")
    code, out, err = export(capsys, tmp_path / "run")
    assert code == 2 and out == "" and "has no measured level" in err
