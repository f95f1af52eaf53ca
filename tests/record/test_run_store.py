from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path

import pytest

from harness.errors import ResultsError
from harness.record.model import PLAN_VERSION, SCHEMA_VERSION, run_from_dict, run_to_dict
from harness.record.store import LEVEL_COLUMNS, embed_json, extract_embedded, load_run, save_run
from harness.report.compare_page import write_compare
from harness.report.run_page import write_report
from helpers.factories import cpu_gpu_run, plan_run, rate_run


@pytest.mark.parametrize("make", [cpu_gpu_run, rate_run, plan_run])
def test_save_then_load_gives_back_the_same_run(tmp_path: Path, make) -> None:
    run = make()
    save_run(run, tmp_path / "run")
    assert load_run(tmp_path / "run") == run
    assert load_run(str(tmp_path / "run" / "run.json")) == run


def test_levels_csv_has_a_row_per_level_and_one_per_skipped_curve(tmp_path: Path) -> None:
    run = cpu_gpu_run()
    save_run(run, tmp_path)
    with open(tmp_path / "levels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == LEVEL_COLUMNS
    expected = [(c, lv) for c in run.curves for lv in c.levels]
    assert len(rows) == len(expected) + 1  # gpu:1 was skipped
    for row, (curve, level) in zip(rows, expected, strict=False):
        assert (row["label"], row["kind"], int(row["count"])) == (
            "base",
            curve.instance_group.kind,
            curve.instance_group.count,
        )
        assert int(row["concurrency"]) == level.concurrency
        assert float(row["achieved_rps"]) == level.achieved_rps
        assert float(row["p99_ms"]) == level.latency_ms.p99
        assert level.server_us is not None and float(row["queue_us"]) == level.server_us.queue
        assert row["stable"] == str(level.stable)
        assert row["flags"] == ";".join(level.flags)
    assert rows[-1]["skipped_reason"] == "no GPU on this host"
    assert rows[-1]["achieved_rps"] == ""


def test_levels_csv_carries_goodput_and_leaves_it_empty_for_older_levels(tmp_path: Path) -> None:
    for name, run in (("new", rate_run()), ("old", cpu_gpu_run())):
        save_run(run, tmp_path / name)
        with open(tmp_path / name / "levels.csv", newline="") as handle:
            cells = [row["goodput_rps"] for row in csv.DictReader(handle) if row["achieved_rps"]]
        assert cells == ["" if lv.goodput_rps is None else str(lv.goodput_rps) for c in run.curves for lv in c.levels]
    assert set(cells) == {""}  # cpu_gpu_run's levels predate goodput


def test_report_embeds_the_run_exactly(tmp_path: Path) -> None:
    run = rate_run()
    write_report(run, tmp_path / "report.html")
    data = extract_embedded((tmp_path / "report.html").read_text())
    assert run_from_dict(data) == run
    assert load_run(tmp_path / "report.html") == run


def test_embedded_json_cannot_close_its_script_element() -> None:
    run = dataclasses.replace(
        cpu_gpu_run(),
        metadata=dataclasses.replace(cpu_gpu_run().metadata, label="</script><!--<script>", command_line="a < b && c > d"),
    )
    element = embed_json(run)
    assert element.count("</script") == 1 and "<!--" not in element
    assert run_from_dict(extract_embedded(f"<html><body>{element}</body></html>")) == run


def test_html_without_an_embedded_run_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "other.html"
    page.write_text("<!DOCTYPE html><html><body><p>not a report</p></body></html>")
    with pytest.raises(ResultsError, match="no embedded harness run"):
        load_run(page)


def test_a_compare_page_is_refused_rather_than_one_of_its_runs_picked(tmp_path: Path) -> None:
    write_compare([cpu_gpu_run("a"), cpu_gpu_run("b")], tmp_path / "compare.html")
    with pytest.raises(ResultsError, match="compare page"):
        load_run(tmp_path / "compare.html")


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    data = run_to_dict(cpu_gpu_run()) | {"schema_version": SCHEMA_VERSION + 1}
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="newer than this harness reads"):
        load_run(tmp_path)


