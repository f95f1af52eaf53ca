"""The terminal's last words on a measuring run: how it ended, where its files are, what each curve sustains."""

from __future__ import annotations

from pathlib import Path

from harness.analysis.saturation import saturation_sentence
from harness.measure.ending import Ending
from harness.record.model import Run
from harness.report.run_page import capacity_sentence


def print_summary(run: Run, folder: Path, ending: Ending, extra: list[str]) -> None:
    status = "complete" if ending.complete else f"INTERRUPTED: {ending.cause}; kept every finished level"
    print(
        f"\nrun {status}\n  run:    {folder / 'run.json'}\n  levels: {folder / 'levels.csv'}\n"
        f"  report: {folder / 'report.html'}"
    )
    for curve in run.curves:
        print(f"  {capacity_sentence(run, curve)}")
        if why := saturation_sentence(run, curve):
            print(f"    {why}")
    for line in extra:
        print(line)
