"""`harness import-model FILE --variants ...` and `harness variants`: from TorchScript files of a small CNN and a
small transformer encoder (made here with torch), the fp32/int8/onnx/onnx-int8 variants are written and checked;
the agreement they report is recomputed here independently (torch.jit and onnxruntime on the written files, numpy
for the figures); a model whose int8 flips its answers is marked; bad input is one line and writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from harness.triton.repository import read_config
from helpers.processes import harness

EXPORT = """
import math, sys, torch
from torch import nn
folder = sys.argv[1]
torch.manual_seed(0)

class Encoder(nn.Module):  # a transformer encoder layer written out (attention, norms, feed-forward) + a classifier head
    def __init__(self, vocab=500, dim=32, heads=4, classes=3):
        super().__init__()
        self.heads = heads
        self.embed, self.qkv, self.out = nn.Embedding(vocab, dim), nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens):
        x = self.embed(tokens)
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
        x = self.norm1(x + self.out((att @ v).transpose(1, 2).reshape(b, t, d)))
        return self.head(self.norm2(x + self.ff(x)).mean(1))

cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 14 * 14, 64),
                    nn.ReLU(), nn.Linear(64, 10)).eval()
fragile = nn.Linear(64, 10)  # one outlier weight sets int8's scale: every other weight rounds to 0, so where x[0] < 0
with torch.no_grad():         # int8 answers class 1 (all logits 0 but class 0's) and fp32 answers 1 or 9
    fragile.weight.zero_()
    fragile.bias.zero_()
    fragile.weight[0, 0] = 50.0
    fragile.weight[1, 1:] = -0.02
    fragile.weight[9, 1:] = 0.02
convs = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()

class Histogram(nn.Module):  # an operator no ONNX opset has
    def forward(self, x):
        return torch.histc(x, bins=4).unsqueeze(0).expand(x.shape[0], 4) + x[:, :4]

