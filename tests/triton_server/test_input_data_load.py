"""--input-data end to end: a sweep's requests carry each entry in turn (JSON on identity, generated PNGs on
mnist_cnn), and bad data is one line before any load (sweep, ui, a plain Locust run).

Independent check: a recording model served under the model's name (helpers.recorder) writes the mean of every
input it executes, in order; Triton's own counters say how many requests and inferences it served.
"""

from __future__ import annotations

import base64
import html
import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from harness.triton.control import ControlClient
from helpers.processes import harness, harness_ui, stop_process
from helpers.recorder import recorded, recorded_shapes, recording

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--warmup", "0.3s", "--window", "0.5s", "--max-windows", "3", "--workers", "1", "--concurrency", "1"]


def cycle(values: list[float], count: int) -> list[float]:
    return [values[i % len(values)] for i in range(count)]


@pytest.fixture()
def identity_recorder(triton_url: str, tmp_path: Path) -> Iterator[Path]:
    with recording(triton_url, "identity", "INPUT0", "FP32", [16], tmp_path / "record.txt") as record:
        yield record


@pytest.fixture()
def mnist_recorder(triton_url: str, tmp_path: Path) -> Iterator[Path]:
    with recording(triton_url, "mnist_cnn", "image", "FP32", [1, 28, 28], tmp_path / "record.txt") as record:
        yield record


def _sweep_identity(triton_url: str, data: Path, folder: Path) -> None:
    """harness sweep of identity, one lane, sending --input-data `data`, written to `folder`."""
    result = harness(
        "sweep", "--url", triton_url, "--model", "identity", "--input-data", str(data), "--output", str(folder), *QUICK
    )
    assert result.returncode == 0, result.stderr[-2000:]


def _sweep_run(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text())


def _levels(run: dict) -> list[dict]:
    (curve,) = run["curves"]
    return curve["levels"]


