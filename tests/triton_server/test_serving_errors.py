"""Bad input gets one clear error: unknown models, bad tensors, a missing binary, a busy port, a broken config,
an unreachable server. Library calls raise the right harness.errors type; the CLI prints one line, no traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ConfigError, ModelError, ServerError
from harness.net import free_port
from harness.record.model import InstanceGroup
from harness.triton.control import ControlClient, make_inputs
from harness.triton.repository import BUNDLED_REPOSITORY
from harness.triton.server import LocalServer, error_lines
from harness.triton.variants import Variant, load_variant
from helpers.processes import HARNESS_SCRIPT

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_MODELS = ("fixed_delay", "identity", "mnist_cnn", "mnist_cnn_int8", "resnet50", "sentiment")


def run_harness(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it (subprocess.run kills it by PID on a timeout)."""
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_TRITONSERVER"}
    return subprocess.run(
        [HARNESS_SCRIPT, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
        cwd=REPO_ROOT,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], command: str, *mentions: str) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {lines!r}"
    line = lines[0]
    assert line.startswith(f"harness {command}: error:"), line
    for mention in mentions:
        assert mention in line, f"{mention!r} not in {line!r}"
    return line


# --- unknown models ---------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_load_variant_unknown_model_lists_the_models(control: ControlClient) -> None:
    with pytest.raises(ModelError) as info:
        load_variant(control, "mnist_cnnn", Variant(InstanceGroup("CPU", 1)))
    message = str(info.value)
    assert "unknown model 'mnist_cnnn'" in message
    for name in BUNDLED_MODELS:
        assert name in message
    assert "_nets" not in message  # shared code, not a model
    assert "\n" not in message


@pytest.mark.integration
def test_infer_unknown_model(control: ControlClient) -> None:
    with pytest.raises(ModelError, match="unknown model") as info:
        control.infer("no_such_model", {"INPUT0": np.zeros((1, 16), np.float32)})
    assert "no_such_model" in str(info.value)


@pytest.mark.integration
def test_load_unknown_model(control: ControlClient) -> None:
    with pytest.raises(ModelError, match="no_such_model"):
        control.load("no_such_model")


# --- bad tensors to a loaded model ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_loaded(triton_url: str) -> Iterator[ControlClient]:
    """mnist_cnn loaded once for the bad-tensor tests."""
    with ControlClient(triton_url) as control:
        control.load("mnist_cnn")
        try:
            yield control
        finally:
            control.unload("mnist_cnn")


@pytest.mark.integration
def test_wrong_input_shape(mnist_loaded: ControlClient) -> None:
    with pytest.raises(ModelError) as info:
        mnist_loaded.infer("mnist_cnn", {"image": np.zeros((1, 1, 28, 27), np.float32)})
    message = str(info.value)
    assert message.startswith("model 'mnist_cnn': ")
    assert "unexpected shape for input 'image'" in message
    assert "[1,1,28,27]" in message


@pytest.mark.integration
def test_wrong_input_dtype(mnist_loaded: ControlClient) -> None:
    with pytest.raises(ModelError) as info:
        mnist_loaded.infer("mnist_cnn", {"image": np.zeros((1, 1, 28, 28), np.float64)})
    message = str(info.value)
    assert "'image'" in message and "FP64" in message and "FP32" in message


@pytest.mark.integration
def test_wrong_input_name(mnist_loaded: ControlClient) -> None:
    with pytest.raises(ModelError, match="mnist_cnn") as info:
        mnist_loaded.infer("mnist_cnn", {"pixels": np.zeros((1, 1, 28, 28), np.float32)})
    assert "pixels" in str(info.value)
    # The model still serves good requests afterwards.
    good = make_inputs(mnist_loaded.model_spec("mnist_cnn"), 1)
    assert mnist_loaded.infer("mnist_cnn", good)["logits"].shape == (1, 10)


def test_make_inputs_rejects_oversized_batch() -> None:
    from harness.triton.control import ModelSpec, TensorSpec

    spec = ModelSpec("m", (TensorSpec("x", "FP32", (-1, 4)),), (TensorSpec("y", "FP32", (-1, 4)),), max_batch_size=8)
    with pytest.raises(ModelError, match="max_batch_size 8"):
        make_inputs(spec, 9)
    flat = ModelSpec("f", spec.inputs, spec.outputs, max_batch_size=0)
    with pytest.raises(ModelError, match="does not batch"):
        make_inputs(flat, 2)


# --- server start-up --------------------------------------------------------------------------------------------


def test_missing_binary_raises_server_error(tmp_path: Path) -> None:
    server = LocalServer(BUNDLED_REPOSITORY, tmp_path / "triton.log", binary="/nonexistent/tritonserver")
    with pytest.raises(ServerError, match="/nonexistent/tritonserver") as info:
        server.start()
    assert "--tritonserver" in str(info.value)
    assert server.pid is None


