"""Make the variants asked of one model, check each against the original, and write them all or none.

Every variant is staged (harness.triton.model_import.Staging), then run in this process by the code Triton runs
(harness.triton.imported_model.runner_for) on the same inputs as the original: the user's --input-data entries,
or seeded random ones. Its agreement (harness.analysis.agreement) goes into its folder as variant.json, marked
when below the bound. A variant that cannot be made here is refused with its reason; one whose export or
quantization fails is an error, and then nothing at all is written.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis.agreement import Bound, compare_outputs, summarize
from harness.record.model import Agreement
from harness.triton.control import ModelSpec, TensorSpec, make_inputs
from harness.triton.input_data import load_entries, parse_shapes
from harness.triton.model_import import MAX_BATCH_SIZE, Staging, stage
from harness.triton.model_variants import Original, Refused, Run, example_inputs, make, original_runner
from harness.triton.variant_file import variant_model, write_variant

SEEDED_ENTRIES = 256  # seeded inputs the agreement is measured on, without --input-data
CHECK_BATCH = 32  # entries per forward pass while checking (at most the model's max batch size)


@dataclass(frozen=True)
class CheckInputs:
    """What variants are checked on: batches of inputs (in the model's input order) and how to name them."""

    batches: tuple[tuple[np.ndarray, ...], ...]
    description: str


@dataclass(frozen=True)
class Outcome:
    """One asked variant: the model it is (or would be) written as, and what happened."""

    variant: str
    model: str
    status: str  # "original", "written", "written, BELOW BOUND", "refused: why"
    agreement: Agreement | None = None


def spec_of(original: Original, max_batch_size: int | None = None) -> ModelSpec:
    """The original's tensors as a ModelSpec (what input_data and make_inputs read), without a server."""
    batching = original.signature.batching

    def tensors(items: Sequence[Any]) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(t.name, t.datatype, t.shape) for t in items)

    mbs = (max_batch_size or MAX_BATCH_SIZE) if batching else 0
    return ModelSpec(original.name, tensors(original.signature.inputs), tensors(original.signature.outputs), mbs)


def check_inputs(spec: ModelSpec, input_data: str, shapes: Sequence[str], seed: int) -> CheckInputs:
    """The user's entries (--input-data) or SEEDED_ENTRIES seeded random ones, in batches."""
    wanted = parse_shapes(list(shapes))
    names = [t.name for t in spec.inputs]
    size = min(CHECK_BATCH, spec.max_batch_size) if spec.max_batch_size else 1
    if input_data:
        entries = load_entries(Path(input_data), spec, wanted)
        groups = [entries[i : i + size] for i in range(0, len(entries), size)]
        batches = tuple(
            tuple(np.stack([e[n] for e in group]) if spec.max_batch_size else group[0][n] for n in names) for group in groups
        )
        return CheckInputs(batches, f"--input-data {input_data} ({len(entries)} entries)")
    count = SEEDED_ENTRIES if spec.max_batch_size else CHECK_BATCH
    batches = tuple(tuple(make_inputs(spec, size, seed + i, wanted)[n] for n in names) for i in range(max(count // size, 1)))
    return CheckInputs(batches, f"seeded random inputs (seed {seed}, {len(batches) * size} entries)")


def outputs_of(run: Run, names: Sequence[str], inputs: CheckInputs) -> dict[str, np.ndarray]:
    """Every batch through `run`, each output concatenated over batches (batch dimension first)."""
    results = [run(list(batch)) for batch in inputs.batches]
    return {name: np.concatenate([np.atleast_1d(r[i]) for r in results]) for i, name in enumerate(names)}


def make_variants(
    original: Original,
    variants: Sequence[str],
    staging: Staging,
    inputs: CheckInputs,
    bound: Bound,
    calibration: CheckInputs | None = None,
) -> list[Outcome]:
    """Stage every asked variant with its variant.json; the caller commits the staging when this returns."""
    from harness.triton.imported_model import runner_for

    names = [t.name for t in original.signature.outputs]
    reference = outputs_of(original_runner(original), names, inputs)
    example = example_inputs(original.signature)
    outcomes, onnx = [], original.path if original.format == "onnx" else None
    with tempfile.TemporaryDirectory(prefix=".variants-", dir=staging.repository) as scratch:
        for variant in _ordered(variants):
            model = variant_model(original.name, variant)
            if variant == "fp32":
                outcomes.append(Outcome(variant, model, "original"))
                continue
            work = Path(scratch) / variant
            work.mkdir()
            if variant == "onnx-int8" and onnx is None:  # quantize an export even when onnx itself was not asked
                onnx = _made_or_none("onnx", original, example, Path(scratch) / "onnx-for-int8", None)
            try:
                reader = _reader(calibration, original) if variant == "onnx-int8" else None
                made = make(variant, original, example, work, onnx, reader)
            except Refused as why:
                outcomes.append(Outcome(variant, model, f"refused: {why}"))
                continue
            if variant == "onnx":
                onnx = made.path
            folder = staging.folder(model)
            stage(folder, model, made.path, made.signature, made.manifest, made.config, f"{made.note} {original.name}.")
            device = "cuda:0" if made.manifest.get("devices") == "gpu" else "cpu"
            got = outputs_of(runner_for(str(folder / "1"), device), names, inputs)
            agreement = summarize(variant, original.name, inputs.description, compare_outputs(reference, got), bound)
            write_variant(folder, agreement)
            status = "written, BELOW BOUND" if agreement.below_bound else "written"
            outcomes.append(Outcome(variant, model, status, agreement))
    return outcomes


def _ordered(variants: Sequence[str]) -> list[str]:
    """onnx before onnx-int8 (which quantizes its file); otherwise as asked."""
    order = list(variants)
    if "onnx" in order and "onnx-int8" in order and order.index("onnx") > order.index("onnx-int8"):
        order.remove("onnx")
        order.insert(order.index("onnx-int8"), "onnx")
    return order


def _made_or_none(variant: str, original: Original, example: list[np.ndarray], work: Path, onnx: Path | None) -> Path | None:
    work.mkdir()
    try:
        return make(variant, original, example, work, onnx, None).path
    except Refused:
        return None


def _reader(calibration: CheckInputs | None, original: Original) -> Any:
    """ONNX Runtime's static quantization reads calibration batches through its CalibrationDataReader."""
    if calibration is None:
        return None
    from onnxruntime.quantization import CalibrationDataReader

    names = [t.name for t in original.signature.inputs]
    batches = calibration.batches

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self._left = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._left, None)
            return None if batch is None else dict(zip(names, batch, strict=True))

    return Batches()
