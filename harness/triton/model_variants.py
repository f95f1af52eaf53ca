"""Cheaper variants of one model, each written as a model of its own beside the original (NAME_int8, NAME_onnx,
NAME_onnx_int8, NAME_bf16, NAME_fp16), each served by the imported-model runtime (harness/triton/imported_model.py):

- int8: torch dynamic quantization of the layers it covers (Linear, LSTM, GRU; of a TorchScript or torch.export
  file, Linear through torch's TorchScript pass), saved as TorchScript. A model with none is refused, not copied.
- onnx: an ONNX export (torch.onnx's TorchScript-based exporter for a module or TorchScript file, its dynamo
  exporter for a torch.export program: it keeps the program's dynamic dimensions), run by ONNX Runtime on CPU.
- onnx-int8: ONNX Runtime's quantization of that export: dynamic, or static when calibration entries are given.
- bf16: the original under torch.autocast(bfloat16), on CPUs whose flags say they compute it (avx512_bf16 or
  amx_bf16 in /proc/cpuinfo); skipped elsewhere (emulated bf16 is slower than fp32).
- fp16: the original under torch.autocast(float16) for GPU instance groups; skipped where torch sees no GPU.

torch, onnxruntime and onnxscript are imported only when a variant needs them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.triton.control import NUMPY_DTYPES
from harness.triton.model_import import FILE_NAMES, Signature, Tensor
from harness.triton.repository import read_config

BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # CPU flags of native bf16 arithmetic (AVX-512 BF16, AMX)
_QUANTIZED_ONNX_OPS = {
    "DynamicQuantizeLinear",
    "MatMulInteger",
    "ConvInteger",
    "QuantizeLinear",
    "QLinearMatMul",
    "QLinearConv",
}

Run = Callable[[list[np.ndarray]], list[np.ndarray]]  # inputs in order -> outputs in order


class Refused(Exception):
    """A variant that cannot be made of this model, and why (listed, not an error): int8 of a model with no
    quantizable layer, bf16 on a CPU without bf16 arithmetic, fp16 without a GPU."""


@dataclass(frozen=True)
class Original:
    """The model variants are made of: a model file, or a bundled model's network built in code."""

    name: str
    signature: Signature
    path: Path | None = None  # the model file (TorchScript, torch.export, ONNX); None: built by `build`
    build: Callable[[], Any] | None = None

    @property
    def format(self) -> str:
        return self.signature.format if self.path is not None else "module"


@dataclass(frozen=True)
class Made:
    """A variant's model file and what its manifest and config add."""

    path: Path
    signature: Signature
    manifest: dict[str, Any]
    config: dict[str, Any]
    note: str


def from_repository(repository: Path, name: str) -> Original:
    """A model already in a repository: one `harness import-model` wrote (its file), or a bundled one whose network
    `build_<name>()` builds (the repository's _nets/nets.py)."""
    from harness.triton import inprocess

    config = read_config(repository, name)
    version = repository / name / "1"
    manifest = version / "harness_model.json"
    if manifest.is_file():
        import json

        data = json.loads(manifest.read_text())
        path = version / data["file"]
        return Original(name, replace(signature_of(config), format=data["format"]), path=path)
    build = inprocess.builder(repository, name)
    if build is None:
        raise ConfigError(
            f"model {name!r} was neither imported (harness import-model) nor is it built by build_{name}() in the "
            "repository's _nets/nets.py: its network cannot be read; import its model file with --variants instead"
        )
    return Original(name, signature_of(config), build=build)


def signature_of(config: dict[str, Any]) -> Signature:
    """The tensors a config declares, the batch dimension (-1) first when the model batches."""
    batch = (-1,) if int(config.get("max_batch_size", 0)) else ()

    def tensors(entries: list[dict[str, Any]]) -> tuple[Tensor, ...]:
        return tuple(
            Tensor(e["name"], str(e["data_type"]).removeprefix("TYPE_"), batch + tuple(int(d) for d in e.get("dims", [])))
            for e in entries
        )

    return Signature("module", tensors(config.get("input", [])), tensors(config.get("output", [])))


def original_runner(original: Original) -> Run:
    """The original as a callable in this process, on CPU, one thread (as one Triton instance)."""
    from harness.triton.imported_model import make_runner

    if original.path is not None:
        import torch

        return make_runner(original.format, str(original.path), torch.device("cpu"), 1)
    module = _module(original)
    return lambda inputs: _forward(module, inputs)


