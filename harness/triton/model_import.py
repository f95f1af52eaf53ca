"""Bring your own model file: read a TorchScript file, a torch.export program or an ONNX file, and write a model
folder the embedded server's Python backend serves (config.pbtxt + 1/model.py), plus the native-backend config
an NGC server would use instead.

Tensor names, dtypes and shapes come from the file where it records them (torch.export and ONNX do; TorchScript
records input names only), from --input/--output where it does not. A leading variable dimension on every input
is the batch dimension: the model then batches (max_batch_size, dynamic batching), as the bundled ones do.
The folder is written under a hidden temporary name and renamed into place: an error leaves nothing behind.
torch is imported when a file is read, onnxruntime only for an ONNX file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from harness.errors import ConfigError
from harness.triton.control import NUMPY_DTYPES
from harness.triton.repository import BUNDLED_REPOSITORY

FORMATS = ("torchscript", "torch_export", "onnx")
FILE_NAMES = {"torchscript": "model.pt", "torch_export": "model.pt2", "onnx": "model.onnx"}
MAX_BATCH_SIZE = 64  # what an imported batching model accepts per request, as the bundled models do
QUEUE_DELAY_US = 500  # lets concurrent requests meet in one batch (the bundled mnist_cnn's setting)
RUNTIME = Path(__file__).with_name("imported_model.py")  # becomes 1/model.py
SERVING = BUNDLED_REPOSITORY / "_nets" / "serving.py"  # device and thread choices, shared with the bundled models
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ONNX_TYPES = {
    "tensor(float)": "FP32",
    "tensor(float16)": "FP16",
    "tensor(double)": "FP64",
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(int16)": "INT16",
    "tensor(int8)": "INT8",
    "tensor(uint8)": "UINT8",
    "tensor(bool)": "BOOL",
}


@dataclass(frozen=True)
class Tensor:
    """One input or output: Triton datatype (FP32, INT64...) and the full shape, -1 where a dimension varies."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Signature:
    format: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    @property
    def batching(self) -> bool:
        """Every input's (and output's) first dimension varies: that is the batch dimension."""
        return all(t.shape and t.shape[0] == -1 for t in self.inputs + self.outputs)


def parse_tensor(text: str, flag: str) -> Tensor:
    """'image:FP32:-1,1,28,28' -> Tensor; the dtype as Triton (FP32) or numpy (float32) names it."""
    parts = text.split(":")
    if len(parts) != 3 or not parts[0]:
        raise ConfigError(f"{flag} {text!r}: expected NAME:DTYPE:DIMS, for example image:FP32:-1,1,28,28")
    name, dtype, dims = parts
    datatype = _datatype(dtype)
    if datatype is None:
        raise ConfigError(f"{flag} {text!r}: unknown dtype {dtype!r}; use one of {', '.join(NUMPY_DTYPES)}")
    try:
        shape = tuple(int(d) for d in dims.split(","))
    except ValueError:
        shape = ()
    if not shape or any(d == 0 or d < -1 for d in shape):
        raise ConfigError(f"{flag} {text!r}: DIMS must be sizes or -1 (variable), for example -1,1,28,28")
    return Tensor(name, datatype, shape)


def _datatype(text: str) -> str | None:
    upper = text.upper()
    if upper in NUMPY_DTYPES:
        return upper
    try:
        dtype = np.dtype(text)
    except TypeError:
        return None
    return next((k for k, v in NUMPY_DTYPES.items() if np.dtype(v) == dtype), None)


