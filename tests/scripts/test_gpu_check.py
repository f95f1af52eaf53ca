"""scripts/gpu_check.py prints the torch threads the server's instances used, not an environment variable that
nothing reads: the real script, its own real Triton, a fast model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_threads_printed_are_the_ones_the_server_used() -> None:
    # HARNESS_TORCH_THREADS is set to a value no instance uses: the bundled models read the config parameter
    # INTRA_OP_THREAD_COUNT (model_repository/_nets/serving.py), which --threads sets, and nothing reads the variable.
    env = {**os.environ, "HARNESS_TORCH_THREADS": "7", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "scripts/gpu_check.py", "--model", "identity", "--calls", "3", "--threads", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "cpu:1  torch intra-op threads per instance: 2 (INTRA_OP_THREAD_COUNT in the loaded config)" in lines
    assert not any("7" in line.split(":", 1)[-1] for line in lines if "threads" in line), result.stdout
    assert any(line.startswith("cpu:1  batch  1  median") for line in lines)
    assert any(line.startswith("gpu:1  skipped: no GPU") for line in lines) or "GPU: none" not in result.stdout
