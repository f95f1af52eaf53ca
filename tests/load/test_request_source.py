"""The request source: one serialized request per test, from the model's metadata, through a fake control
client (the seam tests/README names); the bytes are read back with Triton's own protobuf."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tritonclient.grpc import service_pb2

from harness.errors import ConfigError, ModelError
from harness.load.options import LoadOptions
from harness.load.request_source import RequestSource
from harness.triton.control import ModelSpec, TensorSpec

OPTIONS = LoadOptions(triton_url="127.0.0.1:9", model="net", batch_size=2, input_seed=1)
SPEC = ModelSpec("net", (TensorSpec("INPUT0", "FP32", (-1, 4)),), (TensorSpec("OUTPUT0", "FP32", (-1, 1)),), 8)


class FakeControl:
    def __init__(self, url: str, log: list[str]) -> None:
        self.url, self.log = url, log
        log.append(f"connect {url}")

    def model_spec(self, model: str) -> ModelSpec:
        self.log.append(f"spec {model}")
        if model != "net":
            raise ModelError(f"unknown model {model!r}")
        return SPEC

    def close(self) -> None:
        self.log.append(f"close {self.url}")


def source(log: list[str], options: LoadOptions = OPTIONS) -> RequestSource:
    return RequestSource(options, lambda url: FakeControl(url, log))  # type: ignore[arg-type, return-value]


def test_the_request_is_shaped_as_the_model_declares_and_built_once_per_test() -> None:
    log: list[str] = []
    requests = source(log)
    first = requests.payload()
    assert requests.payload() is first
    request = service_pb2.ModelInferRequest.FromString(first)
    assert request.model_name == "net"
    assert [(t.name, t.datatype, list(t.shape)) for t in request.inputs] == [("INPUT0", "FP32", [2, 4])]
    assert [len(raw) for raw in request.raw_input_contents] == [2 * 4 * 4]
    requests.restart(replace(OPTIONS, batch_size=3))
    again = service_pb2.ModelInferRequest.FromString(requests.payload())
    assert list(again.inputs[0].shape) == [3, 4]
    assert log == ["connect 127.0.0.1:9", "spec net", "spec net"]  # one channel across tests


def test_an_unknown_model_gives_an_empty_request_that_the_server_refuses() -> None:
    log: list[str] = []
    request = service_pb2.ModelInferRequest.FromString(source(log, replace(OPTIONS, model="nope")).payload())
    assert (request.model_name, len(request.inputs)) == ("nope", 0)


def test_a_new_server_gets_a_new_channel_and_close_closes_it() -> None:
    log: list[str] = []
    requests = source(log)
    requests.payload()
    requests.restart(replace(OPTIONS, triton_url="127.0.0.2:9"))
    requests.payload()
    requests.close()
    assert log == [
        "connect 127.0.0.1:9",
        "spec net",
        "close 127.0.0.1:9",
        "connect 127.0.0.2:9",
        "spec net",
        "close 127.0.0.2:9",
    ]


def test_input_data_gives_one_request_per_entry_and_bad_data_raises_once(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"data": [{"INPUT0": [float(i)] * 4} for i in range(3)]}))
    log: list[str] = []
    requests = source(log, replace(OPTIONS, input_data=str(data)))
    payloads = requests.payloads()
    assert len(payloads) == 3 and requests.payloads() is payloads
    for index, payload in enumerate(payloads):
        request = service_pb2.ModelInferRequest.FromString(payload)
        assert list(request.inputs[0].shape) == [2, 4]  # batch_size 2: the entry twice
        assert set(np.frombuffer(request.raw_input_contents[0], np.float32).tolist()) == {float(index)}
    data.write_text(json.dumps({"data": [{"INPUT0": [0.0] * 3}]}))
    requests.restart(replace(OPTIONS, input_data=str(data)))
    for _ in range(2):
        with pytest.raises(ConfigError, match="entry 0, input 'INPUT0': shape \\[3\\]"):
            requests.payloads()
    assert log == ["connect 127.0.0.1:9", "spec net", "spec net"]  # the bad data was read once


def test_a_shape_the_model_refuses_raises_instead_of_sending() -> None:
    requests = source([], replace(OPTIONS, shapes="INPUT0:5"))
    with pytest.raises(ConfigError, match="--shape INPUT0:5: input 'INPUT0' takes \\[4\\]"):
        requests.payloads()


def test_over_http_the_same_request_is_a_kserve_v2_body_with_binary_tensors() -> None:
    """--protocol http: the ModelInferRequest's tensors as a binary-tensor body (its JSON header, then the raw
    bytes), every output asked as binary data, POSTed to the model's infer path; the control speaks HTTP too."""
    log: list[str] = []
    http = replace(OPTIONS, protocol="http")
    requests = RequestSource(http, lambda url, protocol="grpc": FakeControl(f"{protocol}://{url}", log))  # type: ignore[arg-type, return-value]
    (body,) = requests.payloads()
    target = requests.http_target()
    assert target is not None and target.path == "/v2/models/net/infer"
    (length,) = target.header_lengths
    header = json.loads(body[:length])
    assert header["inputs"] == [
        {"name": "INPUT0", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": 2 * 4 * 4}}
    ]
    assert header["outputs"] == [{"name": "OUTPUT0", "parameters": {"binary_data": True}}]
    grpc_request = service_pb2.ModelInferRequest.FromString(source([]).payload())
    assert body[length:] == grpc_request.raw_input_contents[0]  # the same seeded tensor either way
    assert log[0] == "connect http://127.0.0.1:9" and source([]).http_target() is None


def test_over_http_checking_outputs_is_refused_in_one_line_before_anything_is_sent() -> None:
    class Answering(FakeControl):
        def infer(self, model: str, inputs: dict) -> dict:
            return {"OUTPUT0": np.zeros((2, 1), np.float32)}

    http = replace(OPTIONS, protocol="http", validate_against="net_original")
    requests = RequestSource(http, lambda url, protocol="grpc": Answering(url, []))  # type: ignore[arg-type, return-value]
    with pytest.raises(ConfigError, match="--protocol http does not check responses.*use --protocol grpc"):
        requests.payloads()
