"""--input-data readers: perf_analyzer JSON and .npy folders, checked against a model spec (no server)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ConfigError, ModelError
from harness.triton.control import ModelSpec, TensorSpec, make_inputs
from harness.triton.input_data import batched, load_entries, parse_shapes, read_input_data

SPEC = ModelSpec(
    "m",
    (TensorSpec("image", "FP32", (-1, 2, 2)), TensorSpec("ids", "INT64", (-1, -1))),
    (TensorSpec("out", "FP32", (-1, 1)),),
    max_batch_size=8,
)


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(document))
    return path


def test_json_content_b64_and_shape(tmp_path: Path) -> None:
    image = np.arange(4, dtype=np.float32)
    path = _write(
        tmp_path,
        {
            "data": [
                {"image": {"content": image.tolist(), "shape": [2, 2]}, "ids": [1, 2, 3]},
                {"image": {"b64": base64.b64encode(image.tobytes()).decode(), "shape": [2, 2]}, "ids": {"content": [4]}},
            ]
        },
    )
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


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"data": [{"image": [1.0, 2.0, 3.0]}]}, "entry 0, input 'image': shape [3]"),  # 3 values for [2, 2]
        ({"data": [[{"image": [1.0] * 4, "ids": [1]}]]}, "entry 0 is a list: perf_analyzer's sequence streams"),
        ({"data": [{"image": {"content": [1, 2, 3, 4], "shape": [2, 2]}}]}, "entry 0 has no input 'ids'"),
        ({"data": [{"image": {"content": [1.5] * 4, "shape": [2, 2]}, "ids": [0.5]}]}, "entry 0, input 'ids': float64"),
        ({"data": [{"x": [1]}]}, "entry 0 has input 'x', which the model does not have"),
        ({"rows": []}, "perf_analyzer's format"),
    ],
)
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


MNIST = ModelSpec(
    "mnist_cnn", (TensorSpec("image", "FP32", (-1, 1, 28, 28)),), (TensorSpec("logits", "FP32", (-1, 10)),), max_batch_size=64
)


def _png(path: Path, size: tuple[int, int], colour: tuple[int, int, int], mode: str = "RGB") -> None:
    from PIL import Image

    Image.new(mode, size, colour if mode == "RGB" else colour[0]).save(path)


def test_image_folder_is_grey_resized_and_scaled_for_mnist(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", (40, 30), (255, 255, 255))  # white, larger than 28x28, colour
    _png(tmp_path / "b.png", (10, 10), (0, 0, 0))  # black, smaller
    _png(tmp_path / "c.png", (28, 28), (51, 51, 51), mode="L")  # grey 51 = 0.2 * 255
    (tmp_path / "notes.txt").write_text("not an image: ignored")
    entries = load_entries(tmp_path, MNIST)
    assert [e["image"].shape for e in entries] == [(1, 28, 28)] * 3
    assert [e["image"].dtype for e in entries] == [np.float32] * 3
    assert float(entries[0]["image"].min()) == 1.0 and float(entries[0]["image"].max()) == 1.0
    assert float(entries[1]["image"].max()) == 0.0
    np.testing.assert_allclose(entries[2]["image"], np.float32(0.2), rtol=1e-6)


def test_image_folder_for_an_hwc_uint8_input_keeps_rgb_values(tmp_path: Path) -> None:
    spec = ModelSpec("m", (TensorSpec("pixels", "UINT8", (4, 6, 3)),), (), max_batch_size=0)
    _png(tmp_path / "x.png", (12, 8), (10, 20, 30))
    (entry,) = load_entries(tmp_path, spec)
    assert entry["pixels"].shape == (4, 6, 3) and entry["pixels"].dtype == np.uint8
    assert entry["pixels"][0, 0].tolist() == [10, 20, 30] and entry["pixels"][3, 5].tolist() == [10, 20, 30]


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    _png(tmp_path / "good.png", (28, 28), (0, 0, 0))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ConfigError, match="broken.png: unreadable image") as caught:
        load_entries(tmp_path, MNIST)
    assert "\n" not in str(caught.value)


def test_variable_image_dims_need_shape(tmp_path: Path) -> None:
    spec = ModelSpec("m", (TensorSpec("image", "FP32", (-1, 3, -1, -1)),), (), max_batch_size=8)
    _png(tmp_path / "a.png", (20, 10), (255, 0, 0))
    with pytest.raises(ConfigError, match="--shape image:3,224,224"):
        load_entries(tmp_path, spec)
    (entry,) = load_entries(tmp_path, spec, parse_shapes(["image:3,5,7"]))
    assert entry["image"].shape == (3, 5, 7) and entry["image"][0].min() == 1.0 and entry["image"][1].max() == 0.0


def test_an_entry_with_the_batch_dimension_says_so(tmp_path: Path) -> None:
    path = _write(tmp_path, {"data": [{"image": {"content": [0.0] * 784, "shape": [1, 1, 28, 28]}}]})
    with pytest.raises(ConfigError, match="shapes exclude the batch dimension"):
        load_entries(path, MNIST)


def test_read_input_data_serializes_each_entry_once_batched(tmp_path: Path) -> None:
    from tritonclient.grpc import service_pb2

    path = _write(tmp_path, {"data": [{"image": [float(i)] * 784} for i in range(3)]})
    spec = ModelSpec("mnist_cnn", (TensorSpec("image", "FP32", (-1, 784)),), (), max_batch_size=64)
    data = read_input_data(path, spec, [], batch_size=2)
    assert data.summary() == {"path": str(path.resolve()), "entries": 3, "shapes": {"image": [[784]]}}
    for index, payload in enumerate(data.payloads):
        request = service_pb2.ModelInferRequest.FromString(payload)
        assert request.model_name == "mnist_cnn" and list(request.inputs[0].shape) == [2, 784]
        values = np.frombuffer(request.raw_input_contents[0], dtype=np.float32)
        assert values.size == 2 * 784 and set(values.tolist()) == {float(index)}
    with pytest.raises(ModelError, match="max_batch_size 64"):
        read_input_data(path, spec, [], batch_size=65)


def test_shape_sizes_variable_dims_of_random_inputs_and_is_checked() -> None:
    inputs = make_inputs(SPEC, 3, seed=1, shapes=parse_shapes(["ids:7"]))
    assert inputs["image"].shape == (3, 2, 2) and inputs["ids"].shape == (3, 7)
    assert make_inputs(SPEC, 1)["ids"].shape == (1, 16)  # without --shape: 16
    with pytest.raises(ConfigError, match="--shape nope: model 'm' has no input 'nope'; its inputs: image, ids"):
        make_inputs(SPEC, 1, shapes=parse_shapes(["nope:3"]))
    with pytest.raises(ConfigError, match="--shape image:3,2: input 'image' takes \\[2, 2\\]"):
        make_inputs(SPEC, 1, shapes=parse_shapes(["image:3,2"]))


def test_an_input_type_the_harness_cannot_send_is_one_line(tmp_path: Path) -> None:
    spec = ModelSpec("m", (TensorSpec("text", "BYTES", (-1, 1)),), (), max_batch_size=8)
    with pytest.raises(ConfigError, match="input 'text' takes BYTES, which the harness cannot send"):
        load_entries(_write(tmp_path, {"data": [{"text": ["hello"]}]}), spec)


def test_a_bad_file_of_a_folder_is_named(tmp_path: Path) -> None:
    spec = ModelSpec("m", (TensorSpec("x", "FP32", (-1, 3)),), (), max_batch_size=8)
    np.save(tmp_path / "a.npy", np.zeros(3, np.float32))
    np.save(tmp_path / "b.npy", np.zeros(4, np.float32))
    with pytest.raises(ConfigError) as caught:
        load_entries(tmp_path, spec)
    assert str(caught.value) == f"--input-data {tmp_path / 'b.npy'}: entry 1, input 'x': shape [4], the model takes [3]"
