"""GPU paths have never run on a GPU here: the README and every report with a GPU curve or figure say so, and name
the one command that would check them (no browser needed: the rendered banner element is asserted)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.report.run_page import GPU_UNVERIFIED, render_report
from helpers.factories import curve, level, run

ROOT = Path(__file__).resolve().parents[2]


def _banners(page: str) -> list[str]:
    return re.findall(r'<p class="banner warn">([^<]*)</p>', page)


def test_a_report_with_a_gpu_curve_or_figure_says_gpu_paths_are_unverified() -> None:
    skipped = run([curve("CPU", 1, [level(1, 100.0, 5.0)]), curve("GPU", 1, skipped="no GPU on this host")])
    measured = run([curve("CPU", 1, [level(1, 100.0, 5.0, gpu_utilization=0.4)])])
    for page in (render_report(skipped), render_report(measured)):
        (note,) = [b for b in _banners(page) if b.startswith("Not yet verified on a GPU")]
        assert "scripts/gpu_check.sh" in note and "results/gpu/" in note
    assert "Not yet verified on a GPU" not in render_report(run([curve("CPU", 1, [level(1, 100.0, 5.0)])]))
    assert "scripts/gpu_check.sh" in GPU_UNVERIFIED


def test_the_readme_says_it_and_names_the_one_command() -> None:
    text = " ".join((ROOT / "README.md").read_text().split())
    (paragraph,) = re.findall(r"\*\*Not yet verified on a GPU\.\*\*[^*]*", text)
    for what in ("GPU instance groups", "GPU metrics", "GPU verdicts", "`scripts/gpu_check.sh`", "`results/gpu/`"):
        assert what in paragraph, what
