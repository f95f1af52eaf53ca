"""`harness import-model`: the bundled mnist_cnn exported to TorchScript, torch.export and ONNX, imported, served by
the real tritonserver and swept; its outputs checked against the in-code model (an independent forward pass)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.cli.main import main
from harness.triton.control import ControlClient
from harness.triton.repository import BUNDLED_REPOSITORY, read_config
from harness.triton.server import LocalServer
from helpers.processes import harness

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BUNDLED_REPOSITORY / "_nets"))
from nets import build_mnist_cnn  # noqa: E402

# model name -> (file, extra flags, input name, output name)
IMPORTS = {
    "mnist_ts": ("mnist.pt", ["--input", "image:FP32:-1,1,28,28"], "image", "output__0"),
    "mnist_export": ("mnist.pt2", [], "input", "output__0"),
    "mnist_onnx": ("mnist.onnx", [], "image", "logits"),
}


EXPORT = f"""
import sys, warnings
import torch
sys.path.insert(0, {str(BUNDLED_REPOSITORY / "_nets")!r})
from nets import build_mnist_cnn
folder = sys.argv[1]
model, example = build_mnist_cnn(), torch.randn(2, 1, 28, 28)
torch.jit.trace(model, example).save(folder + "/mnist.pt")
batch = torch.export.Dim("batch", min=1, max=64)
torch.export.save(torch.export.export(model, (example,), dynamic_shapes=({{0: batch}},)), folder + "/mnist.pt2")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the TorchScript-based exporter warns that it is the legacy one
    torch.onnx.export(model, (example,), folder + "/mnist.onnx", input_names=["image"], output_names=["logits"],
                      dynamic_axes={{"image": {{0: "batch"}}, "logits": {{0: "batch"}}}}, dynamo=False)
torch.save(model.state_dict(), folder + "/state_dict.pt")
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mnist_cnn in each format, exported the way each tool's docs show (in a clean process, see harness())."""
    folder = tmp_path_factory.mktemp("exported")
    subprocess.run([sys.executable, "-c", EXPORT, str(folder)], check=True, timeout=180)
    (folder / "notes.pt").write_text("not a model\n")
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 4)
    return folder


