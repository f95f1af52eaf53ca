"""A running server measured as deployed: Triton started as its docs start it (`tritonserver --model-repository=...`),
in each model-control mode. The harness never loads or unloads there; `--instances` needs explicit mode.

Independent checks: the served config comes back from Triton's own config API, and Triton's log says how many
times the model was loaded (a reload by the harness would add a line).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.triton.control import ControlClient
from harness.triton.repository import BUNDLED_REPOSITORY
from harness.triton.server import LocalServer
from helpers.processes import harness, harness_ui, stop_process

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--warmup", "0.3s", "--window", "0.5s", "--max-windows", "3", "--workers", "1", "--concurrency", "2"]
SERVED_NAME = "deployed cpu:2, max_batch_size 64, dynamic batching, python"
LOADED_LINE = "successfully loaded 'identity'"


def _repository(tmp_path: Path) -> Path:
    """identity with two CPU instances in its files: what the deployed curve must report."""
    repository = tmp_path / "repo"
    shutil.copytree(BUNDLED_REPOSITORY / "identity", repository / "identity")
    config = repository / "identity" / "config.pbtxt"
    config.write_text(config.read_text().replace("kind: KIND_CPU count: 1", "kind: KIND_CPU count: 2"))
    return repository


@pytest.fixture(params=[None, "poll"], ids=["none", "poll"], scope="module")
def docs_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """Triton's default mode (no --model-control-mode flag: `none`, every model loaded at start) and `poll`."""
    tmp = tmp_path_factory.mktemp(f"mode-{request.param}")
    with LocalServer(_repository(tmp), tmp / "triton.log", model_control_mode=request.param) as server:
        _settle(server)
        yield server


def _settle(server: LocalServer) -> None:
    """In poll mode Triton reloads the model once more on its first poll, right after start (its own doing: seen
    with no client connected). Wait until the count of loads holds still for 3 s."""
    deadline, last, since = time.monotonic() + 30, -1, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < 3:
        if _loads(server) != last:
            last, since = _loads(server), time.monotonic()
        time.sleep(0.2)


def _loads(server: LocalServer) -> int:
    return server.log_path.read_text().count(LOADED_LINE)


def _check_deployed_run(folder: Path, url: str) -> None:
    run = json.loads((folder / "run.json").read_text())
    (curve,) = run["curves"]
    assert curve["instance_group"] == {"kind": "CPU", "count": 2, "source": "deployed", "threads": None}
    assert curve["configuration"] == SERVED_NAME
    assert curve["max_batch_size"] == 64 and curve["dynamic_batching"] is True
    with ControlClient(url) as control:
        assert curve["model_config"] == control.model_config("identity")
    (level,) = curve["levels"]
    assert level["requests"] > 0 and level["failures"] == 0
    report = (folder / "report.html").read_text()
    assert f"<summary>{SERVED_NAME}: effective model config</summary>" in report


def test_sweep_measures_the_model_as_deployed(docs_server: LocalServer, tmp_path: Path) -> None:
    url, loads = docs_server.endpoints.grpc_url, _loads(docs_server)
    result = harness("sweep", "--url", url, "--model", "identity", "--output", str(tmp_path / "run"), *QUICK)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "run complete" in result.stdout and SERVED_NAME in result.stdout
    _check_deployed_run(tmp_path / "run", url)
    assert _loads(docs_server) == loads >= 1


def test_instances_refused_before_any_load(docs_server: LocalServer, tmp_path: Path) -> None:
    url, loads = docs_server.endpoints.grpc_url, _loads(docs_server)
    result = harness(
        "sweep", "--url", url, "--model", "identity", "--instances", "cpu:1", "--output", str(tmp_path / "run"), *QUICK
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("harness sweep: error:") and "--model-control-mode=explicit" in lines[0]
    assert "run complete" not in result.stdout
    refused = json.loads((tmp_path / "run" / "run.json").read_text())  # the run folder says so too, nothing measured
    assert refused["metadata"]["complete"] is False and refused["curves"] == []
    assert lines[0] == f"harness sweep: error: {refused['metadata']['interrupted']}"
    assert _loads(docs_server) == loads
    with ControlClient(url) as control:
        assert control.model_config("identity")["instance_group"][0]["count"] == 2


def test_models_and_ui_read_a_non_explicit_server(docs_server: LocalServer, tmp_path: Path) -> None:
    url, loads = docs_server.endpoints.grpc_url, _loads(docs_server)
    listed = harness("models", "--url", url)
    assert listed.returncode == 0 and "identity  [READY]" in listed.stdout
    assert "instance groups: cpu:2; max_batch_size 64; dynamic batching" in listed.stdout
    with harness_ui(url, "identity", 1, tmp_path) as (process, _web):
        assert process.poll() is None
        assert stop_process(process) == 130  # SIGTERM stops it as Ctrl-C does
    assert _loads(docs_server) == loads


def test_explicit_mode_measures_the_loaded_config_without_reloading(
    control: ControlClient, triton: LocalServer, tmp_path: Path
) -> None:
    """In explicit mode too, no --instances means: as served. The model was loaded with an override (cpu:2);
    a reload from the files would bring back cpu:1."""
    config = control.model_config("identity") if control.is_ready("identity") else None
    control.load("identity", {**(config or _files_config(control)), "instance_group": [{"kind": "KIND_CPU", "count": 2}]})
    try:
        loads = _loads(triton)
        result = harness(
            "sweep", "--url", triton.endpoints.grpc_url, "--model", "identity", "--output", str(tmp_path / "run"), *QUICK
        )
        assert result.returncode == 0, result.stderr[-2000:]
        _check_deployed_run(tmp_path / "run", triton.endpoints.grpc_url)
        assert _loads(triton) == loads
    finally:
        control.unload("identity")


def test_deployed_sweep_needs_the_model_served(control: ControlClient, triton: LocalServer, tmp_path: Path) -> None:
    if control.is_ready("identity"):
        control.unload("identity")
    result = harness(
        "sweep", "--url", triton.endpoints.grpc_url, "--model", "identity", "--output", str(tmp_path / "run"), *QUICK
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 4 and len(lines) == 1 and "is not loaded" in lines[0], result.stderr
    assert not control.is_ready("identity") and "run complete" not in result.stdout


def _files_config(control: ControlClient) -> dict:
    control.load("identity")
    return control.model_config("identity")
