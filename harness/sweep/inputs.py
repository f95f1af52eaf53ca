"""--input-data and --shape in a sweep: read and checked against the model as it will be served, before the first
level, and recorded in run.json's settings (path, entry count, shapes). The workers read the same path themselves."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.record.model import Run
from harness.sweep.spec import SweepSpec
from harness.triton.control import ControlClient
from harness.triton.input_data import random_inputs, read_input_data


def check_input_data(run: Run, control: ControlClient, spec: SweepSpec) -> Run:
    """The run with what its requests carry; bad data is a ConfigError (one line) and nothing is measured.
    --validate-outputs: each variant's original is loaded, so the workers can ask it for the expected outputs."""
    for original in {spec.reference_of(model) for model in spec.all_models} - {""}:
        if not control.is_ready(original):
            control.load(original)
    if not spec.input_data and not spec.shapes:
        return run
    if not control.is_ready(spec.model):
        control.load(spec.model)  # an override sweep (explicit mode) loads its variants anyway; metadata needs it served
    model = control.model_spec(spec.model)
    if spec.max_batch_size and model.max_batch_size:
        model = replace(model, max_batch_size=spec.max_batch_size)
    if not spec.input_data:  # --shape alone sizes the seeded random tensors
        random_inputs(model, spec.batch_size, spec.seed, spec.shapes)
        return run
    data = read_input_data(Path(spec.input_data), model, spec.shapes, spec.batch_size)
    settings = {**run.metadata.settings, "input_data": data.summary()}
    return replace(run, metadata=replace(run.metadata, settings=settings))
