"""The Locust side of the lean engine: starts it (compiled or Python, see harness.load.engine.compiled), steers it,
reads its results.

Runs under gevent (Locust); the pipes of gevent's subprocess are cooperative, so reading results blocks only
the pump greenlet. The engine is our child, stopped by PID.
"""

from __future__ import annotations

import array
import struct
import subprocess
from dataclasses import dataclass, field
from typing import Any

import msgpack

from harness.load.engine.compiled import engine_command
from harness.procs import stop_child

_HEADER = struct.Struct(">I")


@dataclass(frozen=True)
class Batch:
    latencies_us: array.array  # successful requests
    errors: list[tuple[int, str]]  # (latency us, Triton's message)
    cpu_s: float  # the engine's CPU time so far
    ack: int | None = None  # the command this frame answers
    late: int = 0  # open loop: sends later than their schedule, since the previous frame
    max_lag_ms: float = 0.0
    dropped: int = 0  # open loop: sends skipped at the in-flight cap
    in_flight: int = 0
    sent: array.array = field(default_factory=lambda: array.array("d"))  # open loop: wall-clock send times


class EngineLink:
    def __init__(self, url: str, payload: bytes, timeout_s: float) -> None:
        self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
            list(engine_command()), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._send({"op": "config", "url": url, "payload": payload, "timeout": timeout_s})
        self._seq = 0

    def configure(self, url: str, payload: bytes, timeout_s: float) -> None:
        self._send({"op": "config", "url": url, "payload": payload, "timeout": timeout_s})

    def set_lanes(self, count: int) -> int:
        """Ask for `count` closed-loop lanes; returns the sequence number its acknowledgement will carry."""
        return self._command({"op": "lanes", "n": count})

    def schedule(self, key: int, rate: float, arrivals: str, seed: int, max_in_flight: int,
                 start: float | None = None) -> None:
        """Send on a schedule whose origin is `start` (wall-clock seconds, common to the level's senders)."""
        self._send({"op": "schedule", "id": key, "rps": rate, "arrivals": arrivals, "seed": seed,
                    "max_in_flight": max_in_flight, "start": start})

    def unschedule(self, key: int) -> None:
        self._send({"op": "unschedule", "id": key})

    def stop(self) -> int:
        """Stop every lane and schedule; returns the sequence number its acknowledgement will carry."""
        return self._command({"op": "stop"})

    def _command(self, message: dict[str, Any]) -> int:
        self._seq += 1
        self._send({**message, "seq": self._seq})
        return self._seq

    def read(self) -> Batch | None:
        """The next batch of results; None once the engine has gone."""
        process = self._process
        if process is None or process.stdout is None:
            return None
        header = _read_exactly(process.stdout, _HEADER.size)
        body = _read_exactly(process.stdout, _HEADER.unpack(header)[0]) if header else None
        if body is None:
            return None
        message = msgpack.unpackb(body)
        latencies = array.array("I")
        latencies.frombytes(message["lat"])
        errors = [(int(us), str(text)) for us, text in message["err"]]
        sent = array.array("d")
        sent.frombytes(message.get("sent", b""))
        return Batch(latencies, errors, float(message["cpu"]), message.get("ack"), int(message.get("late", 0)),
                     float(message.get("max_lag_ms", 0.0)), int(message.get("dropped", 0)),
                     int(message.get("in_flight", 0)), sent)

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            self._write(process, {"op": "quit"})
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            stop_child(process)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()

    def _send(self, message: dict[str, Any]) -> None:
        if self._process is not None:
            self._write(self._process, message)

    @staticmethod
    def _write(process: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
        assert process.stdin is not None
        frame = msgpack.packb(message)
        process.stdin.write(_HEADER.pack(len(frame)) + frame)
        process.stdin.flush()


def _read_exactly(pipe: Any, size: int) -> bytes | None:
    """`size` bytes from a pipe (cooperative pipes may return less per read); None at end of file."""
    chunks, missing = [], size
    while missing:
        chunk = pipe.read(missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)
