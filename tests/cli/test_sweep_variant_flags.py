"""harness sweep --model NAME,VARIANT and --variants LIST: the models of one run, each variant with the agreement
its variant.json records; a variant missing from the repository is one line before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.main import build_parser
from harness.cli.sweep_flags import spec_from_args
from harness.errors import ConfigError
from harness.record.model import Agreement
from harness.sweep.spec import SweepSpec
from harness.triton.variant_file import write_variant

INT8 = Agreement("int8", "m", "seeded", top1=0.97, below_bound=True, why="y: top-1 agreement 0.97 < 0.99")


@pytest.fixture()
def repository(tmp_path: Path) -> Path:
    for name in ("m", "m_int8", "m_onnx"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.pbtxt").write_text(f'name: "{name}"\n')
    write_variant(tmp_path / "m_int8", INT8)
    return tmp_path


def _spec(*argv: str) -> SweepSpec:
    return spec_from_args(build_parser().parse_args(["sweep", *argv]))


def test_variants_become_models_of_the_run_with_their_agreement(repository: Path) -> None:
    spec = _spec("--model", "m", "--variants", "int8,onnx", "--model-repository", str(repository))
    assert spec.model == "m" and spec.all_models == ("m", "m_int8", "m_onnx")
    assert spec.agreement_of("m_int8") == INT8
    assert spec.agreement_of("m") is None and spec.agreement_of("m_onnx") is None  # no variant.json: no agreement
    assert spec.reference_of("m_int8") == ""  # no --validate-outputs


def test_a_comma_list_of_models_and_validate_outputs(repository: Path) -> None:
    spec = _spec("--model", "m,m_int8", "--validate-outputs", "--model-repository", str(repository))
    assert spec.all_models == ("m", "m_int8") and spec.reference_of("m_int8") == "m" and spec.reference_of("m") == ""


def test_one_model_reads_as_before() -> None:
    spec = _spec("--model", "mnist_cnn")
    assert spec.models == () and spec.all_models == ("mnist_cnn",) and spec.agreements == ()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--model", "m", "--variants", "bf16"], "--variants: no model 'm_bf16' in"),
        (["--model", "m", "--variants", "int4"], "int4 is not a variant"),
        (["--model", "m", "--validate-outputs"], "--validate-outputs checks variants against their original"),
        (["--model", "m,m_int8", "--expect-workers", "2"], "which --expect-workers cannot"),
    ],
)
def test_bad_variant_flags_are_one_line(repository: Path, argv: list[str], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _spec(*argv, "--model-repository", str(repository))
    assert expected in str(caught.value) and "\n" not in str(caught.value)
