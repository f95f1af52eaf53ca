"""Real input data for load generation (--input-data PATH, --shape NAME:DIMS): read once, checked against the
model's inputs, serialized once per entry, before any load. Pure: numpy, Pillow (input_images) and the model's
spec, no server. The load engines cycle through the serialized entries, one per request.

Formats: perf_analyzer's JSON ({"data": [{INPUT: [values] | {"content": [...], "shape": [...]} |
{"b64": "...", "shape": [...]}}, ...]}), a folder of .npy files (one entry per file for a one-input model,
or one sub-folder per entry holding INPUT.npy for each input), and a folder of images for a one-input image model
(harness.triton.input_images says the conversion). Shapes exclude the batch dimension, as in perf_analyzer;
a batched request repeats the entry batch_size times.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.triton.control import (
    NUMPY_DTYPES,
    ModelSpec,
    TensorSpec,
    check_batch_size,
    check_shapes,
    make_inputs,
    per_entry_shape,
    shape_fits,
)
from harness.triton.input_images import image_array, image_files
from harness.triton.request import serialize_request

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
    """Every entry of the data at `path`, each input checked for presence, dtype and shape. In a JSON file, --shape
    shapes the entries that give none, and an entry's own "shape" overrides it (as perf_analyzer reads them)."""
    if path.is_dir():
        raw, checked_shapes = _folder_entries(path, spec, shapes or {}), shapes or {}
    elif path.is_file():
        raw, checked_shapes = [(entry, path) for entry in _json_entries(path, spec, shapes or {})], {}
    else:
        raise ConfigError(f"--input-data {path}: no such file or folder")
    if not raw:
        raise ConfigError(f"--input-data {path}: no entries found")
    return [_checked(i, entry, spec, checked_shapes, where) for i, (entry, where) in enumerate(raw)]


def _json_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--input-data {path}: unreadable JSON ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise ConfigError(f'--input-data {path}: expected perf_analyzer\'s format, {{"data": [{{INPUT: ...}}, ...]}}')
    return document


def _json_entries(path: Path, spec: ModelSpec, shapes: dict[str, tuple[int, ...]]) -> list[Entry]:
    return _tensors_of(_json_document(path)["data"], spec.inputs, spec, shapes, path, "input")


def _tensors_of(
    entries: list[Any],
    tensors: tuple[TensorSpec, ...],
    spec: ModelSpec,
    shapes: dict[str, tuple[int, ...]],
    path: Path,
    kind: str,
) -> list[Entry]:
    """perf_analyzer's entries ("data", or "validation_data" for outputs) as arrays, each shaped as the model takes it."""
    by_name = {t.name: t for t in tensors}
    result = []
    for index, entry in enumerate(entries):
        if isinstance(entry, list):
            raise ConfigError(
                f"--input-data {path}: entry {index} is a list: perf_analyzer's sequence streams (for sequence models) "
                "are not supported; give one object of tensors per request"
            )
        if not isinstance(entry, dict):
            raise ConfigError(f"--input-data {path}: entry {index} is not an object of {kind}s")
        result.append(
            {
                name: _json_value(value, by_name.get(name), index, name, path, spec, shapes, kind)
                for name, value in entry.items()
            }
        )
    return result


