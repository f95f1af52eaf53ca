"""Variant names, the variant.json round trip, and which models of a repository are variants of which."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.record.model import Agreement
from harness.triton.variant_file import parse_variants, read_variant, variant_model, variants_of, write_variant


def test_names() -> None:
    assert parse_variants("onnx_int8, int8,INT8,fp32") == ("onnx-int8", "int8", "fp32")
    assert [variant_model("m", v) for v in ("fp32", "int8", "onnx-int8")] == ["m", "m_int8", "m_onnx_int8"]
    with pytest.raises(ConfigError, match="--variants 'int4': int4 is not a variant"):
        parse_variants("int4")


def _model(repository: Path, name: str, agreement: Agreement | None) -> None:
    (repository / name).mkdir()
    (repository / name / "config.pbtxt").write_text(f'name: "{name}"\n')
    if agreement is not None:
        write_variant(repository / name, agreement)


def test_variants_are_found_by_their_file_in_the_repository_order(tmp_path: Path) -> None:
    onnx, int8 = Agreement("onnx", "m", top1=1.0), Agreement("int8", "m", top1=0.98, below_bound=True)
    _model(tmp_path, "m", None)
    _model(tmp_path, "m_onnx", onnx)
    _model(tmp_path, "m_int8", int8)
    _model(tmp_path, "m_int8_copy", None)  # a name alike, but no variant.json: not a variant
    _model(tmp_path, "mx_int8", dataclasses.replace(int8, original="mx"))
    assert read_variant(tmp_path, "m_int8") == int8 and read_variant(tmp_path, "m") is None
    assert variants_of(tmp_path, "m") == [("m_int8", int8), ("m_onnx", onnx)]


def test_an_unreadable_file_is_no_variant(tmp_path: Path) -> None:
    _model(tmp_path, "m_int8", None)
    (tmp_path / "m_int8" / "variant.json").write_text('{"variant": "int8"}')  # no original
    assert read_variant(tmp_path, "m_int8") is None
