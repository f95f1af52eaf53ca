"""`harness sweep` end to end: real Triton, real Locust master and workers, run folder, report, interruption."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from harness.record.store import load_run
from helpers.processes import HARNESS, harness

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "run.schema.json").read_text())
QUICK = ["--warmup", "0.5s", "--window", "0.5s", "--max-windows", "4", "--workers", "1"]


def sweep(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return harness("sweep", *args, timeout=timeout)


@pytest.fixture(scope="module")
def finished_run(triton_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sweep") / "run"
    result = sweep(
        [
            "--model",
            "mnist_cnn",
            "--url",
            triton_url,
            "--instances",
            "cpu:1,cpu:2,gpu:1",
            "--concurrency",
            "1,2",
            "--label",
            "ci",
            "--output",
            str(folder),
            *QUICK,
        ]
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return folder


@pytest.mark.quick
def test_run_json_matches_the_schema_and_the_contract(finished_run: Path) -> None:
    data = json.loads((finished_run / "run.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["metadata"]["complete"] is True and data["metadata"]["label"] == "ci"
    assert data["metadata"]["triton_version"] == "2.51.0"
    cpu1, cpu2, gpu = data["curves"]
    assert [c["instance_group"] for c in data["curves"]] == [
        {"kind": "CPU", "count": 1, "threads": None, "source": "override"},
        {"kind": "CPU", "count": 2, "threads": None, "source": "override"},
        {"kind": "GPU", "count": 1, "threads": None, "source": "override"},
    ]
    assert gpu["levels"] == []  # Triton's own answer on this GPU-less server, and the fix
    assert gpu["skipped_reason"] == (
        "no GPU on this server (Triton: Invalid argument: instance group mnist_cnn_0 of "
        "model mnist_cnn has kind KIND_GPU but no GPUs are available); measure CPU "
        "instances (--instances cpu:N) or use a server with a GPU"
    )
    for curve in (cpu1, cpu2):
        assert [lv["concurrency"] for lv in curve["levels"]] == [1, 2]
        assert curve["model_config"]["instance_group"][0]["count"] == curve["instance_group"]["count"]
        # batching as served (the bundled config's), not the None of a spec that keeps it: the queueing fit reads it
        assert curve["max_batch_size"] == curve["model_config"]["max_batch_size"] > 1
        assert curve["dynamic_batching"] is ("dynamic_batching" in curve["model_config"]) is True
        for lv in curve["levels"]:
            assert lv["requests"] > 0 and lv["failures"] == 0 and lv["achieved_rps"] > 0
            lat = lv["latency_ms"]
            assert 0 < lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["p999"] <= lat["max"]
            assert lv["server_us"]["compute_infer"] > 0 and lv["avg_batch"] >= 1
            assert 3 <= len(lv["windows"]) <= 4
            # the stability rule, by hand from the windows: the last 3 within 10 % of their mean
            last = lv["windows"][-3:]
            agree = len(last) == 3 and all(
                abs(w[k] - sum(x[k] for x in last) / 3) <= 0.10 * sum(x[k] for x in last) / 3
                for w in last
                for k in ("achieved_rps", "p99_ms")
            )
            assert lv["stable"] is agree


@pytest.mark.quick
def test_level_counts_come_from_the_counted_windows_only(finished_run: Path) -> None:
    run = load_run(finished_run)
    for curve in run.curves:
        for lv in curve.levels:
            assert lv.requests == sum(w.requests for w in lv.windows[-3:])


@pytest.mark.quick
def test_levels_csv_matches_run_json(finished_run: Path) -> None:
    run = load_run(finished_run)
    rows = list(csv.DictReader((finished_run / "levels.csv").open()))
    measured = [(c, lv) for c in run.curves for lv in c.levels]
    assert len([r for r in rows if r["concurrency"]]) == len(measured)
    for row, (curve, lv) in zip([r for r in rows if r["concurrency"]], measured, strict=True):
        assert int(row["count"]) == curve.instance_group.count
        assert int(row["requests"]) == lv.requests
        assert float(row["p99_ms"]) == pytest.approx(lv.latency_ms.p99)
        assert float(row["achieved_rps"]) == pytest.approx(lv.achieved_rps)


@pytest.mark.quick
def test_report_contains_every_curve_and_rebuilds_identically(finished_run: Path, tmp_path: Path) -> None:
    html = (finished_run / "report.html").read_text()
    items = re.findall(r"<li>(.*?)</li>", re.search(r'<ul class="capacity">(.*?)</ul>', html, re.DOTALL).group(1))
    assert [i.split(" ")[0] for i in items] == ["cpu:1", "cpu:2", "gpu:1:"]
    assert items[2].startswith("gpu:1: skipped: no GPU")
    run = load_run(finished_run)
    for item, curve in zip(items[:2], run.curves[:2], strict=True):
        rps = curve.capacity.max_rps_within_slo
        assert item.startswith(f"{curve.instance_group} sustains ") if rps else "does not meet" in item
    assert load_run(finished_run / "report.html") == load_run(finished_run)
    rebuilt = harness("report", finished_run, "-o", tmp_path / "again.html", timeout=60)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert load_run(tmp_path / "again.html") == load_run(finished_run)


def test_bad_flags_give_one_line_errors(triton_url: str, tmp_path: Path) -> None:
    cases = [
        (["--model", "mnist_cnn", "--slo", "p42=fast"], "--slo"),
        (["--model", "mnist_cnn", "--instances", "tpu:1"], "--instances"),
        (["--model", "mnist_cnn", "--concurrency", "1,zero"], "--concurrency"),
        (["--model", "no_such_model", "--url", triton_url], "unknown model"),
        (["--model", "mnist_cnn", "--url", "127.0.0.1:1"], "unreachable"),
    ]
    for args, expected in cases:
        result = sweep([*args, "--output", str(tmp_path / "bad"), *QUICK], timeout=60)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert len(lines) == 1 and lines[0].startswith("harness sweep: error:") and expected in lines[0], lines


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


def _wait_for_levels(run_file: Path, process: subprocess.Popen[str], count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if run_file.exists():
            levels = sum(len(c["levels"]) for c in json.loads(run_file.read_text())["curves"])
            if levels >= count:
                return
        time.sleep(0.2)
    pytest.fail(f"no {count} level(s) saved in time; sweep exit code {process.poll()}")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_interrupted_sweep_keeps_every_finished_level(sig: int, tmp_path: Path) -> None:
    """Its own server this time: killing the sweep must also take its server and workers down."""
    folder = tmp_path / "run"
    process = subprocess.Popen(
        [
            *HARNESS,
            "sweep",
            "--model",
            "identity",
            "--instances",
            "cpu:1",
            "--concurrency",
            "1,2,4,8,16,32",
            "--output",
            str(folder),
            *QUICK,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_levels(folder / "run.json", process, 1, timeout=120)
        children = _children(process.pid)
        assert children, "the sweep should own a tritonserver and a Locust worker"
        os.kill(process.pid, sig)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    run = load_run(folder)
    assert run.metadata.complete is False
    assert 1 <= len(run.curves[0].levels) < 6
    assert all(lv.requests > 0 for lv in run.curves[0].levels)
    jsonschema.validate(json.loads((folder / "run.json").read_text()), SCHEMA)
    if sig == signal.SIGTERM:
        assert process.returncode == 130 and (folder / "report.html").exists()
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in children), "server or workers outlived the sweep"