def detect_format(path: Path) -> str:
    """What kind of model file this is, from its content (a suffix can lie)."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; give the model file to import")
    if not zipfile.is_zipfile(path):
        if _looks_like_onnx(path):
            return "onnx"
        raise ConfigError(f"{path}: unknown model format; give a TorchScript (.pt), torch.export (.pt2) or ONNX file")
    try:
        names = zipfile.ZipFile(path).namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConfigError(f"{path}: unreadable archive ({exc}); give a TorchScript or torch.export file") from exc
    if any(n.endswith("/models/model.json") or n.endswith("model_weights_config.json") for n in names):
        return "torch_export"
    if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
        return "torchscript"
    if any(n.endswith("data.pkl") for n in names):
        raise ConfigError(
            f"{path}: a pickled torch object (torch.save), not a model program; save it with "
            "torch.jit.script(model).save(...) or torch.export.save(...)"
        )
    raise ConfigError(f"{path}: unknown model format (a zip archive, not TorchScript or torch.export)")


def _looks_like_onnx(path: Path) -> bool:
    """An ONNX file is a protobuf ModelProto: field 1 (ir_version, a varint) comes first."""
    with open(path, "rb") as handle:
        head = handle.read(2)
    return path.suffix.lower() == ".onnx" and len(head) == 2 and head[0] == 0x08


def read_signature(path: Path, fmt: str, inputs: tuple[Tensor, ...], outputs: tuple[Tensor, ...]) -> Signature:
    """The model's tensors: from the file, with --input/--output (when given) taking precedence."""
    reader = {"torchscript": _torchscript, "torch_export": _torch_export, "onnx": _onnx}[fmt]
    return reader(path, inputs, outputs)


def _torchscript(path: Path, inputs: tuple[Tensor, ...], outputs: tuple[Tensor, ...]) -> Signature:
    """TorchScript records argument names but no shapes or dtypes: --input is required; outputs are found by
    running the model once on zeros of those shapes (variable dimensions as 1) unless --output gives them."""
    module = _load_torch(path, "torchscript")
    arguments = [a.name for a in module.forward.schema.arguments[1:]]  # [0] is self
    if not inputs:
        raise ConfigError(
            f"{path}: TorchScript records no input shapes; give --input NAME:DTYPE:DIMS for "
            f"{', '.join(arguments) or 'each input'} (for example --input {arguments[0] if arguments else 'x'}"
            ":FP32:-1,1,28,28)"
        )
    if len(inputs) != len(arguments):
        raise ConfigError(
            f"{path}: forward takes {len(arguments)} input(s) ({', '.join(arguments)}); {len(inputs)} --input given"
        )
    found = outputs or _probe_outputs(module, inputs, path)
    return Signature("torchscript", inputs, found)


def _torch_export(path: Path, inputs: tuple[Tensor, ...], outputs: tuple[Tensor, ...]) -> Signature:
    program = _load_torch(path, "torch_export")
    user_inputs = set(program.graph_signature.user_inputs)
    nodes = list(program.graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder" and n.name in user_inputs]
    found_in = tuple(_fake_tensor(n.name, n.meta.get("val"), path) for n in placeholders)
    results = next(n for n in nodes if n.op == "output").args[0]
    found_out = tuple(_fake_tensor(f"output__{i}", getattr(r, "meta", {}).get("val"), path) for i, r in enumerate(results))
    return Signature("torch_export", _prefer(inputs, found_in, "--input", path), _prefer(outputs, found_out, "--output", path))


def _onnx(path: Path, inputs: tuple[Tensor, ...], outputs: tuple[Tensor, ...]) -> Signature:
    session = open_onnx(path)
    found_in = tuple(_onnx_tensor(t, path) for t in session.get_inputs())
    found_out = tuple(_onnx_tensor(t, path) for t in session.get_outputs())
    return Signature("onnx", _prefer(inputs, found_in, "--input", path), _prefer(outputs, found_out, "--output", path))


def open_onnx(path: Path) -> Any:
    """An onnxruntime session on CPU; onnxruntime is imported only here, where an ONNX file needs it."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise ConfigError("ONNX models need onnxruntime: pip install onnxruntime (then import again)") from exc
    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for a broken file
        raise ConfigError(f"{path}: not a readable ONNX model ({str(exc).splitlines()[0][:200]})") from exc


def _onnx_tensor(value: Any, path: Path) -> Tensor:
    datatype = _ONNX_TYPES.get(value.type)
    if datatype is None:
        raise ConfigError(f"{path}: tensor {value.name!r} has type {value.type}, which the harness cannot send")
    return Tensor(value.name, datatype, tuple(d if isinstance(d, int) and d > 0 else -1 for d in value.shape))


def _prefer(given: tuple[Tensor, ...], found: tuple[Tensor, ...], flag: str, path: Path) -> tuple[Tensor, ...]:
    """Flags override what the file says, tensor by tensor in order; their count must match the file's."""
    if not given:
        return found
    if len(given) != len(found):
        raise ConfigError(
            f"{path}: the model has {len(found)} {flag.strip('-')}(s) "
            f"({', '.join(t.name for t in found)}); {len(given)} {flag} given"
        )
    return given


def _load_torch(path: Path, fmt: str) -> Any:
    import torch

    try:
        if fmt == "torchscript":
            return torch.jit.load(str(path), map_location="cpu")
        return torch.export.load(str(path))
    except Exception as exc:  # torch raises RuntimeError, pickle and zip errors for a file it cannot read
        message = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path}: not a readable {fmt.replace('_', '.')} model ({message})") from exc


