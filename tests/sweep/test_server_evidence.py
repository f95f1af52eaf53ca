"""Server evidence and threads end to end: a sweep with its own tritonserver records the server's CPU and memory per
level, threads travel through the config override to the model, a dead metrics port gives nulls and one reason."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psutil
import pytest

from harness.record.model import InstanceGroup
from harness.triton.control import ControlClient, make_inputs
from harness.triton.probe import probe
from harness.triton.server import LocalServer, free_port
from harness.triton.variants import Variant, load_variant
from helpers.processes import command_lines, harness

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--warmup", "0.5s", "--window", "0.5s", "--max-windows", "4", "--workers", "1"]


def sweep(args: list[str]) -> subprocess.CompletedProcess[str]:
    return harness("sweep", *args)


def test_own_server_sweep_records_cpu_memory_and_threads(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    result = sweep(["--model", "mnist_cnn", "--instances", "cpu:1x2", "--concurrency", "2", "--output", str(folder), *QUICK])
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((folder / "run.json").read_text())
    (curve,) = data["curves"]
    assert curve["instance_group"] == {"kind": "CPU", "count": 1, "threads": 2, "source": "override"}
    assert curve["model_config"]["parameters"]["INTRA_OP_THREAD_COUNT"] == {"string_value": "2"}
    (level,) = curve["levels"]
    # Triton's own statistics give a floor: the instance computed for compute_infer us per request.
    busy = level["server_us"]["compute_infer"] * level["achieved_rps"] / 1e6
    assert 0.5 * busy <= level["server_cpu_cores"] <= (os.cpu_count() or 1) * 1.05
    assert level["server_memory_mb"] > 50  # tritonserver plus a torch stub
    assert level["gpu_utilization"] is None and level["gpu_memory_mb"] is None
    assert level["power_w"] is None and level["energy_j_per_1k"] is None
    assert "server_metrics_note" not in data["metadata"]["settings"]
    assert f"cpu:1x2 reaches {level['achieved_rps']:,.0f} req/s with the server at" in result.stdout


def test_remote_server_with_a_dead_metrics_port(triton_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    dead = f"127.0.0.1:{free_port()}"
    result = sweep(
        [
            "--model",
            "identity",
            "--url",
            triton_url,
            "--instances",
            "cpu:1",
            "--metrics-url",
            dead,
            "--concurrency",
            "1,2",
            "--output",
            str(folder),
            *QUICK,
        ]
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count("did not answer") == 1 and dead in result.stderr
    data = json.loads((folder / "run.json").read_text())
    assert dead in data["metadata"]["settings"]["server_metrics_note"]
    for level in data["curves"][0]["levels"]:
        assert level["requests"] > 0
        for name in ("server_cpu_cores", "server_memory_mb", "gpu_utilization", "gpu_memory_mb", "power_w", "energy_j_per_1k"):
            assert level[name] is None, name


def _identity_sweep(url: str, metrics_url: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return sweep(
        ["--model", "identity", "--url", url, "--instances", "cpu:1", "--metrics-url", metrics_url]
        + ["--concurrency", "2", "--output", str(folder), *QUICK]
    )


def test_a_metrics_endpoint_of_another_triton_is_refused_and_the_servers_own_is_kept(
    triton: LocalServer, tmp_path: Path
) -> None:
    """A second real Triton, serving the same model, listens on the probed metrics port (a colleague's server on
    HOST:8002): its counts do not move with the sweep's, so its figures are not this run's. The server's own
    endpoint, probed the same way (--url, --metrics-url), passes the same check."""
    with LocalServer(triton.repository, tmp_path / "other-triton.log") as other:
        with ControlClient(other.endpoints.grpc_url) as other_control:
            other_control.load("identity")
        foreign = other.endpoints.metrics_url
        assert foreign is not None
        result = _identity_sweep(triton.endpoints.grpc_url, foreign, tmp_path / "foreign")
    assert result.returncode == 0, result.stderr[-2000:]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: server metrics:")]
    assert len(warnings) == 1 and f"{foreign} is not the endpoint of the server under test" in warnings[0], warnings
    assert "moved by 0 while the server's statistics counted" in warnings[0] and "--metrics-url" in warnings[0]
    data = json.loads((tmp_path / "foreign" / "run.json").read_text())
    assert data["metadata"]["settings"]["server_metrics_note"] == warnings[0].removeprefix("warning: ")
    (level,) = data["curves"][0]["levels"]
    assert level["requests"] > 0
    assert [level[name] for name in ("gpu_utilization", "gpu_memory_mb", "power_w", "energy_j_per_1k")] == [None] * 4

    own = triton.endpoints.metrics_url
    assert own is not None
    result = _identity_sweep(triton.endpoints.grpc_url, own, tmp_path / "own")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "server metrics" not in result.stderr, result.stderr[-2000:]
    assert "server_metrics_note" not in json.loads((tmp_path / "own" / "run.json").read_text())["metadata"]["settings"]


def _stub_threads(server: LocalServer, model: str) -> int:
    """The newest stub of `model`: the one a reload left behind may still be exiting."""
    stubs = [p for p, line in command_lines(psutil.Process(server.pid).children(recursive=True)) if f"/{model}/" in line]
    return max(stubs, key=lambda p: p.create_time()).num_threads()


def test_threads_reach_the_model_through_the_config(triton: LocalServer, control: ControlClient) -> None:
    """The stub's own thread count (the OS's view) grows with the threads the variant asks for."""
    counts = {}
    for threads in (1, 2, 3):
        load_variant(control, "mnist_cnn", Variant(InstanceGroup("CPU", 1, threads=threads)))
        probe(triton.endpoints.grpc_url, "mnist_cnn", make_inputs(control.model_spec("mnist_cnn"), 8), calls=5)
        counts[threads] = _stub_threads(triton, "mnist_cnn")
    control.unload("mnist_cnn")
    assert counts[1] < counts[2] < counts[3], counts  # each extra intra-op thread is a thread of the stub
