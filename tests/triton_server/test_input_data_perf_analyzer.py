"""perf_analyzer's docs/input_data.md examples, as a perf_analyzer user would write them, load as perf_analyzer reads
them: flattened row-major values, base64 (little-endian) with and without a shape, content with a shape, and
validation_data aligned with data. The expected arrays are numpy's row-major reshape of the same values."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.triton.control import ModelSpec, TensorSpec
from harness.triton.input_data import load_entries, load_expected, parse_shapes, read_input_data

# "a model with inputs named INPUT0 and INPUT1, shape [4, 4] and data type INT32" (and outputs alike)
TWO = ModelSpec(
    "m",
    (TensorSpec("INPUT0", "INT32", (-1, 4, 4)), TensorSpec("INPUT1", "INT32", (-1, 4, 4))),
    (TensorSpec("OUTPUT0", "INT32", (-1, 4, 4)), TensorSpec("OUTPUT1", "INT32", (-1, 4, 4))),
    max_batch_size=8,
)
# "a model with a single input INPUT, shape [-1, -1] and data type INT32"
VARIABLE = ModelSpec("v", (TensorSpec("INPUT", "INT32", (-1, -1, -1)),), (), max_batch_size=8)


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(document))
    return path


def test_flattened_values_take_the_input_shape_row_major(tmp_path: Path) -> None:
    values = list(range(16))
    entries = load_entries(_write(tmp_path, {"data": [{"INPUT0": values, "INPUT1": [1] * 16}] * 4}), TWO)
    assert len(entries) == 4
    np.testing.assert_array_equal(entries[0]["INPUT0"], np.arange(16, dtype=np.int32).reshape(4, 4))
    assert entries[0]["INPUT0"][1, 0] == 4  # row-major: the second row starts at the fifth value


def test_base64_without_a_shape_is_little_endian_and_takes_the_input_shape(tmp_path: Path) -> None:
    raw = base64.b64encode(np.arange(16, dtype="<i4").tobytes()).decode()
    (entry,) = load_entries(_write(tmp_path, {"data": [{"INPUT0": {"b64": raw}, "INPUT1": {"b64": raw}}]}), TWO)
    np.testing.assert_array_equal(entry["INPUT1"], np.arange(16, dtype=np.int32).reshape(4, 4))


def test_content_with_shapes_and_without_one(tmp_path: Path) -> None:
    ones = [1] * 16
    document = {
        "data": [
            {"INPUT": {"content": ones, "shape": [2, 8]}},
            {"INPUT": {"content": ones, "shape": [8, 2]}},
            {"INPUT": {"content": ones}},  # no shape: --shape's
            {"INPUT": {"content": ones, "shape": [4, 4]}},
            {"INPUT": {"content": {"b64": base64.b64encode(np.ones(16, "<i4").tobytes()).decode()}, "shape": [2, 8]}},
        ]
    }
    entries = load_entries(_write(tmp_path, document), VARIABLE, parse_shapes(["INPUT:4,4"]))
    assert [e["INPUT"].shape for e in entries] == [(2, 8), (8, 2), (4, 4), (4, 4), (2, 8)]


def test_validation_data_aligns_with_data(tmp_path: Path) -> None:
    document = {
        "data": [{"INPUT0": [1] * 16, "INPUT1": [1] * 16}],
        "validation_data": [{"OUTPUT0": [0] * 16, "OUTPUT1": [2] * 16}],
    }
    path = _write(tmp_path, document)
    (expected,) = load_expected(path, TWO, 1) or []
    np.testing.assert_array_equal(expected["OUTPUT1"], np.full((4, 4), 2, np.int32))
    data = read_input_data(path, TWO, [], batch_size=3)  # a request of batch 3 expects its entry's outputs 3 times
    assert data.expected[0]["OUTPUT0"].shape == (3, 4, 4) and data.inputs[0]["INPUT0"].shape == (3, 4, 4)


def test_no_validation_data_means_nothing_to_check(tmp_path: Path) -> None:
    path = _write(tmp_path, {"data": [{"INPUT0": [1] * 16, "INPUT1": [1] * 16}]})
    assert load_expected(path, TWO, 1) is None and read_input_data(path, TWO, [], 1).expected == ()


@pytest.mark.parametrize(
    ("validation", "expected"),
    [
        ([], "validation_data has 0 entries for 1 data entries"),
        ([{"OUTPUT9": [0] * 16}], "entry 0 has output 'OUTPUT9', which the model does not have"),
    ],
)
def test_bad_validation_data_is_one_line(tmp_path: Path, validation: list, expected: str) -> None:
    path = _write(tmp_path, {"data": [{"INPUT0": [1] * 16, "INPUT1": [1] * 16}], "validation_data": validation})
    with pytest.raises(ConfigError, match="--input-data") as caught:
        read_input_data(path, TWO, [], 1)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