def _fake_tensor(name: str, value: Any, path: Path) -> Tensor:
    """A Tensor from torch.export's recorded example value: symbolic sizes are variable (-1)."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise ConfigError(f"{path}: {name!r} is not a tensor; give --input/--output NAME:DTYPE:DIMS")
    shape = tuple(int(d) if isinstance(d, int) else -1 for d in value.shape)
    return Tensor(name, _torch_datatype(value.dtype, name, path), shape)


def _torch_datatype(dtype: Any, name: str, path: Path) -> str:
    import torch

    numpy_dtype = torch.empty(0, dtype=dtype).numpy().dtype
    datatype = next((k for k, v in NUMPY_DTYPES.items() if np.dtype(v) == numpy_dtype), None)
    if datatype is None:
        raise ConfigError(f"{path}: tensor {name!r} has dtype {dtype}, which Triton cannot carry")
    return datatype


def _probe_outputs(module: Any, inputs: tuple[Tensor, ...], path: Path) -> tuple[Tensor, ...]:
    import torch

    batching = all(t.shape[0] == -1 for t in inputs)
    arrays = [np.zeros([abs(d) for d in t.shape], dtype=NUMPY_DTYPES[t.datatype]) for t in inputs]
    try:
        with torch.inference_mode():
            result = module(*[torch.from_numpy(a) for a in arrays])
    except Exception as exc:  # the model rejected the shapes given
        message = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{path}: the model fails on inputs shaped as --input says ({message}); fix --input "
            "or give --output NAME:DTYPE:DIMS"
        ) from exc
    results = result if isinstance(result, (tuple, list)) else (result,)
    return tuple(
        Tensor(
            f"output__{i}",
            _torch_datatype(r.dtype, f"output__{i}", path),
            ((-1,) + tuple(r.shape[1:])) if batching else tuple(r.shape),
        )
        for i, r in enumerate(results)
    )


def python_config(name: str, signature: Signature) -> dict[str, Any]:
    """The embedded server's config: the Python backend running 1/model.py, one CPU instance by default."""
    config = _tensors_config(name, signature)
    config.update(backend="python", instance_group=[{"kind": "KIND_CPU", "count": 1}])
    return config


def native_config(name: str, signature: Signature) -> dict[str, Any] | None:
    """The config for Triton's own backend (an NGC server): libtorch for TorchScript, onnxruntime for ONNX."""
    if signature.format == "torch_export":
        return None
    config = _tensors_config(name, signature)
    if signature.format == "torchscript":
        config.update(platform="pytorch_libtorch", default_model_filename=FILE_NAMES["torchscript"])
    else:
        config.update(platform="onnxruntime_onnx", default_model_filename=FILE_NAMES["onnx"])
    return config


