"""How far a variant's answers (int8, ONNX Runtime, bf16...) stray from its original's, and whether that is within
the bound the user accepts: one home for these rules, used where variants are made (`harness variants`,
`harness import-model --variants`) and read wherever a variant is named (latency, sweep, verdict).

Per output tensor, over the same inputs: the largest and the mean absolute difference and, for a classifier-shaped
output (float, [rows, classes] with at least 2 classes), the share of rows whose top-1 class agrees. A variant is
below its bound when a classifier output's top-1 agreement is under `top1` (default 0.99), or a regression
output's largest difference is over `max_abs` (default: 1% of the original's largest |value| on those inputs).

Pure: numpy only, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.errors import ConfigError
from harness.record.model import Agreement
from harness.textfmt import NONE

DEFAULT_TOP1 = 0.99
RELATIVE_MAX_ABS = 0.01  # a regression output's default bound: this share of the original's largest |value|
_BOUND_HELP = "give top1=FRACTION and/or max-abs=NUMBER, e.g. --min-agreement top1=0.99 or max-abs=0.05"


@dataclass(frozen=True)
class Bound:
    """What a variant must keep of its original's answers; max_abs None: the relative default."""

    top1: float = DEFAULT_TOP1
    max_abs: float | None = None

    def __str__(self) -> str:
        regression = (
            f"max-abs={self.max_abs:g}" if self.max_abs is not None else f"max-abs={RELATIVE_MAX_ABS:g} x max|original|"
        )
        return f"top1>={self.top1:g}, {regression}"


@dataclass(frozen=True)
class OutputAgreement:
    """One output tensor of a variant against the original's, over the same inputs."""

    name: str
    max_abs_diff: float
    mean_abs_diff: float
    top1: float | None  # None: not classifier-shaped
    rows: int
    reference_max_abs: float  # the original's largest |value|: the scale of the relative max-abs bound


def parse_bound(text: str) -> Bound:
    """'0.99', 'top1=0.99', 'max-abs=0.05' or both, comma-separated -> Bound; one line on a typo."""
    top1, max_abs = DEFAULT_TOP1, None
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key, value = (key.strip().lower(), value) if sep else ("top1", key)
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if key == "top1" and 0.0 <= number <= 1.0:
            top1 = number
        elif key in ("max-abs", "max_abs") and number >= 0.0:
            max_abs = number
        else:
            raise ConfigError(f"--min-agreement {text!r}: {item!r} is not a bound; {_BOUND_HELP}")
    return Bound(top1, max_abs)


def is_classifier(array: np.ndarray) -> bool:
    """Logits or probabilities: float, [rows, classes] with at least two classes."""
    return array.ndim == 2 and array.shape[1] >= 2 and np.issubdtype(array.dtype, np.floating)


def compare_output(name: str, reference: np.ndarray, candidate: np.ndarray) -> OutputAgreement:
    """The variant's output against the original's for the same inputs (both with the batch dimension first)."""
    if reference.shape != candidate.shape:
        raise ConfigError(
            f"output {name!r}: the variant answers shape {list(candidate.shape)}, the original {list(reference.shape)}; "
            "the variant does not compute the same function"
        )
    ref, got = reference.astype(np.float64), candidate.astype(np.float64)
    diff = np.abs(ref - got)
    top1 = float(np.mean(ref.argmax(axis=1) == got.argmax(axis=1))) if is_classifier(reference) else None
    return OutputAgreement(
        name=name,
        max_abs_diff=float(diff.max(initial=0.0)),
        mean_abs_diff=float(diff.mean()) if diff.size else 0.0,
        top1=top1,
        rows=int(reference.shape[0]) if reference.ndim else 1,
        reference_max_abs=float(np.abs(ref).max(initial=0.0)),
    )


def compare_outputs(reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray]) -> tuple[OutputAgreement, ...]:
    """Every output of the original, against the variant's output of the same name."""
    missing = [name for name in reference if name not in candidate]
    if missing:
        raise ConfigError(f"the variant has no output {missing[0]!r}; it must answer with the original's outputs")
    return tuple(compare_output(name, reference[name], candidate[name]) for name in reference)


def max_abs_limit(output: OutputAgreement, bound: Bound) -> float:
    return bound.max_abs if bound.max_abs is not None else RELATIVE_MAX_ABS * output.reference_max_abs


def shortfalls(outputs: Sequence[OutputAgreement], bound: Bound) -> list[str]:
    """Why the variant is below its bound, one phrase per output that misses it (empty: within the bound)."""
    reasons = []
    for out in outputs:
        if out.top1 is not None and out.top1 < bound.top1:
            reasons.append(f"{out.name}: top-1 agreement {out.top1:.4g} < {bound.top1:g}")
        elif out.top1 is None and out.max_abs_diff > max_abs_limit(out, bound):
            reasons.append(f"{out.name}: max abs diff {out.max_abs_diff:.3g} > {max_abs_limit(out, bound):.3g}")
    return reasons


def summarize(variant: str, original: str, inputs: str, outputs: Sequence[OutputAgreement], bound: Bound) -> Agreement:
    """The record a variant carries (variant.json, run.json's curves): its worst output decides."""
    top1s = [o.top1 for o in outputs if o.top1 is not None]
    reasons = shortfalls(outputs, bound)
    return Agreement(
        variant=variant,
        original=original,
        inputs=inputs,
        top1=min(top1s) if top1s else None,
        max_abs_diff=max((o.max_abs_diff for o in outputs), default=0.0),
        mean_abs_diff=max((o.mean_abs_diff for o in outputs), default=0.0),
        bound=str(bound),
        below_bound=bool(reasons),
        why="; ".join(reasons),
    )


def agreement_text(agreement: Agreement | None) -> str:
    """A table cell: 'top-1 0.998', 'max abs 0.0012', with 'BELOW BOUND' when it is; '-' for an original."""
    if agreement is None:
        return NONE
    figure = f"top-1 {agreement.top1:.4f}" if agreement.top1 is not None else f"max abs {agreement.max_abs_diff:.3g}"
    return f"{figure} BELOW BOUND" if agreement.below_bound else figure


def variant_note(agreement: Agreement | None) -> str:
    """What a curve of a variant says beside its capacity: 'int8 of mnist_cnn, top-1 0.992', and when it is below
    its bound, 'BELOW BOUND (top1>=0.99): logits: top-1 agreement 0.93 < 0.99'. '' for an original."""
    if agreement is None:
        return ""
    note = f"{agreement.variant} of {agreement.original}, {agreement_text(agreement)}"
    return f"{note} ({agreement.bound}): {agreement.why}" if agreement.below_bound else note


AGREEMENT_HEADERS = ("variant", "model", "status", "top-1", "max abs diff", "mean abs diff", "within bound")


def agreement_cells(variant: str, model: str, status: str, agreement: Agreement | None) -> list[str]:
    """One row of the table `harness variants` prints (the status: written, or why not)."""
    if agreement is None:
        return [variant, model, status, NONE, NONE, NONE, NONE]
    return [
        variant,
        model,
        status,
        NONE if agreement.top1 is None else f"{agreement.top1:.4f}",
        f"{agreement.max_abs_diff:.3g}",
        f"{agreement.mean_abs_diff:.3g}",
        "no: " + agreement.why if agreement.below_bound else "yes",
    ]
