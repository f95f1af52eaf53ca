"""The lean request path: one request serialized once, sent as raw bytes (probes, checks; the load engine
sends the same bytes). For --protocol http, the same request as a KServe v2 HTTP body (`http_request_body`).

tritonclient's `infer` builds InferInput objects, a protobuf message and its serialization on every call,
and parses every response: costly in client CPU per request. Load generation sends the same
request over and over, so we serialize the ModelInferRequest once and hand grpc the bytes; a successful
response needs no parsing at all (Triton reports failures as gRPC status), so it is returned as bytes and
decoded only where someone wants the outputs.
"""

from __future__ import annotations

from typing import Callable

import grpc
import numpy as np
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2

from harness.triton.control import NUMPY_DTYPES

_METHOD = "/inference.GRPCInferenceService/ModelInfer"
_MAX_MESSAGE = 256 * 1024 * 1024
_TRITON_DTYPES = {np.dtype(v): k for k, v in NUMPY_DTYPES.items()}


def serialize_request(model: str, inputs: dict[str, np.ndarray], request_id: str = "") -> bytes:
    """A ModelInferRequest for `inputs` (raw tensor contents), serialized once."""
    request = service_pb2.ModelInferRequest(model_name=model, id=request_id)
    for name, array in inputs.items():
        tensor = request.inputs.add()
        tensor.name = name
        tensor.datatype = _TRITON_DTYPES[array.dtype]
        tensor.shape.extend(array.shape)
        request.raw_input_contents.append(np.ascontiguousarray(array).tobytes())
    return request.SerializeToString()


def http_request_body(inputs: dict[str, np.ndarray], outputs: tuple[str, ...]) -> tuple[bytes, int]:
    """A KServe v2 HTTP inference body for `inputs` with the binary-tensor extension (a JSON header, then the raw
    tensors), asking for `outputs` as binary data; and the JSON header's length (Inference-Header-Content-Length).
    Built by tritonclient.http, the format's reference client."""
    tensors = []
    for name, array in inputs.items():
        tensor = httpclient.InferInput(name, list(array.shape), _TRITON_DTYPES[array.dtype])
        tensor.set_data_from_numpy(np.ascontiguousarray(array), binary_data=True)
        tensors.append(tensor)
    wanted = [httpclient.InferRequestedOutput(name, binary_data=True) for name in outputs]
    body, header_length = httpclient.InferenceServerClient.generate_request_body(tensors, wanted or None)
    return bytes(body), int(header_length if header_length is not None else len(body))


def decode_response(payload: bytes) -> dict[str, np.ndarray]:
    """Output tensors of a serialized ModelInferResponse."""
    response = service_pb2.ModelInferResponse.FromString(payload)
    outputs = {}
    for tensor, raw in zip(response.outputs, response.raw_output_contents, strict=False):
        dtype = NUMPY_DTYPES[tensor.datatype]
        outputs[tensor.name] = np.frombuffer(raw, dtype=dtype).reshape(tuple(tensor.shape))
    return outputs


def open_channel(url: str) -> grpc.Channel:
    options = [("grpc.max_send_message_length", _MAX_MESSAGE), ("grpc.max_receive_message_length", _MAX_MESSAGE)]
    return grpc.insecure_channel(url, options=options)


def infer_method(channel: grpc.Channel) -> Callable[..., bytes]:
    """The ModelInfer call with identity (de)serializers: bytes in, bytes out."""
    return channel.unary_unary(_METHOD)