def _json_value(
    value: Any,
    tensor: TensorSpec | None,
    index: int,
    name: str,
    path: Path,
    spec: ModelSpec,
    shapes: dict[str, tuple[int, ...]],
    kind: str = "input",
) -> np.ndarray:
    """One tensor as perf_analyzer reads it: values (nested, or flattened row-major), {"content": values or {"b64"}},
    {"b64": ...}, each with an optional "shape"; without one, flat values take the model's (or --shape's) shape."""
    if tensor is None:
        raise ConfigError(f"--input-data {path}: entry {index} has {kind} {name!r}, which the model does not have")
    dtype = _dtype(tensor, path)
    shape = value.get("shape") if isinstance(value, dict) else None
    content = value.get("content", value) if isinstance(value, dict) else value
    try:
        if isinstance(content, dict) and "b64" in content:
            array = np.frombuffer(base64.b64decode(content["b64"]), dtype=dtype.newbyteorder("<")).astype(dtype)
        else:
            array = np.asarray(content)
            if array.size and not np.can_cast(array.dtype, dtype, casting="same_kind"):
                raise ConfigError(
                    f"--input-data {path}: entry {index}, {kind} {name!r}: {array.dtype} values for a {tensor.datatype} {kind}"
                )
            array = array.astype(dtype)
        if shape is not None:
            return array.reshape(shape)
        wanted = shapes.get(name)
        if wanted is not None and array.size != int(np.prod(wanted, dtype=np.int64)):
            raise ConfigError(
                f"--input-data {path}: entry {index}, {kind} {name!r}: shape {list(array.shape)}, --shape gives {list(wanted)}"
            )
        return array.reshape(wanted) if wanted is not None else _unflattened(array, per_entry_shape(tensor, spec))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--input-data {path}: entry {index}, {kind} {name!r}: {exc}") from exc


def _unflattened(array: np.ndarray, declared: tuple[int, ...]) -> np.ndarray:
    """perf_analyzer's flattened row-major values, reshaped to a fully known shape of as many elements."""
    known = -1 not in declared
    if array.ndim == 1 and len(declared) != 1 and known and array.size == int(np.prod(declared, dtype=np.int64)):
        return array.reshape(declared)
    return array


def load_expected(path: Path, spec: ModelSpec, entries: int) -> list[Entry] | None:
    """perf_analyzer's "validation_data": per entry, the outputs its response must carry; None when absent."""
    if not path.is_file() or path.suffix.lower() not in (".json", ""):
        return None
    document = _json_document(path)
    validation = document.get("validation_data")
    if validation is None:
        return None
    if not isinstance(validation, list) or len(validation) != entries:
        count = len(validation) if isinstance(validation, list) else "no list of"
        raise ConfigError(
            f"--input-data {path}: validation_data has {count} entries for {entries} data entries; they must align"
        )
    return _tensors_of(validation, spec.outputs, spec, {}, path, "output")


def _folder_entries(folder: Path, spec: ModelSpec, shapes: dict[str, tuple[int, ...]]) -> list[tuple[Entry, Path]]:
    """.npy files (or sub-folders of them) if there are any, else images; each with the file or sub-folder it came
    from, which a bad entry's message names."""
    try:
        images = [] if any(folder.glob("*.npy")) else image_files(folder)
    except OSError as exc:
        raise ConfigError(f"--input-data {folder}: unreadable folder ({exc.strerror or exc})") from None
    if not images:
        return _npy_entries(folder, spec)
    if len(spec.inputs) != 1:
        raise ConfigError(
            f"--input-data {folder}: a folder of images fits a one-input model, and {spec.name!r} takes "
            f"{len(spec.inputs)} inputs; give one sub-folder of .npy files per entry instead"
        )
    tensor = spec.inputs[0]
    dims = shapes.get(tensor.name) or per_entry_shape(tensor, spec)
    dtype = _dtype(tensor, folder)
    return [({tensor.name: image_array(image, tensor.name, dims, dtype)}, image) for image in images]


def _dtype(tensor: TensorSpec, path: Path) -> np.dtype:
    """The numpy type of an input; one the harness cannot send (BYTES strings) is one line, not a KeyError."""
    if tensor.datatype not in NUMPY_DTYPES:
        raise ConfigError(
            f"--input-data {path}: input {tensor.name!r} takes {tensor.datatype}, which the harness "
            f"cannot send; it sends {', '.join(NUMPY_DTYPES)}"
        )
    return np.dtype(NUMPY_DTYPES[tensor.datatype])


