"""GPU paths have never run on a GPU here. A run that measured no GPU says so (no_gpu_note, tested with the browser);
a run that did measure one, or recorded a GPU figure, says that these figures come from code not yet verified on a
GPU and names the one command that would check it. The README says the same. No browser: the rendered banner
element is asserted."""

from __future__ import annotations

import re
from pathlib import Path

from harness.report.run_page import GPU_CHECK, render_report
from helpers.factories import curve, level, run

ROOT = Path(__file__).resolve().parents[2]


def _unverified(page: str) -> list[str]:
    return [b for b in re.findall(r'<p class="banner warn gpu">([^<]*)</p>', page) if b.startswith("Not yet verified")]


def test_a_report_with_a_measured_gpu_curve_or_figure_says_it_is_unverified() -> None:
    measured = run([curve("CPU", 1, [level(1, 100.0, 5.0)]), curve("GPU", 1, [level(1, 900.0, 3.0)])])
    figure = run([curve("CPU", 1, [level(1, 100.0, 5.0, gpu_utilization=0.4)])])
    for page in (render_report(measured), render_report(figure)):
        (note,) = _unverified(page)
        assert f"run {GPU_CHECK} on this machine" in note and "results/gpu/" in note
    skipped = run([curve("CPU", 1, [level(1, 100.0, 5.0)]), curve("GPU", 1, skipped="no GPU on this host")])
    assert _unverified(render_report(skipped)) == []  # "No GPU was measured in this run" says it there


def test_the_readme_says_it_and_names_the_one_command() -> None:
    text = " ".join((ROOT / "README.md").read_text().split())
    (paragraph,) = re.findall(r"\*\*GPU: not yet verified on a GPU\.\*\*[^*]*", text)
    for what in ("GPU instance groups", "GPU metrics", "verdicts", f"`{GPU_CHECK}`", "`results/gpu/`"):
        assert what in paragraph, what