def _forward(module: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import torch

    with torch.inference_mode():
        result = module(*[torch.from_numpy(np.ascontiguousarray(a)) for a in inputs])
    results = result if isinstance(result, (tuple, list)) else (result,)
    return [r.detach().float().numpy() if r.is_floating_point() else r.numpy() for r in results]


def make(
    variant: str, original: Original, example: list[np.ndarray], folder: Path, onnx: Path | None, calibration: Any
) -> Made:
    """One variant's file in `folder`; Refused when it cannot be made here, ConfigError when making it fails."""
    makers = {"int8": _int8, "onnx": _onnx, "bf16": _bf16, "fp16": _fp16}
    if variant == "onnx-int8":
        return _onnx_int8(original, onnx, folder, calibration)
    return makers[variant](original, example, folder)


def _int8(original: Original, example: list[np.ndarray], folder: Path) -> Made:
    import torch

    if original.format == "onnx":
        raise Refused(f"int8 is torch dynamic quantization and {original.name} is an ONNX model; ask for onnx-int8")
    none = f"{original.name} has no layer torch's dynamic quantization covers (Linear, LSTM, GRU): int8 would change nothing"
    with _quiet():
        if original.build is not None:
            quantized = torch.ao.quantization.quantize_dynamic(
                _module(original), {torch.nn.Linear, torch.nn.LSTM, torch.nn.GRU}, dtype=torch.qint8
            )
            if not any(type(m).__module__.startswith("torch.ao.nn.quantized.dynamic") for m in quantized.modules()):
                raise Refused(none)
            script = _trace(quantized, example)
        else:
            from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic_jit

            script = quantize_dynamic_jit(_script(original, example), {"": default_dynamic_qconfig})
            if "quantized::linear_dynamic" not in str(script.inlined_graph):
                raise Refused(none + " (of a TorchScript or torch.export file, torch quantizes Linear layers only)")
    path = folder / FILE_NAMES["torchscript"]
    script.save(str(path))
    signature = replace(original.signature, format="torchscript")
    return Made(path, signature, {"devices": "cpu"}, {}, "int8 dynamic quantization (torch) of")


def _onnx(original: Original, example: list[np.ndarray], folder: Path) -> Made:
    import torch

    if original.format == "onnx":
        raise Refused(f"{original.name} is an ONNX model already: its fp32 runs on ONNX Runtime")
    path = folder / FILE_NAMES["onnx"]
    inputs = [t.name for t in original.signature.inputs]
    outputs = [t.name for t in original.signature.outputs]
    args = tuple(torch.from_numpy(a) for a in example)
    try:
        with _quiet():
            if original.format == "torch_export":
                _require("onnxscript", "the ONNX export of a torch.export program")
                program = torch.export.load(str(original.path))
                torch.onnx.export(program, args, str(path), dynamo=True, input_names=inputs, output_names=outputs)
            else:
                module = _module(original) if original.build is not None else torch.jit.load(str(original.path))
                axes = _dynamic_axes(original.signature)
                torch.onnx.export(
                    module, args, str(path), dynamic_axes=axes, dynamo=False, input_names=inputs, output_names=outputs
                )
    except ConfigError:
        raise
    except Exception as exc:  # the exporters raise many kinds, for operators or shapes they cannot express
        raise ConfigError(
            f"the ONNX export of {original.name} failed ({_first_line(exc)}); export ONNX from the Python model "
            "(torch.onnx.export) and import that file, or leave onnx out of --variants"
        ) from exc
    return Made(path, replace(original.signature, format="onnx"), {}, {}, "ONNX export (run by ONNX Runtime) of")


def _onnx_int8(original: Original, onnx: Path | None, folder: Path, calibration: Any) -> Made:
    if onnx is None:
        raise Refused("no ONNX file of it to quantize")
    _require("onnxruntime", "onnx-int8")
    _require("onnx", "onnx-int8 (onnxruntime.quantization reads the file with it)")
    _require("ml_dtypes", "onnx-int8 (onnxruntime.quantization needs it)")
    import onnx as onnx_lib
    from onnxruntime import quantization

    path = folder / FILE_NAMES["onnx"]
    try:
        with _quiet():
            if calibration is None:
                quantization.quantize_dynamic(str(onnx), str(path), weight_type=quantization.QuantType.QInt8)
            else:
                quantization.quantize_static(str(onnx), str(path), calibration, weight_type=quantization.QuantType.QInt8)
    except Exception as exc:  # onnxruntime.quantization raises plain exceptions for graphs it cannot handle
        raise ConfigError(
            f"ONNX Runtime's quantization of {original.name} failed ({_first_line(exc)}); leave onnx-int8 out of --variants"
        ) from exc
    if not {node.op_type for node in onnx_lib.load(str(path)).graph.node} & _QUANTIZED_ONNX_OPS:
        raise Refused(f"ONNX Runtime quantizes no operator of {original.name} (no MatMul, Gemm or Conv it covers)")
    kind = "static (calibrated)" if calibration is not None else "dynamic"
    return Made(path, replace(original.signature, format="onnx"), {}, {}, f"int8 {kind} quantization (ONNX Runtime) of")


def _bf16(original: Original, example: list[np.ndarray], folder: Path) -> Made:
    found = bf16_flags()
    if not found:
        raise Refused(f"this CPU has neither {' nor '.join(BF16_FLAGS)} (/proc/cpuinfo): bf16 would run emulated, slower")
    return _autocast(original, example, folder, "bfloat16", {}, f"bf16 autocast (CPU flags {', '.join(found)}) of")


def _fp16(original: Original, example: list[np.ndarray], folder: Path) -> Made:
    import torch

    if not torch.cuda.is_available():
        raise Refused("fp16 pays on GPU instance groups only, and torch sees no CUDA device here")
    config = {"instance_group": [{"kind": "KIND_GPU", "count": 1}]}
    return _autocast(original, example, folder, "float16", config, "fp16 autocast (GPU instances only) of")


def _autocast(original: Original, example: list[np.ndarray], folder: Path, dtype: str, config: dict, note: str) -> Made:
    """The original's own file (a bundled network: traced to TorchScript), run under torch.autocast(dtype)."""
    import shutil

    if original.format == "onnx":
        raise Refused(f"{dtype} runs torch autocast and {original.name} is an ONNX model")
    if original.path is not None:
        path = folder / FILE_NAMES[original.format]
        shutil.copyfile(original.path, path)
        signature = original.signature
    else:
        path = folder / FILE_NAMES["torchscript"]
        with _quiet():
            _trace(_module(original), example).save(str(path))
        signature = replace(original.signature, format="torchscript")
    devices = "gpu" if dtype == "float16" else "any"
    return Made(path, signature, {"autocast": dtype, "devices": devices}, config, note)


def bf16_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """Which of BF16_FLAGS this CPU lists (none where /proc/cpuinfo cannot be read)."""
    try:
        words = set(cpuinfo.read_text().split())
    except OSError:
        return []
    return [flag for flag in BF16_FLAGS if flag in words]


def _module(original: Original) -> Any:
    assert original.build is not None
    return original.build().eval()


def _script(original: Original, example: list[np.ndarray]) -> Any:
    """A TorchScript module of the original's file: loaded as it is, or a torch.export program traced."""
    import torch

    if original.format == "torchscript":
        return torch.jit.load(str(original.path)).eval()
    return _trace(torch.export.load(str(original.path)).module(), example)


def _trace(module: Any, example: list[np.ndarray]) -> Any:
    """torch.jit.trace with attention's fused fast path off: the fused kernel takes no quantized weights, no
    autocast, and exports to no ONNX."""
    import torch

    mha = torch.backends.mha
    enabled = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        return torch.jit.trace(module, tuple(torch.from_numpy(a) for a in example), check_trace=False)
    finally:
        mha.set_fastpath_enabled(enabled)


def _dynamic_axes(signature: Signature) -> dict[str, dict[int, str]]:
    """Every variable dimension (-1: the batch, a sequence length) stays variable in the export."""
    return {
        t.name: {i: f"{t.name}_dim{i}" for i, d in enumerate(t.shape) if d == -1}
        for t in signature.inputs + signature.outputs
        if -1 in t.shape
    }


def example_inputs(signature: Signature, seed: int = 0) -> list[np.ndarray]:
    """Small seeded inputs for tracing and exporting: batch 2, variable dimensions 16, integer ids in [0, 100)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in signature.inputs:
        shape = tuple(2 if (i == 0 and signature.batching) else (16 if d == -1 else d) for i, d in enumerate(t.shape))
        dtype = np.dtype(NUMPY_DTYPES[t.datatype])
        floating = np.issubdtype(dtype, np.floating)
        arrays.append(rng.standard_normal(shape).astype(dtype) if floating else rng.integers(0, 100, shape).astype(dtype))
    return arrays


def _require(module: str, purpose: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{purpose} needs {module}: pip install 'harness[onnx]' (or pip install {module}), then run again")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch's and onnxruntime's warnings (deprecations, 'consider pre-processing') and the graph torch.onnx prints
    when an export fails say nothing to a user here (the failure is said in one line)."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), _stdout_closed():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


@contextlib.contextmanager
def _stdout_closed() -> Iterator[None]:
    """File descriptors 1 and 2 to /dev/null: torch's C++ side prints graphs and deprecation warnings there, past
    Python's sys.stdout and warnings (errors still come back as exceptions, said in one line)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split())[:200] if text else type(exc).__name__
