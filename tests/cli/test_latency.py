"""`harness latency`: the single-request table, in a run folder that `harness report` rebuilds."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import torch

from helpers.processes import harness

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "run.schema.json").read_text())


@pytest.fixture(scope="module")
def latency_run(triton_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("latency") / "run"
    result = harness(
        "latency", "--model", "mnist_cnn", "--url", triton_url, "--batch-sizes", "1,2", "-n", "10", "--output", str(folder)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return folder


def test_every_path_device_precision_and_batch_has_a_row(latency_run: Path) -> None:
    rows = json.loads((latency_run / "run.json").read_text())["latency"]
    keys = [(r["model"], r["precision"], r["path"], r["device"], r["batch_size"]) for r in rows]
    expected = [
        (m, p, path, d, b)
        for m, p in (("mnist_cnn", "float"), ("mnist_cnn_int8", "int8"))
        for d in ("CPU", "GPU")
        for path in ("triton", "in-process")
        for b in (1, 2)
    ]
    assert sorted(keys) == sorted(expected)
    for r in rows:
        if r["device"] == "CPU":
            assert r["calls"] == 10 and r["skipped_reason"] is None
            assert 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"] <= r["max_ms"]
        elif not torch.cuda.is_available():
            assert r["median_ms"] is None and r["skipped_reason"].startswith("no GPU")


def test_triton_adds_to_the_in_process_floor(latency_run: Path) -> None:
    """The server runs the same forward pass plus gRPC and the stub's hand-over: never faster than the network alone."""
    rows = json.loads((latency_run / "run.json").read_text())["latency"]
    measured = {(r["precision"], r["path"], r["batch_size"]): r for r in rows if r["device"] == "CPU"}
    for precision in ("float", "int8"):
        for batch in (1, 2):
            assert measured[(precision, "triton", batch)]["min_ms"] >= measured[(precision, "in-process", batch)]["min_ms"]


def test_report_shows_the_table_and_rebuilds(latency_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "again.html"
    result = harness("report", str(latency_run), "-o", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert "<h2>Single-request latency by batch size</h2>" in page
    assert page.count("<tr>") >= 17 and '<table class="latency">' in page
    assert "No level has been measured" not in page


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--batch-sizes", "0"], "--batch-sizes: '0' is not a positive integer"),
        (["-n", "0"], "must be at least 1"),
    ],
)
def test_bad_flags_one_line(args: list[str], says: str, tmp_path: Path) -> None:
    result = harness("latency", "--model", "mnist_cnn", "--output", str(tmp_path / "r"), *args)
    assert result.returncode != 0 and says in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_run_json_with_its_latency_section_matches_the_schema(latency_run: Path) -> None:
    data = json.loads((latency_run / "run.json").read_text())
    assert data["latency"]  # the section under test is there
    jsonschema.validate(data, SCHEMA)