torch.jit.trace(cnn, torch.randn(2, 1, 28, 28)).save(folder + "/cnn.pt")
torch.jit.trace(Encoder().eval(), torch.randint(0, 500, (2, 12))).save(folder + "/encoder.pt")
torch.jit.trace(fragile.eval(), torch.randn(2, 64)).save(folder + "/fragile.pt")
torch.jit.trace(convs, torch.randn(2, 1, 28, 28)).save(folder + "/convs.pt")
torch.jit.trace(Histogram(), torch.randn(2, 8)).save(folder + "/histogram.pt")
torch.onnx.export(cnn, (torch.randn(2, 1, 28, 28),), folder + "/cnn.onnx", input_names=["image"], output_names=["logits"],
                  dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
"""
FOUR = "fp32,int8,onnx,onnx-int8"
LOOSE = ["--min-agreement", "top1=0.9"]  # random-init logits have small margins: int8 may flip a few of 40
IMPORTS = {  # name -> (file, flags)
    "cnn": ("cnn.pt", ["--input", "image:FP32:-1,1,28,28", "--variants", FOUR, *LOOSE]),
    "encoder": ("encoder.pt", ["--input", "tokens:INT64:-1,-1", "--shape", "tokens:12", "--variants", FOUR, *LOOSE]),
    "fragile": ("fragile.pt", ["--input", "x:FP32:-1,64", "--variants", "int8"]),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    subprocess.run([sys.executable, "-W", "ignore", "-c", EXPORT, str(folder)], check=True, timeout=180, capture_output=True)
    digits = folder / "digits"  # the CNN's agreement is checked on these (--input-data), recomputed below
    digits.mkdir()
    (folder / "flips").mkdir()  # for fragile: fp32 answers class 9 (sum of x[1:] > 0), int8 class 1
    np.save(folder / "flips" / "0.npy", np.concatenate([[-1.0], np.ones(63)]).astype(np.float32))
    for i, image in enumerate(np.random.default_rng(1).standard_normal((40, 1, 28, 28)).astype(np.float32)):
        np.save(digits / f"{i:02d}.npy", image)
    return folder


@pytest.fixture(scope="module")
def imported(files: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    repository, printed = tmp_path_factory.mktemp("repo"), {}
    for name, (file, flags) in IMPORTS.items():
        extra = ["--input-data", files / "digits"] if name == "cnn" else []
        result = harness("import-model", files / file, "--name", name, "--model-repository", repository, *flags, *extra)
        assert result.returncode == 0, result.stderr
        printed[name] = result.stdout
    return repository, printed


def _variant(repository: Path, model: str) -> dict:
    return json.loads((repository / model / "variant.json").read_text())


def _entries(repository: Path) -> list[str]:
    return sorted(p.name for p in repository.iterdir())


def test_the_four_variants_are_written_beside_each_original(imported: tuple[Path, dict[str, str]]) -> None:
    repository, printed = imported
    for name in ("cnn", "encoder"):
        for model, variant in ((f"{name}_int8", "int8"), (f"{name}_onnx", "onnx"), (f"{name}_onnx_int8", "onnx-int8")):
            record = _variant(repository, model)
            assert (record["variant"], record["original"], record["below_bound"]) == (variant, name, False)
            assert read_config(repository, model)["input"] == read_config(repository, name)["input"]
            line = next(row for row in printed[name].splitlines() if row.startswith(variant + " "))
            assert line.split()[1:3] == [model, "written"], line
        assert not (repository / name / "variant.json").exists()  # fp32 is the original itself
    formats = {m: json.loads((repository / m / "1" / "harness_model.json").read_text())["format"] for m in _entries(repository)}
    assert formats["cnn_int8"] == "torchscript" and formats["cnn_onnx"] == formats["cnn_onnx_int8"] == "onnx"
    assert _entries(repository) == sorted(
        ["cnn", "cnn_int8", "cnn_onnx", "cnn_onnx_int8", "encoder", "encoder_int8", "encoder_onnx", "encoder_onnx_int8"]
        + ["fragile", "fragile_int8"]
    )


def test_the_reported_agreement_is_what_the_written_files_compute(imported: tuple[Path, dict[str, str]], files: Path) -> None:
    """Recomputed without the harness: torch.jit for the TorchScript files, onnxruntime for the ONNX ones, in batches
    of 32 entries as the check runs them (dynamic quantization scales activations per batch: int8 answers depend on
    what is batched together, under Triton's dynamic batching too)."""
    repository, _ = imported
    images = np.stack([np.load(p) for p in sorted((files / "digits").glob("*.npy"))])
    batches = [images[:32], images[32:]]
    original_ts = torch.jit.load(str(files / "cnn.pt"))
    int8_ts = torch.jit.load(str(repository / "cnn_int8" / "1" / "model.pt"))
    session = onnxruntime.InferenceSession(str(repository / "cnn_onnx_int8" / "1" / "model.onnx"))
    with torch.inference_mode():
        original = np.concatenate([original_ts(torch.from_numpy(b)).numpy() for b in batches])
        int8 = np.concatenate([int8_ts(torch.from_numpy(b)).numpy() for b in batches])
    onnx_int8 = np.concatenate([session.run(None, {session.get_inputs()[0].name: b})[0] for b in batches])
    for model, outputs in (("cnn_int8", int8), ("cnn_onnx_int8", onnx_int8)):
        record = _variant(repository, model)
        assert record["inputs"].endswith("(40 entries)")
        assert record["max_abs_diff"] == pytest.approx(float(np.abs(outputs - original).max()), rel=1e-5)
        assert record["mean_abs_diff"] == pytest.approx(float(np.abs(outputs - original).mean()), rel=1e-5)
        assert record["top1"] == pytest.approx(float(np.mean(outputs.argmax(1) == original.argmax(1))))


def test_a_variant_that_changes_top1_beyond_the_bound_is_written_and_marked(imported: tuple[Path, dict[str, str]]) -> None:
    repository, printed = imported
    record = _variant(repository, "fragile_int8")
    assert record["below_bound"] is True and record["top1"] < 0.99
    assert record["why"].startswith("output__0: top-1 agreement")
    assert "fragile_int8" in printed["fragile"] and "int8: BELOW BOUND, written but marked" in printed["fragile"]


def test_int8_of_a_model_without_quantizable_layers_is_refused_not_copied(files: Path, tmp_path: Path) -> None:
    result = harness(
        "import-model", files / "convs.pt", "--name", "convs", "--model-repository", tmp_path,
        "--input", "image:FP32:-1,1,28,28", "--variants", "fp32,int8",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "int8: refused: convs has no layer torch's dynamic quantization covers" in result.stdout
    assert _entries(tmp_path) == ["convs"]


def test_an_onnx_original_gets_onnx_int8_and_says_why_not_the_others(files: Path, tmp_path: Path) -> None:
    result = harness("import-model", files / "cnn.onnx", "--name", "m", "--model-repository", tmp_path, "--variants", FOUR)
    assert result.returncode == 0, result.stderr
    assert "int8: refused: int8 is torch dynamic quantization and m is an ONNX model" in result.stdout
    assert "onnx: refused: m is an ONNX model already" in result.stdout
    assert _entries(tmp_path) == ["m", "m_onnx_int8"] and _variant(tmp_path, "m_onnx_int8")["top1"] > 0.9


def test_calibration_data_makes_onnx_int8_static(imported: tuple[Path, dict[str, str]], files: Path) -> None:
    repository, _ = imported
    result = harness(
        "variants", "--model", "cnn", "--model-repository", repository, "--variants", "onnx-int8",
        "--calibration-data", files / "digits", "--force",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        "int8 static (calibrated) quantization (ONNX Runtime) of cnn"
        in (repository / "cnn_onnx_int8" / "config.pbtxt").read_text()
    )
    assert "QuantizeLinear" in {
        n.op_type for n in __import__("onnx").load(str(repository / "cnn_onnx_int8/1/model.onnx")).graph.node
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["import-model", "{files}/histogram.pt", "--name", "histogram", "--input", "x:FP32:-1,8", "--variants", "onnx"],
         "the ONNX export of histogram failed (Exporting the operator 'aten::histc'"),
        (["variants", "--model", "cnn", "--variants", "int8"], "model 'cnn_int8' already exists"),
        (["variants", "--model", "cnn", "--variants", "int4"], "int4 is not a variant; choose from fp32"),
        (["variants", "--model", "cnn_int8", "--variants", "onnx"], "'cnn_int8' is itself a variant of 'cnn'"),
        (["variants", "--model", "cnn", "--variants", "bf16", "--min-agreement", "top1=2"], "'top1=2' is not a bound"),
        (["variants", "--model", "cnn", "--variants", "int8", "--calibration-data", "x"], "--calibration-data calibrates"),
        (["variants", "--model", "nothing", "--variants", "int8"], "unknown model 'nothing'"),
        (["import-model", "{files}/cnn.pt", "--name", "new", "--input", "image:FP32:-1,1,28,28", "--variants", "int8",
          "--input-data", "{files}/missing"], "--input-data"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_writes_nothing(
    imported: tuple[Path, dict[str, str]], files: Path, args: list[str], expected: str
) -> None:
    repository, _ = imported
    before = _entries(repository)
    result = harness(*[a.format(files=files) for a in args], "--model-repository", repository)
    lines = result.stderr.strip().splitlines()
    assert result.returncode in (2, 4) and len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    assert _entries(repository) == before  # nothing written, nothing left staged (no hidden folder either)


def test_a_model_with_no_readable_network_is_refused(tmp_path: Path) -> None:
    """identity (bundled) is plain numpy in model.py: nothing to quantize or export, said before anything is made."""
    result = harness("variants", "--model", "identity", "--variants", "int8")
    assert (
        result.returncode == 2
        and "neither imported (harness import-model) nor is it built by build_identity()" in result.stderr
    )


QUICK = ["--instances", "cpu:1", "--warmup", "0.3s", "--window", "0.5s", "--max-windows", "3", "--workers", "1"]


@pytest.fixture(scope="module")
def served(imported: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from harness.triton.server import LocalServer

    with LocalServer(imported[0], tmp_path_factory.mktemp("triton") / "triton.log") as server:
        yield server.endpoints.grpc_url


def _sweep(url: str, repository: Path, folder: Path, *args: str) -> dict:
    result = harness("sweep", "--url", url, "--model-repository", repository, "--output", folder, *QUICK, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((folder / "run.json").read_text())


@pytest.mark.integration
@pytest.mark.parametrize("name", ["cnn", "encoder"])
def test_a_sweep_of_the_original_and_its_variants_names_each_with_its_agreement(
    imported: tuple[Path, dict[str, str]], served: str, tmp_path: Path, name: str
) -> None:
    repository = imported[0]
    run = _sweep(
        served, repository, tmp_path / "run", "--model", name, "--variants", "int8,onnx,onnx-int8", "--concurrency", "1,2"
    )
    curves = run["curves"]
    assert [c["model"] for c in curves] == [name, f"{name}_int8", f"{name}_onnx", f"{name}_onnx_int8"]
    assert curves[0]["variant"] is None
    for curve in curves[1:]:
        assert curve["variant"] == _variant(repository, curve["model"])  # run.json carries the variant's own record
    for curve in curves:
        assert [lv["concurrency"] for lv in curve["levels"]] == [1, 2]
        assert all(lv["failures"] == 0 and lv["requests"] > 0 for lv in curve["levels"])
    verdict = harness("verdict", tmp_path / "run", "--target-rps", "1", "--slo", "p99=1000ms")
    assert verdict.returncode == 0, verdict.stderr
    assert "variant (agreement)" in verdict.stdout and f"int8 of {name}, top-1 " in verdict.stdout


@pytest.mark.integration
def test_validate_outputs_fails_a_variant_whose_answers_differ_and_the_verdict_says_so(
    imported: tuple[Path, dict[str, str]], files: Path, served: str, tmp_path: Path
) -> None:
    repository = imported[0]
    flips = files / "flips"
    run = _sweep(served, repository, tmp_path / "run", "--model", "fragile", "--variants", "int8", "--concurrency", "1",
                 "--validate-outputs", "--input-data", flips)  # fmt: skip
    original, int8 = run["curves"]
    assert original["levels"][0]["failures"] == 0  # the original is not checked against itself
    (level,) = int8["levels"]
    assert level["failures"] == level["requests"] > 0  # its one entry: fp32 answers class 9, int8 class 1
    assert level["first_error"] == "validation: entry 0, output 'output__0': top-1 class 1 in row 0, expected 9"
    plain = _sweep(served, repository, tmp_path / "plain", "--model", "fragile_int8", "--concurrency", "1")
    assert plain["curves"][0]["levels"][0]["failures"] == 0 and plain["curves"][0]["variant"]["below_bound"] is True
    verdict = harness("verdict", tmp_path / "plain", "--target-rps", "1", "--slo", "p99=1000ms")
    sentence = verdict.stdout.splitlines()[0]  # one model: its curve is named by its instance group
    assert "Caveat: cpu:1 is a variant BELOW its agreement bound (int8 of fragile, top-1 0.7" in sentence