def test_sweep_sends_each_json_entry_in_turn(
    identity_recorder: Path, control: ControlClient, triton_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data.json"
    data.write_text(
        json.dumps(
            {
                "data": [
                    {"INPUT0": [1.0] * 16},
                    {"INPUT0": {"content": [2.0] * 16, "shape": [16]}},
                    {"INPUT0": {"b64": base64.b64encode(np.full(16, 3.0, np.float32).tobytes()).decode(), "shape": [16]}},
                ]
            }
        )
    )
    _sweep_identity(triton_url, data, tmp_path / "run")
    seen = recorded(identity_recorder)
    assert len(seen) == control.statistics("identity").success_count  # every request the server executed
    assert seen == cycle([1.0, 2.0, 3.0], len(seen))  # one lane: the entries in turn, from the first
    run = _sweep_run(tmp_path / "run")
    assert run["metadata"]["settings"]["input_data"] == {"path": str(data), "entries": 3, "shapes": {"INPUT0": [[16]]}}
    jsonschema.validate(run, json.loads((ROOT / "docs" / "run.schema.json").read_text()))
    (level,) = _levels(run)
    assert level["failures"] == 0 and 3 <= level["requests"] <= len(seen)
    report = (tmp_path / "run" / "report.html").read_text()
    summary = html.escape(json.dumps(run["metadata"]["settings"]["input_data"]))
    assert f"<tr><td>setting input_data</td><td>{summary}</td></tr>" in report  # the run's settings table


def test_sweep_sends_a_folder_of_images_to_mnist(
    mnist_recorder: Path, control: ControlClient, triton_url: str, tmp_path: Path
) -> None:
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (40, 30), (255, 255, 255)).save(images / "a.png")  # white, colour, larger: 1.0
    Image.new("L", (10, 10), 0).save(images / "b.png")  # black, smaller: 0.0
    Image.new("L", (28, 28), 51).save(images / "c.png")  # grey 51: 0.2
    result = harness(
        "sweep",
        "--url",
        triton_url,
        "--model",
        "mnist_cnn",
        "--input-data",
        str(images),
        "--batch-size",
        "2",
        "--output",
        str(tmp_path / "run"),
        *QUICK,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = recorded(mnist_recorder)
    stats = control.statistics("mnist_cnn")
    assert len(seen) == stats.success_count and stats.inference_count == 2 * len(seen)  # batches of 2
    assert seen == cycle([1.0, 0.0, 0.2], len(seen))
    settings = _sweep_run(tmp_path / "run")["metadata"]["settings"]
    assert settings["input_data"] == {"path": str(images), "entries": 3, "shapes": {"image": [[1, 28, 28]]}}


BAD = {
    "shape": (
        {"data": [{"INPUT0": [0.0] * 16}, {"INPUT0": [0.0] * 15}]},
        "entry 1, input 'INPUT0': shape [15], the model takes [16]",
    ),
    "dtype": ({"data": [{"INPUT0": ["a"] * 16}]}, "entry 0, input 'INPUT0': <U1 values for a FP32 input"),
    "missing": ({"data": [{}]}, "entry 0 has no input 'INPUT0'"),
    "unknown": ({"data": [{"INPUT0": [0.0] * 16, "EXTRA": [1]}]}, "entry 0 has input 'EXTRA', which the model does not have"),
}


@pytest.mark.parametrize("case", [*BAD, "unreadable"])
def test_bad_data_is_one_line_before_any_load(case: str, control: ControlClient, triton_url: str, tmp_path: Path) -> None:
    control.load("identity")
    extra: list[str] = []
    if case == "shape":  # an override sweep (--instances) on a model not yet loaded: checked all the same
        control.unload("identity")
        extra = ["--instances", "cpu:1"]
    data = tmp_path / "data.json"
    if case == "unreadable":
        data.write_text("{not json")
        expected = "unreadable JSON"
    else:
        document, expected = BAD[case]
        data.write_text(json.dumps(document))
    before = control.statistics("identity").success_count if not extra else 0
    result = harness(
        "sweep",
        "--url",
        triton_url,
        "--model",
        "identity",
        "--input-data",
        str(data),
        "--output",
        str(tmp_path / "run"),
        *QUICK,
        *extra,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith(f"harness sweep: error: --input-data {data}: {expected}"), lines[0]
    refused = json.loads((tmp_path / "run" / "run.json").read_text())  # the run folder says so too, nothing measured
    assert refused["metadata"]["complete"] is False and refused["curves"] == []
    assert lines[0] == f"harness sweep: error: {refused['metadata']['interrupted']}"
    assert control.statistics("identity").success_count == before  # not one request sent


LOCUSTFILE = ROOT / "loadtests" / "triton_grpc.py"


def locust(url: str, data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-t",
        "2s",
        "--host",
        url,
        "--input-data",
        str(data),
        "--latency-file",
        str(out / "lat.json"),
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=out)


def test_plain_locust_cycles_through_the_entries(
    identity_recorder: Path, control: ControlClient, triton_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"data": [{"INPUT0": [float(i)] * 16} for i in (7, 8)]}))
    result = locust(triton_url, data, tmp_path, "--model", "identity", "-u", "1", "-r", "1")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    seen = recorded(identity_recorder)
    assert len(seen) >= 10 and seen == cycle([7.0, 8.0], len(seen))
    assert json.loads((tmp_path / "lat.json").read_text())["requests"] <= len(seen)


def test_plain_locust_refuses_bad_data_in_one_line_and_sends_nothing(
    control: ControlClient, triton_url: str, tmp_path: Path
) -> None:
    control.load("identity")
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"data": [{"INPUT0": [0.0] * 16}, {"INPUT0": [0.0] * 15}]}))
    before = control.statistics("identity").success_count
    result = locust(triton_url, data, tmp_path, "--model", "identity", "-u", "2", "-r", "2")
    errors = [line for line in result.stderr.splitlines() if "/ERROR/harness: " in line]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert len(errors) == 1 and errors[0].endswith(
        f"--input-data {data}: entry 1, input 'INPUT0': shape [15], the model takes [16]"
    ), result.stderr[-2000:]
    assert control.statistics("identity").success_count == before
    assert json.loads((tmp_path / "lat.json").read_text())["requests"] == 0


