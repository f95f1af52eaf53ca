"""The requests this process's engine sends: serialized once, shared by every user. One request of seeded random
inputs shaped from the model's metadata, or one per --input-data entry (checked against that metadata), which the
engine sends in turn.

Built on first use (a gRPC call to the server), forgotten when a test starts (the model, batch size or data may
have changed). An unknown model is not a crash: the request is built empty, so every request fails with the
server's own message, counted as a failure. Bad --input-data or --shape is the user's to fix: raised, once per
test, and nothing is sent.

Answers checked under load (harness.load.engine.validation): with --input-data's validation_data, each response
must carry its entry's outputs (equal, floats within DATA_ATOL + DATA_RTOL x |expected|: a batched request may
differ from one alone in the last float bits); with --validate-outputs MODEL (a variant against its original),
MODEL's own outputs for the same request, asked of the server once per request before any load, and judged by
the agreement rule (harness.analysis.agreement): the same top-1 class for classifier outputs, within 1% of the
largest |value| for others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable
from urllib.parse import quote

import numpy as np

from harness import defaults
from harness.analysis.agreement import RELATIVE_MAX_ABS, is_classifier
from harness.errors import ConfigError, HarnessError, ModelError
from harness.load.engine.compiled import check_protocol
from harness.load.engine.protocol import HttpTarget
from harness.load.engine.validation import Expected
from harness.load.options import LoadOptions
from harness.triton.control import ControlClient, ModelSpec, make_inputs
from harness.triton.input_data import parse_shapes, read_input_data, shape_items
from harness.triton.request import http_request_body, serialize_request

DATA_ATOL, DATA_RTOL = 1e-6, 1e-5  # validation_data's float tolerance
Checks = tuple[tuple[Expected, ...], ...]  # per payload, the outputs its response must carry


def connect(url: str, protocol: str = defaults.PROTOCOL) -> ControlClient:
    return ControlClient(url, timeout_s=30, protocol=protocol)


class RequestSource:
    def __init__(self, options: LoadOptions, connect: Callable[..., ControlClient] = connect) -> None:
        self.options = options
        self._connect = connect
        self._control: ControlClient | None = None
        self._payloads: tuple[bytes, ...] | None = None
        self._checks: Checks = ()
        self._target: HttpTarget | None = None  # --protocol http: where the bodies go (built with the payloads)
        self._error: HarnessError | None = None  # bad --input-data, raised again without reading it again

    def restart(self, options: LoadOptions) -> None:
        """A new test: the request is rebuilt on next use; a new server gets a new control channel."""
        if (options.triton_url, options.protocol) != (self.options.triton_url, self.options.protocol):
            self.close()
        self.options = options
        self._payloads, self._checks, self._target, self._error = None, (), None, None

    def payload(self) -> bytes:
        """The first (with seeded random inputs, the only) serialized request."""
        return self.payloads()[0]

    def payloads(self) -> tuple[bytes, ...]:
        """The serialized ModelInferRequests the engine sends in turn, built on first use: one of seeded random
        inputs, or one per --input-data entry. Bad --input-data raises (ConfigError, one line): nothing is sent."""
        if self._error is not None:
            raise self._error
        if self._payloads is None:
            try:
                self._payloads = self._prepare()
            except HarnessError as exc:
                self._error = exc
                raise
        return self._payloads

    def http_target(self) -> HttpTarget | None:
        """--protocol http: the bodies' path and JSON lengths (built with the payloads); None under gRPC."""
        self.payloads()
        return self._target

    def checks(self) -> Checks:
        """Per payload, the outputs its response must carry (built with the payloads); () when nothing is checked."""
        self.payloads()
        return self._checks

    def _prepare(self) -> tuple[bytes, ...]:
        options = self.options
        if self._control is None:
            http = {"protocol": options.protocol} if options.protocol != defaults.PROTOCOL else {}
            self._control = self._connect(options.triton_url, **http)
        try:
            spec = self._control.model_spec(options.model)
            if not options.input_data:
                inputs = make_inputs(spec, options.batch_size, options.input_seed, parse_shapes(shape_items(options.shapes)))
                self._checks = self._reference_checks(spec, (inputs,))
                return self._serialized(spec, (inputs,))
        except ConfigError:
            raise  # a bad --shape: the user's to fix; nothing is sent
        except HarnessError:
            # Let every request fail with the server's message (unknown model...): counted, not a crash.
            return self._serialized(None, ({},))
        data = read_input_data(Path(options.input_data), spec, shape_items(options.shapes), options.batch_size)
        self._checks = tuple(_checks_of(spec, out, DATA_ATOL, DATA_RTOL) for out in data.expected)
        self._checks = self._checks or self._reference_checks(spec, data.inputs)
        return data.payloads if options.protocol != "http" else self._serialized(spec, data.inputs)

    def _serialized(self, spec: ModelSpec | None, requests: tuple[dict[str, np.ndarray], ...]) -> tuple[bytes, ...]:
        """The requests as the protocol sends them: ModelInferRequests, or KServe v2 HTTP bodies asking for every
        output as binary data (with their target)."""
        model = self.options.model
        if self.options.protocol != "http":
            return tuple(serialize_request(model, inputs) for inputs in requests)
        check_protocol("http", validating=bool(self._checks))  # no output checks over HTTP: one line, nothing sent
        outputs = tuple(tensor.name for tensor in spec.outputs) if spec is not None else ()
        bodies = [http_request_body(inputs, outputs) for inputs in requests]
        self._target = HttpTarget(f"/v2/models/{quote(model, safe='')}/infer", tuple(length for _, length in bodies))
        return tuple(body for body, _ in bodies)

    def _reference_checks(self, spec: ModelSpec, requests: tuple[dict[str, np.ndarray], ...]) -> Checks:
        """--validate-outputs MODEL: MODEL's outputs for each request, judged by the agreement rule."""
        reference = self.options.validate_against
        if not reference or self._control is None:
            return ()
        try:
            answers = [self._control.infer(reference, request) for request in requests]
        except HarnessError as exc:
            raise ModelError(f"--validate-outputs {reference}: its outputs for the same requests failed ({exc})") from exc
        return tuple(_checks_of(spec, answer, 0.0, 0.0, agreement=True) for answer in answers)

    def close(self) -> None:
        """Close the control channel explicitly (one left to the GC can hang the process's exit)."""
        if self._control is not None:
            self._control.close()
            self._control = None
        self._payloads = None


def _checks_of(
    spec: ModelSpec, outputs: dict[str, np.ndarray], atol: float, rtol: float, agreement: bool = False
) -> tuple[Expected, ...]:
    """One request's expected outputs; with `agreement`, classifier outputs by top-1, others within 1% of max|value|."""
    datatypes = {t.name: t.datatype for t in spec.outputs}
    checks = []
    for name, array in outputs.items():
        top1 = agreement and is_classifier(array)
        tolerance = RELATIVE_MAX_ABS * float(np.abs(array).max(initial=0.0)) if agreement else atol
        data = np.ascontiguousarray(array).tobytes()
        checks.append(Expected(name, datatypes.get(name, "FP32"), tuple(array.shape), data, tolerance, rtol, top1))
    return tuple(checks)
