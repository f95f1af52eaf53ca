"""Progress of a sweep in the terminal: a bar over levels and the live window figures (rich when a TTY)."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.record.model import Curve
from harness.sweep.runner import LevelProgress
from harness.sweep.spec import SweepSpec


class SweepProgress:
    def __init__(self, title: str, planned_levels: int | None, spec: SweepSpec, folder: Path) -> None:
        self.console = Console()
        self.interactive = sys.stdout.isatty()
        self.say(f"{title}, SLO {spec.slo}, {spec.workers} Locust worker(s); writing {folder}", markup=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            auto_refresh=False,
            disable=not self.interactive,
        )
        self._task = self._progress.add_task("starting", total=planned_levels)
        self._progress.start()
        self._done = 0
        self._last_level = ""
        self._last: LevelProgress | None = None

    def say(self, line: str, markup: bool = False) -> None:
        """A line above the progress bar (the driver's notices, a search's next configuration)."""
        self.console.print(line, highlight=False, soft_wrap=True, markup=markup)

    def where(self) -> str:
        """The level being measured, and how far it got: where an interruption cut the sweep."""
        s = self._last
        if s is None:
            return ""
        return f"{s.curve} {s.level}, {s.phase}"

    def update(self, status: LevelProgress) -> None:
        self._last = status
        text = (
            f"{status.curve} | {status.level} | window {status.window} | {status.rps:8.1f} req/s | "
            f"p99 {status.p99_ms:8.3f} ms{' | stable' if status.stable else ''}"
        )
        key = f"{status.curve}/{status.level}"
        if key != self._last_level and self._last_level:
            self._done += 1
        self._last_level = key
        self._progress.update(self._task, description=text, completed=self._done)
        self._progress.refresh()
        if not self.interactive and status.window:
            self.console.print(text, highlight=False)

    def curve_done(self, curve: Curve) -> None:
        if curve.skipped_reason:
            self.console.print(f"{curve.instance_group}: {curve.skipped_reason}")

    def close(self) -> None:
        self._progress.stop()