def test_a_run_written_before_the_plan_section_reads_without_one(tmp_path: Path) -> None:
    data = run_to_dict(cpu_gpu_run())
    del data["plan"]
    (tmp_path / "run.json").write_text(json.dumps(data))
    assert load_run(tmp_path) == cpu_gpu_run()


def test_a_newer_plan_is_refused_by_name(tmp_path: Path) -> None:
    data = run_to_dict(plan_run())
    data["plan"]["version"] = PLAN_VERSION + 1
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(ResultsError, match="plan version 2 is newer than this harness reads"):
        load_run(tmp_path)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "missing", "no such file or folder"),
        (lambda d: d, "folder has no run.json"),
        (lambda d: _write(d / "run.json", "{not json"), "invalid JSON at line 1"),
        (lambda d: _write(d / "run.json", '{"curves": []}'), "not a harness run"),
    ],
)
def test_unreadable_inputs_give_a_clear_error(tmp_path: Path, setup, message: str) -> None:
    with pytest.raises(ResultsError, match=message):
        load_run(setup(tmp_path))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_saving_leaves_no_temporary_files(tmp_path: Path) -> None:
    save_run(cpu_gpu_run(), tmp_path)
    save_run(rate_run(), tmp_path)  # over an existing run, as after every level
    write_report(rate_run(), tmp_path / "report.html")
    assert sorted(os.listdir(tmp_path)) == ["levels.csv", "report.html", "run.json"]


def test_a_failed_write_keeps_the_previous_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    save_run(cpu_gpu_run(), tmp_path)

    def no_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(ResultsError, match="No space left on device"):
        save_run(rate_run(), tmp_path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["levels.csv", "run.json"]
    assert load_run(tmp_path) == cpu_gpu_run()


def test_a_run_interrupted_before_its_first_level_still_reports(tmp_path: Path) -> None:
    empty = dataclasses.replace(cpu_gpu_run(), curves=(), metadata=dataclasses.replace(cpu_gpu_run().metadata, complete=False))
    write_report(empty, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    assert "This run is incomplete" in page and "No level has been measured" in page
    assert load_run(tmp_path / "report.html") == empty


@pytest.mark.parametrize(("engine", "said"), [("native", "compiled load engine"), ("python", "Python load engine")])
def test_report_says_which_load_engine_sent_the_requests(tmp_path: Path, engine: str, said: str) -> None:
    run = cpu_gpu_run()
    run = dataclasses.replace(
        run, metadata=dataclasses.replace(run.metadata, settings={**run.metadata.settings, "load_engine": engine})
    )
    write_report(run, tmp_path / "report.html")
    assert said in (tmp_path / "report.html").read_text()
    write_report(cpu_gpu_run(), tmp_path / "old.html")  # runs from before the engine was recorded: nothing said
    assert "load engine" not in (tmp_path / "old.html").read_text()


def test_an_open_loop_level_keeps_its_send_lag_in_run_json_and_levels_csv(tmp_path: Path) -> None:
    run = rate_run()
    save_run(run, tmp_path)
    levels = [lv for c in run.curves for lv in c.levels]
    stored = json.loads((tmp_path / "run.json").read_text())["curves"][0]["levels"]
    with open(tmp_path / "levels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for level, data, row in zip(levels, stored, rows, strict=True):
        assert level.send_lag_us is not None
        assert data["send_lag_us"] == {"p50": level.send_lag_us.p50, "p99": level.send_lag_us.p99, "max": level.send_lag_us.max}
        assert data["asked_arrivals_cv"] == level.asked_arrivals_cv == 0.0
        assert [float(row[f"send_lag_{p}_us"]) for p in ("p50", "p99", "max")] == [
            level.send_lag_us.p50,
            level.send_lag_us.p99,
            level.send_lag_us.max,
        ]
        assert float(row["asked_arrivals_cv"]) == 0.0


def test_a_run_written_before_the_send_lag_reads_without_it() -> None:
    data = run_to_dict(rate_run())
    for level in data["curves"][0]["levels"]:
        del level["send_lag_us"], level["asked_arrivals_cv"]
    read = run_from_dict(data)
    assert all(lv.send_lag_us is None and lv.asked_arrivals_cv is None for lv in read.curves[0].levels)
