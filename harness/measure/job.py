"""What a measuring command asked for, typed (no argparse here), and what one curve of its run measures."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from harness.record.model import Curve, InstanceGroup, Run
from harness.sweep.spec import SweepSpec
from harness.triton.control import ControlClient
from harness.triton.server import ServerSource


@dataclass(frozen=True)
class Job:
    """A measuring command's whole request: the levels to run (spec), the server, where the run goes, the budget."""

    command: str  # "sweep", "search": the name users typed, for messages and the default folder
    spec: SweepSpec
    source: ServerSource
    folder: Path | None = None  # None: results/<timestamp>-<model> (or -<command>-<model> beyond sweeps)
    budget_s: float | None = None  # stop the whole run after this long, mid-curve if need be (exit 6)


@dataclass(frozen=True)
class CurveSpec:
    """One curve to measure: the levels of `spec` (its model and batching) on one instance group."""

    spec: SweepSpec
    group: InstanceGroup
    name: str = ""  # the curve's configuration label ("" keeps the group's or the served config's own)
    announce: str = ""  # a line to print before it is measured ("" prints nothing)


class Proposer(Protocol):
    """Says what to measure next and reacts to each answer (a fixed list of curves, the configuration search...)."""

    title: str  # one line: what the run will measure
    planned_levels: int | None  # for the progress bar, where known

    def check(self, control: ControlClient) -> None:
        """Refuse, before any load, what cannot be measured on this server (a HarnessError)."""

    def next(self) -> CurveSpec | None:
        """The next curve, or None when the run has measured what it needs."""

    def measured(self, curve: Curve) -> None:
        """The answer to the last proposal."""

    def section(self, run: Run, stopped: str, elapsed_s: float, budget_s: float | None) -> Run:
        """The run with this proposer's own section (the search's ranking), as of now; `stopped` says how it ended
        (harness.measure.ending), "running" while it runs."""

    def summary(self, run: Run) -> list[str]:
        """Lines for the terminal after the run's own summary."""


def command_line() -> str:
    """The command as the user typed it, for the run's metadata."""
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