def test_missing_repository_raises_server_error(tmp_path: Path) -> None:
    server = LocalServer(tmp_path / "nowhere", tmp_path / "triton.log")
    with pytest.raises(ServerError, match="not a folder"):
        server.start()
    assert server.pid is None


def test_cli_serve_missing_binary(tmp_path: Path) -> None:
    result = run_harness("serve", "--tritonserver", "/nonexistent", "--log", str(tmp_path / "t.log"))
    assert_one_line_error(result, "serve", "'/nonexistent'", "--tritonserver")


@pytest.fixture()
def occupied_port() -> Iterator[int]:
    """A loopback port some other program is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


def test_local_server_on_occupied_port(occupied_port: int, tmp_path: Path) -> None:
    server = LocalServer(BUNDLED_REPOSITORY, tmp_path / "triton.log", grpc_port=occupied_port)
    with pytest.raises(ServerError, match=f"port {occupied_port} .* already in use"):
        server.start()
    assert server.pid is None


def test_cli_serve_occupied_port(occupied_port: int, tmp_path: Path) -> None:
    result = run_harness("serve", "--models", "identity", "--grpc-port", str(occupied_port), "--log", str(tmp_path / "t.log"))
    line = assert_one_line_error(result, "serve", str(occupied_port), "already in use", "--grpc-port")
    assert result.returncode == ServerError.exit_code, line


# --- a broken config.pbtxt --------------------------------------------------------------------------------------


def _tmp_repository(tmp_path: Path, models: tuple[str, ...]) -> Path:
    """A copy of some bundled models, with the _nets code their model.py files import."""
    repository = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("_nets", *models):
        shutil.copytree(BUNDLED_REPOSITORY / name, repository / name, ignore=ignore)
    return repository


@pytest.fixture()
def broken_repository(tmp_path: Path) -> Path:
    """mnist_cnn with an unparseable max_batch_size, beside a good identity."""
    repository = _tmp_repository(tmp_path, ("mnist_cnn", "identity"))
    config = repository / "mnist_cnn" / "config.pbtxt"
    text = config.read_text()
    assert "max_batch_size: 64" in text
    config.write_text(text.replace("max_batch_size: 64", 'max_batch_size: "abc"'))
    return repository


def test_cli_models_broken_config_names_the_file(broken_repository: Path) -> None:
    result = run_harness("models", "--model-repository", str(broken_repository))
    broken_file = str(broken_repository / "mnist_cnn" / "config.pbtxt")
    assert_one_line_error(result, "models", broken_file, "abc")


def test_cli_models_missing_repository(tmp_path: Path) -> None:
    result = run_harness("models", "--model-repository", str(tmp_path / "nowhere"))
    assert_one_line_error(result, "models", "nowhere", "not a folder")
    assert result.returncode == ConfigError.exit_code


@pytest.mark.integration
def test_server_load_of_broken_config(broken_repository: Path, tmp_path: Path) -> None:
    with LocalServer(broken_repository, tmp_path / "broken.log") as server, ControlClient(server.endpoints.grpc_url) as control:
        with pytest.raises(ModelError) as info:
            control.load("mnist_cnn")
        message = str(info.value)
        assert message.startswith("model 'mnist_cnn': ")
        assert "failed to load 'mnist_cnn'" in message  # Triton's message
        assert not control.is_ready("mnist_cnn")
        # The log says why; the good model beside it still loads and serves.
        assert any("mnist_cnn" in line and "config.pbtxt" in line for line in error_lines(server.log_path))
        control.load("identity")
        x = np.ones((1, 16), np.float32)
        assert np.array_equal(control.infer("identity", {"INPUT0": x})["OUTPUT0"], x)
    assert server.pid is None


@pytest.mark.integration
def test_server_load_of_inconsistent_config(tmp_path: Path) -> None:
    """A config that parses but that Triton rejects (preferred batch size above max_batch_size)."""
    repository = _tmp_repository(tmp_path, ("identity",))
    config = repository / "identity" / "config.pbtxt"
    config.write_text(config.read_text().replace("max_queue_delay_microseconds: 0", "preferred_batch_size: [ 128 ]"))
    with LocalServer(repository, tmp_path / "inconsistent.log") as server:
        with ControlClient(server.endpoints.grpc_url) as control, pytest.raises(ModelError, match="failed to load 'identity'"):
            control.load("identity")
        assert any("preferred size must be <= max batch size" in line for line in error_lines(server.log_path))


# --- an unreachable server --------------------------------------------------------------------------------------


def test_cli_models_unreachable_url() -> None:
    port = free_port()  # nobody listens there
    result = run_harness("models", "--url", f"127.0.0.1:{port}", timeout=60)
    assert_one_line_error(result, "models", "unreachable", f"127.0.0.1:{port}", "--url")
    assert result.returncode == ServerError.exit_code


def test_control_client_unreachable() -> None:
    with ControlClient(f"127.0.0.1:{free_port()}") as control:
        with pytest.raises(ServerError, match="unreachable"):
            control.check_reachable()
        with pytest.raises(ServerError, match="unreachable"):
            control.repository_models()