def _tensors_config(name: str, signature: Signature) -> dict[str, Any]:
    batching = signature.batching

    def entries(tensors: tuple[Tensor, ...]) -> list[dict[str, Any]]:
        return [
            {"name": t.name, "data_type": f"TYPE_{t.datatype}", "dims": list(t.shape[1:] if batching else t.shape)}
            for t in tensors
        ]

    config: dict[str, Any] = {
        "name": name,
        "max_batch_size": MAX_BATCH_SIZE if batching else 0,
        "input": entries(signature.inputs),
        "output": entries(signature.outputs),
    }
    if batching:
        config["dynamic_batching"] = {"max_queue_delay_microseconds": QUEUE_DELAY_US}
    return config


def config_text(config: dict[str, Any]) -> str:
    """A config dict as config.pbtxt text, through Triton's own ModelConfig message (so it is valid)."""
    message = json_format.ParseDict(config, model_config_pb2.ModelConfig())
    return text_format.MessageToString(message)


def check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise ConfigError(f"--name {name!r}: use letters, digits, '_', '-' or '.', starting with a letter or digit")


class Staging:
    """Model folders written under hidden names in the repository and renamed into place together by commit();
    whatever was not committed is removed on exit, so an error (a bad file, a failed export) leaves nothing behind.
    With force, a model's old folder goes only once its new one is in."""

    def __init__(self, repository: Path, force: bool, fix: str = "pick another --name or add --force") -> None:
        self.repository, self.force, self.fix = repository, force, fix
        self.staged: dict[str, Path] = {}

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        for folder in self.staged.values():
            shutil.rmtree(folder, ignore_errors=True)

    def check(self, name: str) -> None:
        """Refused when NAME exists without force (checked before any work, and again when staged)."""
        check_name(name)
        if (self.repository / name).exists() and not self.force:
            raise ConfigError(f"model {name!r} already exists in {self.repository}; {self.fix}")

    def folder(self, name: str) -> Path:
        """The hidden folder that becomes repository/NAME at commit."""
        self.check(name)
        self.staged[name] = self.repository / f".{name}.import-{os.getpid()}"
        shutil.rmtree(self.staged[name], ignore_errors=True)
        return self.staged[name]

    def commit(self) -> list[Path]:
        placed = []
        for name, folder in list(self.staged.items()):
            target, old = self.repository / name, self.repository / f".{name}.replaced-{os.getpid()}"
            try:
                if target.exists():
                    target.rename(old)
                folder.rename(target)
            finally:
                shutil.rmtree(old, ignore_errors=True)
            del self.staged[name]
            placed.append(target)
        return placed


def write_model(repository: Path, name: str, source: Path, signature: Signature, force: bool) -> Path:
    """repository/NAME/{config.pbtxt, 1/model.py, 1/serving.py, 1/harness_model.json, 1/<model file>}, staged and
    renamed into place (Staging)."""
    with Staging(repository, force) as staging:
        stage(staging.folder(name), name, source, signature)
        return staging.commit()[0]


def stage(
    folder: Path,
    name: str,
    source: Path,
    signature: Signature,
    manifest: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    note: str = "",
) -> None:
    """Write a model folder: `manifest` adds to 1/harness_model.json (a variant's autocast, devices), `config` to
    config.pbtxt (a variant's instance group), `note` heads config.pbtxt's comment."""
    version = folder / "1"
    version.mkdir(parents=True)
    (folder / "config.pbtxt").write_text(
        f"# {note or f'Imported by `harness import-model` from {source.name} ({signature.format}).'}\n"
        + config_text({**python_config(name, signature), **(config or {})})
    )
    shutil.copyfile(source, version / FILE_NAMES[signature.format])
    shutil.copyfile(RUNTIME, version / "model.py")
    shutil.copyfile(SERVING, version / "serving.py")
    written = {
        "format": signature.format,
        "file": FILE_NAMES[signature.format],
        "batching": signature.batching,
        "inputs": [{"name": t.name, "dtype": np.dtype(NUMPY_DTYPES[t.datatype]).name} for t in signature.inputs],
        "outputs": [t.name for t in signature.outputs],
        **(manifest or {}),
    }
    (version / "harness_model.json").write_text(json.dumps(written, indent=2) + "\n")