@pytest.fixture(scope="module")
def imported(files: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The repository with the three imports, and what each import printed."""
    repository, printed = tmp_path_factory.mktemp("repo"), {}
    for name, (file, flags, _, _) in IMPORTS.items():
        result = harness("import-model", str(files / file), "--name", name, "--model-repository", str(repository), *flags)
        assert result.returncode == 0, result.stderr
        printed[name] = result.stdout
    return repository, printed


@pytest.fixture(scope="module")
def repository(imported: tuple[Path, dict[str, str]]) -> Path:
    return imported[0]


def _entries(repository: Path) -> list[str]:
    return sorted(p.name for p in repository.iterdir())


def test_names_dtypes_and_shapes_come_from_the_file(repository: Path) -> None:
    for name, (_, _, input_name, output_name) in IMPORTS.items():
        config = read_config(repository, name)
        assert config["backend"] == "python" and config["max_batch_size"] == 64
        assert config["input"] == [{"name": input_name, "data_type": "TYPE_FP32", "dims": ["1", "28", "28"]}]
        assert config["output"] == [{"name": output_name, "data_type": "TYPE_FP32", "dims": ["10"]}]
        assert config["instance_group"] == [{"kind": "KIND_CPU", "count": 1}]
        assert sorted(p.name for p in (repository / name / "1").iterdir()) == sorted(
            [
                "harness_model.json",
                "model.py",
                "serving.py",
                json.loads((repository / name / "1" / "harness_model.json").read_text())["file"],
            ]
        )
    assert _entries(repository) == sorted(IMPORTS)


def test_native_configs_are_printed(imported: tuple[Path, dict[str, str]]) -> None:
    printed = imported[1]
    assert 'platform: "pytorch_libtorch"' in printed["mnist_ts"]
    assert 'platform: "onnxruntime_onnx"' in printed["mnist_onnx"]
    assert "no native Triton backend serves torch.export programs" in printed["mnist_export"]
    assert "platform:" not in printed["mnist_export"]


@pytest.mark.parametrize(
    ("file", "flags", "expected"),
    [
        ("notes.pt", [], "unknown model format"),
        ("weights.bin", [], "unknown model format"),
        ("state_dict.pt", [], "a pickled torch object (torch.save), not a model program"),
        ("mnist.pt", [], "TorchScript records no input shapes; give --input NAME:DTYPE:DIMS for input"),
        ("mnist.pt", ["--input", "image:FP32:-1,3,28,28"], "the model fails on inputs shaped as --input says"),
        ("mnist.pt", ["--input", "image:complex:-1,1,28,28"], "unknown dtype 'complex'"),
        ("mnist.pt2", ["--input", "a:FP32:-1,1,28,28", "--input", "b:FP32:-1,1"], "the model has 1 input(s) (input)"),
        ("missing.pt", [], "no such file"),
        ("mnist.pt2", ["--name", "mnist_export"], "already exists"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    files: Path, repository: Path, file: str, flags: list[str], expected: str
) -> None:
    before = _entries(repository)
    name = [] if "--name" in flags else ["--name", "fresh"]
    result = harness("import-model", str(files / file), *name, "--model-repository", str(repository), *flags)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("harness import-model: error:") and expected in lines[0], lines[0]
    assert _entries(repository) == before


def test_force_replaces_in_place(files: Path, repository: Path, tmp_path: Path) -> None:
    shutil.copytree(repository / "mnist_export", tmp_path / "m")
    args = ["import-model", str(files / "mnist.onnx"), "--name", "m", "--model-repository", str(tmp_path)]
    assert main(args) == 2  # exists: refused, left as it was (refused before any torch or onnxruntime import)
    assert read_config(tmp_path, "m")["input"][0]["name"] == "input"
    assert harness(*args, "--force").returncode == 0
    assert read_config(tmp_path, "m")["input"][0]["name"] == "image" and _entries(tmp_path) == ["m"]


@pytest.fixture(scope="module")
def served(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(repository, tmp_path_factory.mktemp("triton") / "triton.log") as server:
        yield server


@pytest.mark.integration
def test_served_outputs_equal_the_in_code_model(served: LocalServer) -> None:
    batch = np.random.default_rng(7).standard_normal((3, 1, 28, 28)).astype(np.float32)
    with torch.inference_mode():
        expected = build_mnist_cnn()(torch.from_numpy(batch)).numpy()
    with ControlClient(served.endpoints.grpc_url) as control:
        for name, (_, _, input_name, output_name) in IMPORTS.items():
            control.load(name)
            outputs = control.infer(name, {input_name: batch})
            np.testing.assert_allclose(outputs[output_name], expected, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.integration
def test_an_imported_model_is_swept_like_a_bundled_one(served: LocalServer, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    result = harness(
        "sweep",
        "--url",
        served.endpoints.grpc_url,
        "--model",
        "mnist_export",
        "--instances",
        "cpu:1,gpu:1",
        "--concurrency",
        "1,2",
        "--warmup",
        "0.3s",
        "--window",
        "0.5s",
        "--max-windows",
        "3",
        "--workers",
        "1",
        "--output",
        folder,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cpu, gpu = json.loads((folder / "run.json").read_text())["curves"]
    assert [lv["concurrency"] for lv in cpu["levels"]] == [1, 2]
    assert all(lv["failures"] == 0 and lv["requests"] > 0 for lv in cpu["levels"])
    assert [(g["kind"], g["count"]) for g in cpu["model_config"]["instance_group"]] == [("KIND_CPU", 1)]
    if torch.cuda.is_available():
        assert gpu["skipped_reason"] is None and gpu["levels"]
    else:
        assert gpu["skipped_reason"].startswith("no GPU") and gpu["levels"] == []
