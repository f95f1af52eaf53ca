"""The verdict with variants: each named beside its agreement; one below its bound is picked only when nothing
else meets, and then named as such."""

from __future__ import annotations

from dataclasses import replace

from harness.analysis.compare import compare_table, comparison_rows
from harness.analysis.verdict import decide, verdict_table
from harness.record.model import Agreement, Curve, Slo
from helpers.factories import curve, run, sweep

SLO = Slo("p99", 50.0)
GOOD = Agreement("onnx", "m", "seeded", top1=1.0, max_abs_diff=1e-7, bound="top1>=0.99")
STRAY = Agreement("int8", "m", "seeded", top1=0.9, max_abs_diff=0.4, bound="top1>=0.99", below_bound=True,
                  why="logits: top-1 agreement 0.9 < 0.99")  # fmt: skip


def _curve(model: str, capacity: float, variant: Agreement | None = None) -> Curve:
    levels = sweep([(1, capacity / 2, 10.0), (2, capacity, 40.0), (4, capacity * 1.05, 200.0)])
    return replace(curve("CPU", 1, levels, slo=SLO), model=model, variant=variant)


def test_a_variant_within_its_bound_can_be_the_answer_and_says_what_it_is() -> None:
    verdict = decide([run([_curve("m", 100.0), _curve("m_onnx", 300.0, GOOD)])], 200.0, SLO)
    assert verdict.closest == "m_onnx cpu:1"
    assert "m_onnx cpu:1 (onnx of m, top-1 1.0000) sustains 300 req/s" in verdict.sentence
    headers, cells = verdict_table(verdict)
    assert headers[1] == "variant (agreement)" and [row[1] for row in cells] == ["original", "onnx of m, top-1 1.0000"]


def test_a_variant_below_its_bound_is_not_picked_while_another_meets() -> None:
    verdict = decide([run([_curve("m", 250.0), _curve("m_int8", 400.0, STRAY)])], 200.0, SLO)
    assert verdict.closest == "m cpu:1" and "BELOW" not in verdict.sentence
    assert verdict.meets == ("m cpu:1", "m_int8 cpu:1")  # it meets, and the table says at what agreement
    row = verdict_table(verdict)[1][1]
    assert row[1].startswith("int8 of m, top-1 0.9000 BELOW BOUND (top1>=0.99): logits: top-1 agreement 0.9 < 0.99")


def test_when_only_a_variant_below_its_bound_meets_the_verdict_says_so() -> None:
    verdict = decide([run([_curve("m", 100.0), _curve("m_int8", 400.0, STRAY)])], 200.0, SLO)
    assert verdict.closest == "m_int8 cpu:1"
    assert (
        "Caveat: m_int8 cpu:1 is a variant BELOW its agreement bound (int8 of m, top-1 0.9000 BELOW BOUND" in verdict.sentence
    )


def test_compare_names_each_variant_beside_its_capacity() -> None:
    headers, cells = compare_table(comparison_rows([run([_curve("m", 100.0), _curve("m_onnx", 300.0, GOOD)])]))
    assert headers[1] == "variant (agreement)" and [row[1] for row in cells] == ["original", "onnx of m, top-1 1.0000"]
    plain_headers, _ = compare_table(comparison_rows([run([_curve("m", 100.0)])]))
    assert "variant (agreement)" not in plain_headers  # runs without variants read as before
