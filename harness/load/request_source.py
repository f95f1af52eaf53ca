"""The requests this process's engine sends: serialized once, shared by every user. One request of seeded random
inputs shaped from the model's metadata, or one per --input-data entry (checked against that metadata), which the
engine sends in turn.

Built on first use (a gRPC call to the server), forgotten when a test starts (the model, batch size or data may
have changed). An unknown model is not a crash: the request is built empty, so every request fails with the
server's own message, counted as a failure. Bad --input-data or --shape is the user's to fix: raised, once per
test, and nothing is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from harness.errors import ConfigError, HarnessError
from harness.load.options import LoadOptions
from harness.triton.control import ControlClient
from harness.triton.input_data import random_inputs, read_input_data, shape_items
from harness.triton.request import serialize_request


def connect(url: str) -> ControlClient:
    return ControlClient(url, timeout_s=30)


class RequestSource:
    def __init__(self, options: LoadOptions, connect: Callable[[str], ControlClient] = connect) -> None:
        self.options = options
        self._connect = connect
        self._control: ControlClient | None = None
        self._payloads: tuple[bytes, ...] | None = None
        self._error: HarnessError | None = None  # bad --input-data, raised again without reading it again

    def restart(self, options: LoadOptions) -> None:
        """A new test: the request is rebuilt on next use; a new server gets a new control channel."""
        if options.triton_url != self.options.triton_url:
            self.close()
        self.options = options
        self._payloads, self._error = None, None

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

    def _prepare(self) -> tuple[bytes, ...]:
        options = self.options
        if self._control is None:
            self._control = self._connect(options.triton_url)
        try:
            spec = self._control.model_spec(options.model)
            if not options.input_data:
                return (random_inputs(spec, options.batch_size, options.input_seed, shape_items(options.shapes)),)
        except ConfigError:
            raise  # a bad --shape: the user's to fix; nothing is sent
        except HarnessError:
            # Let every request fail with the server's message (unknown model...): counted, not a crash.
            return (serialize_request(options.model, {}),)
        data = read_input_data(Path(options.input_data), spec, shape_items(options.shapes), options.batch_size)
        return data.payloads

    def close(self) -> None:
        """Close the control channel explicitly (one left to the GC can hang the process's exit)."""
        if self._control is not None:
            self._control.close()
            self._control = None
        self._payloads = None
