"""A recording model for input-data tests: served under a real model's name (mnist_cnn, identity) with that model's
input, it appends the mean of every request's input to a file, one line per request, in the order it executes
them, and echoes the input back. Loaded through Triton's own load API with override files (explicit model control),
so the test sees what the server received, independently of the client that sent it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import tritonclient.grpc as grpcclient

MODEL_PY = """
import json

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.path = config["parameters"]["record_to"]["string_value"]
        self.input = config["input"][0]["name"]
        self.output = config["output"][0]["name"]

    def execute(self, requests):
        responses = []
        with open(self.path, "a") as record:
            for request in requests:
                values = pb_utils.get_input_tensor_by_name(request, self.input).as_numpy()
                shape = "x".join(str(d) for d in values.shape)
                record.write(f"{round(float(values.mean()), 4):g} {shape}\\n")
                responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(self.output, values)]))
        return responses
"""


def load_recorder(url: str, model: str, input_name: str, datatype: str, dims: list[int], record_to: Path) -> None:
    """Serve the recorder as `model` (one CPU instance, no dynamic batching: requests execute one by one, in order)."""
    config = {
        "name": model,
        "backend": "python",
        "max_batch_size": 64,
        "input": [{"name": input_name, "data_type": f"TYPE_{datatype}", "dims": dims}],
        "output": [{"name": "ECHO", "data_type": f"TYPE_{datatype}", "dims": dims}],
        "instance_group": [{"kind": "KIND_CPU", "count": 1}],
        "parameters": {"record_to": {"string_value": str(record_to)}},
    }
    load_python_model(url, config, MODEL_PY)


def load_python_model(url: str, config: dict, model_py: str) -> None:
    """Load a Python-backend model from its config and model.py source through Triton's load API (override files)."""
    client = grpcclient.InferenceServerClient(url)
    try:
        client.load_model(config["name"], config=json.dumps(config), files={"file:1/model.py": model_py.encode()})
    finally:
        client.close()


@contextmanager
def serving(url: str, config: dict, model_py: str) -> Iterator[None]:
    """A Python-backend model (config and model.py source) served for the block under config's name; unloaded after
    it (the next load of that name brings the repository's own files back)."""
    load_python_model(url, config, model_py)
    try:
        yield
    finally:
        _unload(url, config["name"])


def _unload(url: str, model: str) -> None:
    client = grpcclient.InferenceServerClient(url)
    try:
        client.unload_model(model)
    finally:
        client.close()


def write_recorder(repository: Path, model: str, input_name: str, datatype: str, dims: list[int], record_to: Path) -> Path:
    """The recorder as `model`'s files in a repository of its own: for commands that reload the model from its files
    (a search's configurations), which would replace a recorder loaded by load_recorder with the real model."""
    folder = repository / model
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "model.py").write_text(MODEL_PY)
    tensor = f"data_type: TYPE_{datatype} dims: {json.dumps(dims)}"
    (folder / "config.pbtxt").write_text(
        f'name: "{model}"\nbackend: "python"\nmax_batch_size: 64\n'
        f'input [ {{ name: "{input_name}" {tensor} }} ]\noutput [ {{ name: "ECHO" {tensor} }} ]\n'
        "instance_group [ { kind: KIND_CPU count: 1 } ]\n"
        f'parameters {{ key: "record_to" value {{ string_value: "{record_to}" }} }}\n'
    )
    return repository


def recorded(record_to: Path) -> list[float]:
    """The mean input of every request the recorder executed, in order."""
    return [float(line.split()[0]) for line in _lines(record_to)]


def recorded_shapes(record_to: Path) -> list[str]:
    """The shape of every request's input the recorder executed, in order, as '1x16' (batch dimension first)."""
    return [line.split()[1] for line in _lines(record_to)]


def _lines(record_to: Path) -> list[str]:
    return record_to.read_text().splitlines() if record_to.exists() else []


@contextmanager
def recording(url: str, model: str, input_name: str, datatype: str, dims: list[int], record_to: Path) -> Iterator[Path]:
    """The recorder served as `model` for the block; unloaded after it (the next load brings the real files back)."""
    load_recorder(url, model, input_name, datatype, dims, record_to)
    try:
        yield record_to
    finally:
        _unload(url, model)
