"""`harness search --input-data`: every configuration's levels send the data's entries, and bad data is one line
before any load, as in `harness sweep` (the same flags and checks).

Independent check: a recording model served as `identity` from a repository of its own (the search reloads each
configuration from the model's files) writes the mean of every input it executes; run.json says how many requests
each level sent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.triton.control import ControlClient
from helpers.processes import harness
from helpers.recorder import recorded, write_recorder

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# Two configurations (the model as is; max_batch_size 8), one level of one user each.
TWO = [
    "--kinds",
    "cpu",
    "--counts",
    "1",
    "--threads",
    "1",
    "--max-batch-sizes",
    "0,8",
    "--queue-delays-us",
    "off",
    "--mode",
    "brute",
    "--max-concurrency",
    "1",
    "--warmup",
    "0.3s",
    "--window",
    "0.5s",
    "--max-windows",
    "3",
    "--slo",
    "p99=10000ms",
    "--budget",
    "90s",
]


def test_each_configuration_sends_the_data(tmp_path: Path) -> None:
    record = tmp_path / "record.txt"
    repository = write_recorder(tmp_path / "repo", "identity", "INPUT0", "FP32", [16], record)
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"data": [{"INPUT0": [1.0] * 16}, {"INPUT0": {"content": [2.0] * 16, "shape": [16]}}]}))
    folder = tmp_path / "run"
    result = harness(
        "search",
        "--model",
        "identity",
        "--model-repository",
        str(repository),
        "--input-data",
        str(data),
        "--output",
        str(folder),
        *TWO,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run = json.loads((folder / "run.json").read_text())
    assert [c["configuration"] for c in run["curves"]] == ["cpu:1x1", "cpu:1x1 mbs8"]
    sent = [sum(lv["requests"] for lv in c["levels"]) for c in run["curves"]]
    assert all(n >= 2 for n in sent), sent  # each configuration sent both entries at least
    seen = recorded(record)
    assert len(seen) >= sum(sent)  # the measured requests and the warm-ups: every one executed by the recorder...
    assert set(seen) == {1.0, 2.0}  # ...carried an entry of the file (seeded random tensors would not average 1 or 2)
    assert run["metadata"]["settings"]["input_data"] == {"path": str(data), "entries": 2, "shapes": {"INPUT0": [[16]]}}


def test_bad_data_is_one_line_before_any_load(control: ControlClient, triton_url: str, tmp_path: Path) -> None:
    control.load("identity")
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"data": [{"INPUT0": [0.0] * 16}, {"INPUT0": [0.0] * 15}]}))
    before = control.statistics("identity").success_count
    result = harness(
        "search", "--url", triton_url, "--model", "identity", "--input-data", str(data), "--output", str(tmp_path / "run"), *TWO
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert lines[0] == (
        f"harness search: error: --input-data {data}: entry 1, input 'INPUT0': shape [15], the model takes [16]"
    ), lines[0]
    refused = json.loads((tmp_path / "run" / "run.json").read_text())  # the run folder says so too, nothing measured
    assert refused["metadata"]["complete"] is False and refused["curves"] == []
    assert lines[0] == f"harness search: error: {refused['metadata']['interrupted']}"
    assert control.statistics("identity").success_count == before  # not one request sent
