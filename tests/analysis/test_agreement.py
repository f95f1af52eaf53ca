"""The agreement rules (harness.analysis.agreement), on arrays small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.agreement import Bound, compare_output, compare_outputs, parse_bound, shortfalls, summarize
from harness.errors import ConfigError

ORIGINAL = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.3, 0.3, 0.4], [0.0, 0.2, 0.1]], dtype=np.float32)
# Row 2 changes its top-1 (class 0 now), row 3 moves by 0.05 but keeps class 1: top-1 agreement 3/4.
VARIANT = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.5, 0.3, 0.4], [0.0, 0.25, 0.1]], dtype=np.float32)


def test_differences_and_top1_of_a_classifier_output() -> None:
    out = compare_output("logits", ORIGINAL, VARIANT)
    assert out.top1 == 0.75 and out.rows == 4
    assert out.max_abs_diff == pytest.approx(0.2)  # row 2, class 0: 0.3 -> 0.5
    assert out.mean_abs_diff == pytest.approx((0.2 + 0.05) / 12)
    assert out.reference_max_abs == pytest.approx(0.9)


def test_a_regression_output_has_no_top1_and_is_judged_by_max_abs() -> None:
    original = np.array([[10.0], [20.0]], dtype=np.float32)  # one column: not a classifier
    near, far = compare_output("y", original, original + 0.15), compare_output("y", original, original + 0.25)
    assert near.top1 is None and far.top1 is None
    assert shortfalls([near], Bound()) == []  # default bound: 1% of max |original| = 0.2
    assert shortfalls([far], Bound()) == ["y: max abs diff 0.25 > 0.2"]
    assert shortfalls([far], Bound(max_abs=0.3)) == []


def test_the_worst_output_decides_and_a_variant_below_the_bound_says_why() -> None:
    outputs = compare_outputs({"logits": ORIGINAL}, {"logits": VARIANT})
    below = summarize("int8", "m", "seeded", outputs, Bound(top1=0.99))
    assert below.below_bound and below.why == "logits: top-1 agreement 0.75 < 0.99" and below.top1 == 0.75
    within = summarize("int8", "m", "seeded", outputs, Bound(top1=0.75))
    assert not within.below_bound and within.why == ""


@pytest.mark.parametrize(
    ("text", "bound"),
    [("0.95", Bound(0.95)), ("top1=0.9", Bound(0.9)), ("max-abs=0.5", Bound(0.99, 0.5)), ("top1=1,max-abs=0", Bound(1.0, 0.0))],
)
def test_bounds_as_typed(text: str, bound: Bound) -> None:
    assert parse_bound(text) == bound


@pytest.mark.parametrize("text", ["top1=1.5", "max-abs=-1", "top2=0.9", "high"])
def test_a_bad_bound_is_one_line(text: str) -> None:
    with pytest.raises(ConfigError, match="--min-agreement") as caught:
        parse_bound(text)
    assert "\n" not in str(caught.value)


def test_a_variant_answering_another_shape_or_missing_an_output_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not compute the same function"):
        compare_output("logits", ORIGINAL, VARIANT[:, :2])
    with pytest.raises(ConfigError, match="has no output 'probs'"):
        compare_outputs({"probs": ORIGINAL}, {"logits": VARIANT})
