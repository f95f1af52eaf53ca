"""`harness sweep`'s proposer: the curves the user listed (--instances), in their order, each measured once."""

from __future__ import annotations

from harness.measure.job import CurveSpec
from harness.record.model import Curve, Run
from harness.sweep.spec import SweepSpec
from harness.triton.control import ControlClient
from harness.triton.variants import check_deployment


class FixedCurves:
    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self._left = list(spec.instances)
        groups = ", ".join(map(str, spec.instances))
        self.title = f"sweeping [bold]{spec.model}[/] on {groups}"
        self.planned_levels = len(spec.concurrency or spec.rates or ()) * len(spec.instances) or None

    def check(self, control: ControlClient) -> None:
        check_deployment(control, self.spec.model, self.spec.instances)

    def next(self) -> CurveSpec | None:
        return CurveSpec(self.spec, self._left.pop(0)) if self._left else None

    def measured(self, curve: Curve) -> None:
        return None

    def section(self, run: Run, stopped: str, elapsed_s: float, budget_s: float | None) -> Run:
        return run

    def summary(self, run: Run) -> list[str]:
        return []