def test_harness_ui_refuses_bad_data_at_startup(control: ControlClient, triton_url: str, tmp_path: Path) -> None:
    control.load("identity")
    result = harness("ui", "--url", triton_url, "--model", "identity", "--input-data", str(tmp_path / "absent"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and lines == [
        f"harness ui: error: --input-data {tmp_path / 'absent'}: no such file or folder"
    ], result.stderr[-2000:]


def test_harness_ui_sends_the_data_of_its_start_form(identity_recorder: Path, triton_url: str, tmp_path: Path) -> None:
    """`harness ui --input-data A`: the start form's "Input data" field (a Locust custom argument) says which data
    the workers send; changed there to B, they send B's entries in turn."""
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps({"data": [{"INPUT0": [7.0] * 16}]}))
    second.write_text(json.dumps({"data": [{"INPUT0": [float(i)] * 16} for i in (4, 5, 6)]}))
    with harness_ui(triton_url, "identity", 1, tmp_path, "--input-data", str(first)) as (process, web):
        fields = [
            ("user_count", "1"),
            ("spawn_rate", "1"),
            ("host", triton_url),
            ("user_classes", "TritonUser"),
            ("model", "identity"),
            ("input_data", str(second)),
        ]
        with urllib.request.urlopen(
            urllib.request.Request(f"{web}/swarm", data=urllib.parse.urlencode(fields).encode()), timeout=10
        ) as response:
            assert json.load(response)["success"]
        deadline = time.monotonic() + 10
        while len(recorded(identity_recorder)) < 12 and time.monotonic() < deadline:
            time.sleep(0.2)
        urllib.request.urlopen(urllib.request.Request(f"{web}/stop", data=b""), timeout=10).close()
        assert stop_process(process, signal.SIGTERM) == 130
    seen = recorded(identity_recorder)
    assert len(seen) >= 12 and seen == cycle([4.0, 5.0, 6.0], len(seen))


def test_shape_sizes_the_variable_dimensions_of_random_inputs(triton_url: str, tmp_path: Path) -> None:
    """No --input-data: --shape sizes a variable dimension of the seeded random tensors (16 without it)."""
    with recording(triton_url, "identity", "INPUT0", "FP32", [-1], tmp_path / "record.txt") as record:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "-t",
                "1s",
                "--host",
                triton_url,
                "--model",
                "identity",
                "--shape",
                "INPUT0:5",
                "-u",
                "1",
                "-r",
                "1",
                "--batch-size",
                "3",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        shapes = recorded_shapes(record)
    assert len(shapes) >= 5 and set(shapes) == {"3x5"}


def test_a_shape_for_an_input_the_model_lacks_is_one_line(control: ControlClient, triton_url: str, tmp_path: Path) -> None:
    control.load("identity")
    result = harness(
        "sweep", "--url", triton_url, "--model", "identity", "--shape", "TOKENS:8", "--output", str(tmp_path / "run"), *QUICK
    )
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "harness sweep: error: --shape TOKENS: model 'identity' has no input 'TOKENS'; its inputs: INPUT0"
    ]
    refused = json.loads((tmp_path / "run" / "run.json").read_text())["metadata"]  # the run folder says so too
    assert refused["complete"] is False and refused["interrupted"].startswith("--shape TOKENS: model 'identity'")


def test_validation_data_is_checked_under_load(control: ControlClient, triton_url: str, tmp_path: Path) -> None:
    """identity answers its input: an entry whose validation_data says otherwise fails each time it is sent, named in
    the level's first error; the right entries succeed. Triton's own success count says every request was served."""
    control.load("identity")
    data = tmp_path / "data.json"
    wrong = [3.0] * 16
    wrong[5] = 7.5
    document = {
        "data": [{"INPUT0": [1.0] * 16}, {"INPUT0": [3.0] * 16}],
        "validation_data": [{"OUTPUT0": [1.0] * 16}, {"OUTPUT0": wrong}],
    }
    data.write_text(json.dumps(document))
    before = control.statistics("identity").success_count
    _sweep_identity(triton_url, data, tmp_path / "run")
    (level,) = _levels(_sweep_run(tmp_path / "run"))
    assert level["first_error"] == "validation: entry 1, output 'OUTPUT0': 3 at element 5, expected 7.5"
    assert abs(level["failures"] - level["requests"] / 2) <= 1  # one lane, the entries in turn: every second one
    served = control.statistics("identity").success_count - before
    assert served >= level["requests"]  # Triton served them all: the failures are the harness's check, not the server
