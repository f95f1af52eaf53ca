"""Real input data for load generation (--input-data PATH, --shape NAME:DIMS): read once, checked against the
model's inputs, before any load. Pure: numpy and the model's spec, no server. Not yet wired to the flags and
the load engines (issue 11, part 2: the engines' payload cycling is still to do).

Formats: perf_analyzer's JSON ({"data": [{INPUT: [values] | {"content": [...], "shape": [...]} |
{"b64": "...", "shape": [...]}}, ...]}) and a folder of .npy files (one entry per file for a one-input model,
or one sub-folder per entry holding INPUT.npy for each input). Shapes exclude the batch dimension, as in
perf_analyzer; a batched request repeats the entry batch_size times.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.triton.control import NUMPY_DTYPES, ModelSpec, TensorSpec

Entry = dict[str, np.ndarray]


def parse_shapes(items: list[str]) -> dict[str, tuple[int, ...]]:
    """['tokens:1,64'] -> {'tokens': (1, 64)}: the size of each variable dimension of an input."""
    shapes = {}
    for item in items:
        name, _, dims = item.partition(":")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            shape = ()
        if not name or not shape or any(d < 1 for d in shape):
            raise ConfigError(f"--shape {item!r}: expected NAME:D1,D2 with positive sizes, for example tokens:64")
        shapes[name] = shape
    return shapes


def load_entries(path: Path, spec: ModelSpec, shapes: dict[str, tuple[int, ...]] | None = None) -> list[Entry]:
    """Every entry of the data at `path`, each input checked for presence, dtype and shape."""
    if path.is_dir():
        raw = _npy_entries(path, spec)
    elif path.is_file():
        raw = _json_entries(path, spec)
    else:
        raise ConfigError(f"--input-data {path}: no such file or folder")
    if not raw:
        raise ConfigError(f"--input-data {path}: no entries found")
    return [_checked(i, entry, spec, shapes or {}, path) for i, entry in enumerate(raw)]


def _json_entries(path: Path, spec: ModelSpec) -> list[Entry]:
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--input-data {path}: unreadable JSON ({exc})") from exc
    entries = document.get("data") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"--input-data {path}: expected perf_analyzer's format, {{\"data\": [{{INPUT: ...}}, ...]}}")
    by_name = {t.name: t for t in spec.inputs}
    result = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"--input-data {path}: entry {index} is not an object of inputs")
        result.append({name: _json_value(value, by_name.get(name), index, name, path) for name, value in entry.items()})
    return result


def _json_value(value: Any, tensor: TensorSpec | None, index: int, name: str, path: Path) -> np.ndarray:
    if tensor is None:
        raise ConfigError(f"--input-data {path}: entry {index} has input {name!r}, which the model does not have")
    dtype = np.dtype(NUMPY_DTYPES[tensor.datatype])
    shape = value.get("shape") if isinstance(value, dict) else None
    try:
        if isinstance(value, dict) and "b64" in value:
            array = np.frombuffer(base64.b64decode(value["b64"]), dtype=dtype)
        else:
            array = np.asarray(value.get("content") if isinstance(value, dict) else value)
            if array.size and not np.can_cast(array.dtype, dtype, casting="same_kind"):
                raise ConfigError(f"--input-data {path}: entry {index}, input {name!r}: {array.dtype} values for a "
                                  f"{tensor.datatype} input")
            array = array.astype(dtype)
        return array.reshape(shape) if shape is not None else array
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--input-data {path}: entry {index}, input {name!r}: {exc}") from exc


def _npy_entries(folder: Path, spec: ModelSpec) -> list[Entry]:
    files = sorted(folder.glob("*.npy"))
    if files:
        if len(spec.inputs) != 1:
            raise ConfigError(f"--input-data {folder}: loose .npy files fit a one-input model; give one sub-folder "
                              f"per entry with {', '.join(t.name + '.npy' for t in spec.inputs)}")
        return [{spec.inputs[0].name: _npy(f)} for f in files]
    return [{f.stem: _npy(f) for f in sorted(sub.glob("*.npy"))} for sub in sorted(p for p in folder.iterdir()
                                                                                 if p.is_dir())]


def _npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--input-data {path}: unreadable .npy file ({exc})") from exc


def _checked(index: int, entry: Entry, spec: ModelSpec, shapes: dict[str, tuple[int, ...]], path: Path) -> Entry:
    checked = {}
    for tensor in spec.inputs:
        if tensor.name not in entry:
            raise ConfigError(f"--input-data {path}: entry {index} has no input {tensor.name!r}")
        array = entry[tensor.name]
        dtype = np.dtype(NUMPY_DTYPES[tensor.datatype])
        if array.dtype != dtype and not np.can_cast(array.dtype, dtype, casting="same_kind"):
            raise ConfigError(f"--input-data {path}: entry {index}, input {tensor.name!r}: dtype {array.dtype}, "
                              f"the model takes {tensor.datatype}")
        declared = tensor.shape[1:] if spec.max_batch_size else tensor.shape
        wanted = shapes.get(tensor.name)
        if not _fits(array.shape, declared, wanted):
            raise ConfigError(f"--input-data {path}: entry {index}, input {tensor.name!r}: shape {list(array.shape)}, "
                              f"the model takes {list(declared)} (-1: any; --shape fixes it)")
        checked[tensor.name] = np.ascontiguousarray(array.astype(dtype, copy=False))
    return checked


def _fits(shape: tuple[int, ...], declared: tuple[int, ...], wanted: tuple[int, ...] | None) -> bool:
    if wanted is not None and shape != wanted:
        return False
    return len(shape) == len(declared) and all(d == -1 or d == s for s, d in zip(shape, declared, strict=True))


def batched(entry: Entry, spec: ModelSpec, batch_size: int) -> Entry:
    """The arrays one request carries: the entry repeated batch_size times on a new batch dimension."""
    if not spec.max_batch_size:
        return entry
    return {name: np.repeat(array[np.newaxis], batch_size, axis=0) for name, array in entry.items()}
