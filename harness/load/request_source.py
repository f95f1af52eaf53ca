"""The request this process's engine sends: serialized once from the model's metadata, shared by every user.

Built on first use (a gRPC call to the server), forgotten when a test starts (the model or batch size may have
changed). An unknown model is not a crash: the request is built empty, so every request fails with the
server's own message, counted as a failure.
"""

from __future__ import annotations

from typing import Callable

from harness.errors import HarnessError
from harness.load.options import LoadOptions
from harness.triton.control import ControlClient, make_inputs
from harness.triton.request import serialize_request


def connect(url: str) -> ControlClient:
    return ControlClient(url, timeout_s=30)


class RequestSource:
    def __init__(self, options: LoadOptions, connect: Callable[[str], ControlClient] = connect) -> None:
        self.options = options
        self._connect = connect
        self._control: ControlClient | None = None
        self._payload: bytes | None = None

    def restart(self, options: LoadOptions) -> None:
        """A new test: the request is rebuilt on next use; a new server gets a new control channel."""
        if options.triton_url != self.options.triton_url:
            self.close()
        self.options = options
        self._payload = None

    def payload(self) -> bytes:
        """The serialized ModelInferRequest, built on first use."""
        if self._payload is None:
            self._payload = self._prepare()
        return self._payload

    def _prepare(self) -> bytes:
        options = self.options
        if self._control is None:
            self._control = self._connect(options.triton_url)
        try:
            spec = self._control.model_spec(options.model)
            return serialize_request(options.model, make_inputs(spec, options.batch_size, options.input_seed))
        except HarnessError:
            # Let every request fail with the server's message (unknown model...): counted, not a crash.
            return serialize_request(options.model, {})

    def close(self) -> None:
        """Close the control channel explicitly (one left to the GC can hang the process's exit)."""
        if self._control is not None:
            self._control.close()
            self._control = None
        self._payload = None
