"""--input-data readers: perf_analyzer JSON and .npy folders, checked against a model spec (no server)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.triton.control import ModelSpec, TensorSpec
from harness.triton.input_data import batched, load_entries, parse_shapes

SPEC = ModelSpec("m", (TensorSpec("image", "FP32", (-1, 2, 2)), TensorSpec("ids", "INT64", (-1, -1))),
                 (TensorSpec("out", "FP32", (-1, 1)),), max_batch_size=8)


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(document))
    return path


def test_json_content_b64_and_shape(tmp_path: Path) -> None:
    image = np.arange(4, dtype=np.float32)
    path = _write(tmp_path, {"data": [
        {"image": {"content": image.tolist(), "shape": [2, 2]}, "ids": [1, 2, 3]},
        {"image": {"b64": base64.b64encode(image.tobytes()).decode(), "shape": [2, 2]}, "ids": {"content": [4]}},
    ]})
    first, second = load_entries(path, SPEC)
    np.testing.assert_array_equal(first["image"], image.reshape(2, 2))
    np.testing.assert_array_equal(second["image"], image.reshape(2, 2))
    assert first["ids"].dtype == np.int64 and first["ids"].tolist() == [1, 2, 3]
    assert batched(first, SPEC, 3)["image"].shape == (3, 2, 2)


def test_npy_folder_per_entry(tmp_path: Path) -> None:
    for index in range(2):
        sub = tmp_path / f"e{index}"
        sub.mkdir()
        np.save(sub / "image.npy", np.full((2, 2), index, np.float32))
        np.save(sub / "ids.npy", np.arange(5, dtype=np.int64))
    entries = load_entries(tmp_path, SPEC, parse_shapes(["ids:5"]))
    assert [e["image"][0, 0] for e in entries] == [0.0, 1.0]


@pytest.mark.parametrize(("document", "expected"), [
    ({"data": [{"image": [1.0, 2.0, 3.0, 4.0]}]}, "entry 0, input 'image': shape [4]"),
    ({"data": [{"image": {"content": [1, 2, 3, 4], "shape": [2, 2]}}]}, "entry 0 has no input 'ids'"),
    ({"data": [{"image": {"content": [1.5] * 4, "shape": [2, 2]}, "ids": [0.5]}]}, "entry 0, input 'ids': float64"),
    ({"data": [{"x": [1]}]}, "entry 0 has input 'x', which the model does not have"),
    ({"rows": []}, "perf_analyzer's format"),
])
def test_bad_data_names_entry_and_input(tmp_path: Path, document: object, expected: str) -> None:
    with pytest.raises(ConfigError, match="--input-data") as caught:
        load_entries(_write(tmp_path, document), SPEC)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_shape_flag_fixes_variable_dims(tmp_path: Path) -> None:
    path = _write(tmp_path, {"data": [{"image": {"content": [0.0] * 4, "shape": [2, 2]}, "ids": [1, 2]}]})
    with pytest.raises(ConfigError, match="input 'ids': shape \\[2\\]"):
        load_entries(path, SPEC, parse_shapes(["ids:3"]))
    with pytest.raises(ConfigError, match="--shape"):
        parse_shapes(["ids"])
