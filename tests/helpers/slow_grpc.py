"""A stand-in for Triton's ModelInfer at the gRPC seam: each request takes `delay_s`, and the server records whether
the client let it finish or cancelled it (the load engines must not cancel: a Triton without the fix of server
issue 8034, like our 2.51, can crash on a cancellation that races the response). Only for what Triton itself cannot
show: it counts a cancelled request that it had already executed as a success."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field

import grpc

from harness.net import LOOPBACK

_METHOD = "/inference.GRPCInferenceService/ModelInfer"


@dataclass
class SlowServer:
    url: str
    delay_s: float
    started: int = 0
    completed: int = 0
    cancelled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self.started += 1
        deadline = time.monotonic() + self.delay_s
        while time.monotonic() < deadline and context.is_active():
            time.sleep(0.005)
        with self._lock:
            if context.is_active():
                self.completed += 1
            else:
                self.cancelled += 1
        return b""  # an empty ModelInferResponse

    def wait_for(self, what: str, count: int, timeout_s: float = 10.0) -> int:
        deadline = time.monotonic() + timeout_s
        while getattr(self, what) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return int(getattr(self, what))


@contextmanager
def slow_server(delay_s: float) -> Iterator[SlowServer]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    port = server.add_insecure_port(f"{LOOPBACK}:0")
    slow = SlowServer(url=f"{LOOPBACK}:{port}", delay_s=delay_s)
    handler = grpc.unary_unary_rpc_method_handler(slow.handle)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("inference.GRPCInferenceService", {"ModelInfer": handler})]
    )
    server.start()
    try:
        yield slow
    finally:
        server.stop(grace=None)
