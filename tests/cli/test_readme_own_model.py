"""The "Your own model" walkthrough (docs/own-model.md, linked from the README), run as written: the commands are
read from the page itself."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.triton.repository import BUNDLED_REPOSITORY

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TRACE = f"""
import sys, torch
sys.path.insert(0, {str(BUNDLED_REPOSITORY / "_nets")!r})
from nets import build_mnist_cnn
torch.jit.trace(build_mnist_cnn(), torch.randn(2, 1, 28, 28)).save("my_model.pt")
"""


def walkthrough() -> list[list[str]]:
    """The first bash block of docs/own-model.md, one argv per command (continuations joined)."""
    section = (ROOT / "docs" / "own-model.md").read_text().split("## From a model file to a verdict", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    commands = walkthrough()
    assert [c[:2] for c in commands] == [
        ["mkdir", "-p"],
        ["harness", "import-model"],
        ["harness", "sweep"],
        ["harness", "verdict"],
    ]
    subprocess.run([sys.executable, "-c", TRACE], cwd=tmp_path, check=True, timeout=120)  # the user's .pt file
    outputs = []
    for command in commands:
        argv = [sys.executable, "-m", "harness.cli", *command[1:]] if command[0] == "harness" else command
        result = subprocess.run(
            argv,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
        )
        assert result.returncode == 0, (command, result.stderr[-2000:])
        outputs.append(result.stdout)
    assert (tmp_path / "my_repository" / "my_model" / "config.pbtxt").is_file()
    assert 'platform: "pytorch_libtorch"' in outputs[1]
    assert (tmp_path / "results" / "my_model" / "report.html").is_file()
    assert "cpu:1" in outputs[3] and "cpu:2" in outputs[3]
