"""Runs written by older versions read as today's: the committed example runs (schema 1, written 2026-11-28) and a
frozen copy of one (tests/record/data, kept even when the examples are measured again), their reports rebuilt, and
an old run compared with a fresh one as users do (`harness compare`)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.analysis.capacity import capacity
from harness.record.model import SCHEMA_VERSION
from harness.record.store import load_run
from harness.report.run_page import write_report
from helpers.processes import harness

ROOT = Path(__file__).resolve().parents[2]
OLD_RUNS = [
    ROOT / "tests" / "record" / "data" / "run-schema1-mnist_cnn.json",
    *sorted((ROOT / "results" / "examples").glob("*/run.json")),
]


@pytest.mark.parametrize("path", OLD_RUNS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_an_old_run_reads_with_todays_capacities_and_rebuilds_its_report(path: Path, tmp_path: Path) -> None:
    written = json.loads(path.read_text())
    run = load_run(path)
    assert run.schema_version == SCHEMA_VERSION
    assert len(run.curves) == len(written["curves"]) and run.metadata.started_at == written["metadata"]["started_at"]
    for curve, old in zip(run.curves, written["curves"], strict=True):
        assert curve.capacity == capacity(curve.levels, run.slo) if curve.levels else curve.capacity.reached is None
        assert curve.capacity.max_rps_within_slo == old["capacity"]["max_rps_within_slo"]  # the figure stood
    write_report(run, tmp_path / "report.html")
    assert load_run(tmp_path / "report.html") == run


def test_the_frozen_schema_1_run_is_a_schema_1_run() -> None:
    """Pins the fixture: should it ever be rewritten by a newer harness, the reader of version 1 goes untested."""
    assert json.loads(OLD_RUNS[0].read_text())["schema_version"] == 1


def test_an_old_runs_capacity_at_its_highest_load_now_reads_as_a_lower_bound() -> None:
    """mnist_cnn's example stopped at concurrency 16, still within p99 <= 100 ms with throughput growing."""
    run = load_run(OLD_RUNS[0])
    cpu1 = run.curves[0]
    assert cpu1.capacity.at_concurrency == max(lv.concurrency or 0 for lv in cpu1.levels) == 16
    assert cpu1.capacity.reached is False


class _Cells(HTMLParser):
    """The first column of every table row of a page: the labels users read."""

    def __init__(self) -> None:
        super().__init__()
        self.first_cells: list[str] = []
        self._row_cells = 0
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._row_cells = 0
        elif tag in ("td", "th"):
            self._row_cells += 1
            self._in_cell = self._row_cells == 1
            if self._in_cell:
                self.first_cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.first_cells[-1] += data.strip()


@pytest.mark.integration
def test_an_old_run_compares_with_a_fresh_one(triton_url: str, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    measured = harness(
        "sweep", "--url", triton_url, "--model", "mnist_cnn", "--instances", "cpu:1", "--concurrency", "1,2",
        "--warmup", "0.3s", "--window", "0.5s", "--max-windows", "3", "--workers", "1", "--label", "fresh",
        "--output", fresh,
    )  # fmt: skip
    assert measured.returncode == 0, measured.stderr[-2000:]
    page = tmp_path / "compare.html"
    compared = harness("compare", ROOT / "results" / "examples" / "mnist_cnn", fresh, "-o", page, cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    cells = _Cells()
    cells.feed(page.read_text())
    old_label = load_run(ROOT / "results" / "examples" / "mnist_cnn").metadata.label or "run1"
    assert {f"{old_label} cpu:1", f"{old_label} cpu:2", "fresh cpu:1"} <= set(cells.first_cells)
    assert "at least" in compared.stdout  # the old run's capacities at concurrency 16 are lower bounds
