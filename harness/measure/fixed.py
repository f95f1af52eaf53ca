"""`harness sweep`'s proposer: the curves the user listed (--instances), in their order, each measured once; with
several models (--model NAME,VARIANT or --variants), each model under every group, the original first."""

from __future__ import annotations

from dataclasses import replace

from harness.errors import UnknownModel
from harness.load.mix import format_mix
from harness.measure.job import CurveSpec
from harness.record.model import Curve, Run
from harness.sweep.spec import SweepSpec
from harness.triton.control import ControlClient
from harness.triton.variants import check_deployment


class FixedCurves:
    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self._left = [(model, group) for model in spec.curve_models for group in spec.instances]
        groups = ", ".join(map(str, spec.instances))
        what = format_mix(spec.mix) + " together" if spec.mix else ", ".join(spec.all_models)
        self.title = f"sweeping [bold]{what}[/] on {groups}"
        self.planned_levels = len(spec.concurrency or spec.rates or ()) * len(self._left) or None

    def check(self, control: ControlClient) -> None:
        known = dict(control.repository_models())
        for model in self.spec.all_models:
            if model not in known:
                raise UnknownModel(model, known)
            check_deployment(control, model, tuple(self.spec.group_of(model, g) for g in self.spec.instances))

    def next(self) -> CurveSpec | None:
        if not self._left:
            return None
        model, group = self._left.pop(0)
        return CurveSpec(replace(self.spec, model=model), group)

    def measured(self, curve: Curve) -> None:
        return None

    def section(self, run: Run, stopped: str, elapsed_s: float, budget_s: float | None) -> Run:
        return run

    def summary(self, run: Run) -> list[str]:
        return []
