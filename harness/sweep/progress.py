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
    def __init__(self, spec: SweepSpec, folder: Path) -> None:
        self.console = Console()
        self.interactive = sys.stdout.isatty()
        planned = len(spec.concurrency or spec.rates or ()) * len(spec.instances) or None
        self.console.print(
            f"sweeping [bold]{spec.model}[/] on {', '.join(map(str, spec.instances))}, "
            f"SLO {spec.slo}, {spec.workers} Locust worker(s); writing {folder}"
        )
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            auto_refresh=False,
            disable=not self.interactive,
        )
        self._task = self._progress.add_task("starting", total=planned)
        self._progress.start()
        self._done = 0
        self._last_level = ""
        self._last: LevelProgress | None = None

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
