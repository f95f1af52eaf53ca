"""`harness models` and `harness serve` as a user runs them: subprocesses of the installed CLI."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from harness.net import free_port
from harness.triton.control import ControlClient, make_inputs
from helpers.processes import HARNESS_SCRIPT, orphaned_shm, shm_regions

REPO_ROOT = Path(__file__).resolve().parents[2]

# model -> (input line, output line, instance groups line) of `harness models`
EXPECTED = {
    "fixed_delay": ("INPUT0 FP32[1]", "OUTPUT0 FP32[1]", "cpu:1; max_batch_size 8; no dynamic batching"),
    "identity": ("INPUT0 FP32[16]", "OUTPUT0 FP32[16]", "cpu:1; max_batch_size 64; dynamic batching"),
    "mnist_cnn": ("image FP32[1, 28, 28]", "logits FP32[10]", "cpu:1; max_batch_size 64; dynamic batching"),
    "mnist_cnn_int8": ("image FP32[1, 28, 28]", "logits FP32[10]", "cpu:1; max_batch_size 64; dynamic batching"),
    "resnet50": ("image FP32[3, 224, 224]", "logits FP32[1000]", "cpu:1; max_batch_size 16; dynamic batching"),
    "sentiment": ("tokens INT64[64]", "logits FP32[2]", "cpu:1; max_batch_size 32; dynamic batching"),
}


def _env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "HARNESS_TRITONSERVER"}, "PYTHONUNBUFFERED": "1"}


def run_harness(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HARNESS_SCRIPT, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
        stdin=subprocess.DEVNULL,
        cwd=REPO_ROOT,
    )


def _blocks(stdout: str) -> dict[str, str]:
    """`harness models` output split per model: header line 'name  [state]' followed by indented lines."""
    blocks: dict[str, str] = {}
    name = ""
    for line in stdout.splitlines():
        if line and not line.startswith(" "):
            name = line.split()[0]
            blocks[name] = line
        elif name:
            blocks[name] += "\n" + line
    return blocks


def test_models_lists_the_repository_without_a_server() -> None:
    result = run_harness("models")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    blocks = _blocks(result.stdout)
    assert sorted(blocks) == sorted(EXPECTED)
    for name, (inputs, outputs, groups) in EXPECTED.items():
        block = blocks[name]
        assert block.splitlines()[0] == f"{name}  [in repository]"
        assert f"inputs:  {inputs}" in block
        assert f"outputs: {outputs}" in block
        assert f"instance groups: {groups}" in block


@pytest.mark.integration
def test_models_on_a_running_server_shows_ready(control: ControlClient, triton_url: str) -> None:
    control.load("mnist_cnn")
    try:
        result = run_harness("models", "--url", triton_url)
    finally:
        control.unload("mnist_cnn")
    assert result.returncode == 0, result.stderr
    blocks = _blocks(result.stdout)
    assert sorted(blocks) == sorted(EXPECTED)  # and no '_nets': shared code, not a model
    mnist = blocks["mnist_cnn"]
    assert mnist.splitlines()[0] == "mnist_cnn  [READY]"
    assert "inputs:  image FP32[1, 28, 28]" in mnist
    assert "outputs: logits FP32[10]" in mnist
    assert "instance groups: cpu:1; max_batch_size 64; dynamic batching" in mnist
    assert "[READY]" not in blocks["resnet50"]
    assert len(blocks["resnet50"].splitlines()) == 1


# --- harness serve ----------------------------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, session id) of a live, non-zombie process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rpartition(")")[2].split()
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[3])


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _children(pid: int) -> list[int]:
    return [child for child in _pids() if (stat := _proc_stat(child)) and stat[0] == pid]


def _session_members(sid: int) -> list[int]:
    return [pid for pid in _pids() if (stat := _proc_stat(pid)) and stat[1] == sid]


def _listening(port: int) -> bool:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def _pump(stream, lines: queue.Queue[str | None]) -> None:  # type: ignore[no-untyped-def]
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


@pytest.mark.integration
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_until_stopped(stop_signal: int, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve" / "triton.log"
    shm_before = shm_regions()
    proc = subprocess.Popen(
        [HARNESS_SCRIPT, "serve", "--models", "identity", "--grpc-port", str(port), "--log", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    out: queue.Queue[str | None] = queue.Queue()
    err: queue.Queue[str | None] = queue.Queue()
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    stdout: list[str] = []
    server_pid: int | None = None
    try:
        deadline = time.monotonic() + 120
        while not any(line.startswith("ready models:") for line in stdout):
            try:
                line = out.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no 'ready models:' within 120 s; stdout so far: {stdout}")
            if line is None:
                proc.wait(timeout=30)
                stderr = "".join(f"{x}\n" for x in iter(err.get, None))
                pytest.fail(f"harness serve exited {proc.returncode} early: {stdout} {stderr}")
            stdout.append(line)

        assert "ready models: identity" in stdout
        assert any(line.strip().startswith("identity: ready") for line in stdout)
        url_line = next(line for line in stdout if line.startswith("gRPC URL:"))
        url = url_line.split()[2]
        assert url == f"127.0.0.1:{port}"

        children = _children(proc.pid)
        assert len(children) == 1, f"expected one tritonserver child, found {children}"
        server_pid = children[0]
        assert "tritonserver" in Path(f"/proc/{server_pid}/cmdline").read_bytes().decode(errors="replace")
        assert _listening(port)

        with ControlClient(url) as control:
            assert control.is_ready("identity")
            inputs = make_inputs(control.model_spec("identity"), 2, seed=5)
            assert np.array_equal(control.infer("identity", inputs)["OUTPUT0"], inputs["INPUT0"])

        proc.send_signal(stop_signal)
        assert proc.wait(timeout=60) == 130  # Ctrl-C and SIGTERM alike (docs/serving-and-load.md, "Stopping")
        for reader in readers:
            reader.join(timeout=10)
        stdout += [line for line in iter(out.get, None)]
        stderr = [line for line in iter(err.get, None)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if server_pid is not None and _proc_stat(server_pid) is not None:
            os.killpg(server_pid, signal.SIGKILL)  # its own session: tritonserver and its backend stubs

    assert "server stopped." in stdout, stdout
    assert not any("Traceback" in line for line in stdout + stderr), stderr
    # Nothing left behind: no tritonserver, no backend stub of its session, no listener, no orphan shared memory.
    assert _proc_stat(server_pid) is None
    assert _session_members(server_pid) == []
    assert not _listening(port)
    orphans = orphaned_shm(shm_before)
    assert not orphans, f"shared-memory regions left behind: {orphans}"
    assert log.is_file()
