"""An unknown model is one error in every command: the same class, the same exit code, one line naming the models."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.errors import UnknownModel
from harness.net import free_port
from helpers.processes import HARNESS, RUN_TIMEOUT_S

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("command", ["sweep", "ui"])
def test_unknown_model_exits_with_the_model_error_code(command: str, triton_url: str, tmp_path: Path) -> None:
    extra = ["--output", str(tmp_path / "run")] if command == "sweep" else ["--web-port", str(free_port())]
    result = subprocess.run(
        [*HARNESS, command, "--model", "no_such_model", "--url", triton_url, *extra],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=tmp_path,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == UnknownModel.exit_code, result.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"harness {command}: error: unknown model 'no_such_model'; the server's repository has: ")
    assert "mnist_cnn" in lines[0]
