"""README's "Is a GPU necessary for my model?" walkthrough, run as written: its bash block, read from the README and
run by bash in an empty folder holding the user's .pt file, `harness` being the installed command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.record.store import load_run
from helpers.processes import HARNESS_SCRIPT

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HEADING = "## Is a GPU necessary for my model?"
TRACE = """
import sys, torch
sys.path.insert(0, sys.argv[1])
from nets import build_mnist_cnn
torch.jit.trace(build_mnist_cnn(), torch.randn(2, 1, 28, 28)).save("my_model.pt")
"""


def readme_block() -> str:
    section = (ROOT / "README.md").read_text().split(HEADING, 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


def test_the_readme_plan_walkthrough_runs_as_written(tmp_path: Path) -> None:
    nets = ROOT / "model_repository" / "_nets"
    subprocess.run([sys.executable, "-c", TRACE, str(nets)], cwd=tmp_path, check=True, timeout=120)
    block = readme_block()
    assert "harness import-model my_model.pt" in block and "harness plan --model my_model" in block
    path = f"{Path(HARNESS_SCRIPT).parent}:{os.environ.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-e", "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ, "PATH": path}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = load_run(tmp_path / "results" / "my_plan")
    assert run.plan is not None and [s.rps for s in run.plan.steps] == [40.0, 150.0, 300.0, 120.0]
    assert {c.configuration for c in run.plan.candidates} == {"cpu:1", "cpu:2"}
    assert all(c.fit is not None and c.error_mean is not None for c in run.plan.candidates)
    assert run.plan.confirmation is not None and run.plan.confirmation.measured_ms is not None
    # what the queueing fit reads: Poisson arrivals (CV 1) in every level, the confirming one too; constant arrivals
    # (CV near 0) once reached the workers while the plan said Poisson, and confirmed nothing
    assert run.metadata.settings["arrivals"] == "poisson"
    cvs = [lv.arrivals_cv for c in run.curves for lv in c.levels]
    assert cvs and all(cv is not None and cv > 0.6 for cv in cvs), cvs
    assert f"plan: {run.plan.sentence}" in result.stdout
    assert (tmp_path / "results" / "my_plan" / "report.html").is_file()