def _npy_entries(folder: Path, spec: ModelSpec) -> list[tuple[Entry, Path]]:
    files = sorted(folder.glob("*.npy"))
    if files:
        if len(spec.inputs) != 1:
            raise ConfigError(
                f"--input-data {folder}: loose .npy files fit a one-input model; give one sub-folder "
                f"per entry with {', '.join(t.name + '.npy' for t in spec.inputs)}"
            )
        return [({spec.inputs[0].name: _npy(f)}, f) for f in files]
    subs = sorted(p for p in folder.iterdir() if p.is_dir())
    return [({f.stem: _npy(f) for f in sorted(sub.glob("*.npy"))}, sub) for sub in subs]


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
        dtype = _dtype(tensor, path)
        if array.dtype != dtype and not np.can_cast(array.dtype, dtype, casting="same_kind"):
            raise ConfigError(
                f"--input-data {path}: entry {index}, input {tensor.name!r}: dtype {array.dtype}, "
                f"the model takes {tensor.datatype}"
            )
        declared = per_entry_shape(tensor, spec)
        wanted = shapes.get(tensor.name)
        if not _fits(array.shape, declared, wanted):
            raise ConfigError(
                f"--input-data {path}: entry {index}, input {tensor.name!r}: shape {list(array.shape)}, "
                f"the model takes {list(wanted or declared)}{_shape_hint(array.shape, declared)}"
            )
        checked[tensor.name] = np.ascontiguousarray(array.astype(dtype, copy=False))
    return checked


def _shape_hint(shape: tuple[int, ...], declared: tuple[int, ...]) -> str:
    if len(shape) == len(declared) + 1 and _fits(shape[1:], declared, None):
        return " (shapes exclude the batch dimension; --batch-size sets it)"
    return " (-1: any size; --shape NAME:DIMS fixes it)" if -1 in declared else ""


def _fits(shape: tuple[int, ...], declared: tuple[int, ...], wanted: tuple[int, ...] | None) -> bool:
    return (wanted is None or shape == wanted) and shape_fits(shape, declared)


def batched(entry: Entry, spec: ModelSpec, batch_size: int) -> Entry:
    """The arrays one request carries: the entry repeated batch_size times on a new batch dimension."""
    if not spec.max_batch_size:
        return entry
    return {name: np.repeat(array[np.newaxis], batch_size, axis=0) for name, array in entry.items()}


@dataclass(frozen=True)
class InputData:
    """--input-data read, checked and serialized: one request per entry, and what run.json records of it."""

    payloads: tuple[bytes, ...]  # serialized ModelInferRequests, in the order requests cycle through them
    path: str
    shapes: dict[str, list[list[int]]]  # per input, the distinct entry shapes (batch dimension excluded)
    inputs: tuple[Entry, ...] = ()  # per request, the arrays it carries (batched)
    expected: tuple[Entry, ...] = ()  # per request, its validation_data outputs (batched); () without validation_data

    def summary(self) -> dict[str, Any]:
        return {"path": self.path, "entries": len(self.payloads), "shapes": self.shapes}


def read_input_data(path: Path, spec: ModelSpec, shape_flags: list[str] | tuple[str, ...], batch_size: int) -> InputData:
    """The requests to send for `path`: every entry checked against `spec`, batched and serialized once."""
    check_batch_size(spec, batch_size)
    wanted = parse_shapes(list(shape_flags))
    check_shapes(spec, wanted)
    entries = load_entries(path, spec, wanted)
    requests = tuple(batched(entry, spec, batch_size) for entry in entries)
    payloads = tuple(serialize_request(spec.name, request) for request in requests)
    expected = tuple(batched(entry, spec, batch_size) for entry in load_expected(path, spec, len(entries)) or ())
    sent: dict[str, list[list[int]]] = {}
    for entry in entries:
        for name, array in entry.items():
            if list(array.shape) not in sent.setdefault(name, []):
                sent[name].append(list(array.shape))
    return InputData(payloads, str(path.resolve()), sent, requests, expected)


def random_inputs(spec: ModelSpec, batch_size: int, seed: int, shape_flags: list[str] | tuple[str, ...]) -> bytes:
    """Without --input-data: the one request of seeded random tensors, variable dimensions sized by --shape."""
    return serialize_request(spec.name, make_inputs(spec, batch_size, seed, parse_shapes(list(shape_flags))))


def shape_items(text: str) -> list[str]:
    """--shape as one string (a Locust option, the web UI form): 'tokens:64 mask:64' or 'tokens:64;mask:64'."""
    return text.replace(";", " ").split()
