"""The load engine's frame protocol, defined once: both Python sides (link.py, aio_engine.py) use this module, and
the compiled engine (cpp/lean_engine.cc) follows it.

Each Locust process that generates load starts one engine child and speaks to it over the child's stdin/stdout.
Frames in both directions are a 4-byte big-endian length followed by a msgpack map. Commands (Locust -> engine):
  {"op": "config", "url": str, "payloads": [bytes, ...], "timeout": float}
                                                                       gRPC: the serialized ModelInferRequests (one, or
                                                                       one per --input-data entry): each send takes
                                                                       the next, in turn, across lanes and schedules;
                                                                       a config starts again from the first. A single
                                                                       "payload": bytes is accepted as well. Optional
                                                                       "expect": per payload, the outputs its response
                                                                       must carry, [[name, datatype, shape, bytes,
                                                                       atol, rtol, top1], ...]: a response that does
                                                                       not is an error "validation: entry I, output
                                                                       'NAME': ..." (rule: harness.load.engine.validation)
                                                                       HTTP/REST (KServe v2), with "protocol": "http",
                                                                       "path": "/v2/models/NAME/infer" and
                                                                       "header_lengths": [int, ...]: "url" is the HTTP
                                                                       host:port and each payload an inference body
                                                                       POSTed to path (the binary-tensor extension:
                                                                       its JSON header, of header_lengths[i] bytes,
                                                                       then the raw tensors); a reply is a success
                                                                       when its status is 200, else an error "HTTP
                                                                       STATUS: BODY". No "expect" over HTTP. An engine
                                                                       speaks the protocol of its first config for
                                                                       its life ("protocol" absent: "grpc")
  {"op": "lanes", "n": int, "seq": int}                                keep n requests in flight (closed loop)
  {"op": "trace", "gaps": bytes}                                       the gaps (float64 seconds, native order) of
                                                                       the stream that "trace" schedules replay, looped
  {"op": "schedule", "id": int, "rps": float, "arrivals": str, "seed": int, "max_in_flight": int,
   "start": float, "index": int, "senders": int}                       open loop: send on a seeded schedule whose
                                                                       origin is `start` (wall-clock seconds; absent:
                                                                       now); slots already past are skipped. arrivals:
                                                                       "constant" or "poisson": this sender's own
                                                                       stream at `rps`, the first send one gap after
                                                                       `start`; "gamma:CV" (a stream at `rps` from
                                                                       `seed`) or "trace": slots index, index +
                                                                       senders... of a stream common to every sender
                                                                       (harness.load.arrivals)
  {"op": "unschedule", "id": int}
  {"op": "stop", "seq": int}                                           stop every lane and schedule
Commands with a "seq" are answered at once by a frame carrying "ack": seq, after the results so far (nothing of
what the command stopped follows it).
  {"op": "quit"}
Results (engine -> Locust), every ~20 ms while there is something to say, and with every ack:
  {"lat": bytes (uint32 microseconds, native order), "err": [[us, message], ...], "cpu": process CPU seconds so
   far, "ack": seq or None, "late", "max_lag_ms", "dropped" (since the last frame), "in_flight",
   "sent": bytes (float64 wall-clock seconds, native order: when each open-loop request actually left),
   "lag": bytes (uint32 microseconds, native order: how far behind its intended time each of those left)}
Open-loop latency counts from each request's intended send time. The engine ends when its stdin closes or on
"quit"; its stdout closing is how the Locust side learns it has gone.

No gevent, asyncio or gRPC here: the Locust side reads under gevent, the Python engine on asyncio, and both
only need the bytes.
"""

from __future__ import annotations

import array
import struct
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import msgpack

HEADER = struct.Struct(">I")  # the length of the msgpack body that follows

# Command names ("op").
CONFIG, LANES, TRACE, SCHEDULE, UNSCHEDULE, STOP, QUIT = (
    "config",
    "lanes",
    "trace",
    "schedule",
    "unschedule",
    "stop",
    "quit",
)


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def encode(message: dict[str, Any]) -> bytes:
    """One frame: the header, then the msgpack map."""
    body = msgpack.packb(message)
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> dict[str, Any]:
    """A frame's body (without its header) as the map it carries."""
    message = msgpack.unpackb(body)
    if not isinstance(message, dict):
        raise ValueError(f"an engine frame must carry a map, not {type(message).__name__}")
    return message


def payloads_of(config: dict[str, Any]) -> list[bytes]:
    """The requests a config frame carries: its "payloads", or its one "payload"."""
    payloads = config.get("payloads")
    return list(payloads) if payloads else [config.get("payload", b"")]


def body_size(header: bytes) -> int:
    return int(HEADER.unpack(header)[0])


def read_exactly(pipe: Readable, size: int) -> bytes | None:
    """`size` bytes from a pipe (cooperative pipes may return less per read); None at end of file."""
    chunks, missing = [], size
    while missing:
        chunk = pipe.read(missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_frame(pipe: Readable) -> dict[str, Any] | None:
    """The next frame's map from a blocking (or gevent-cooperative) pipe; None once the writer has gone."""
    header = read_exactly(pipe, HEADER.size)
    body = read_exactly(pipe, body_size(header)) if header else None
    return decode(body) if body is not None else None


@dataclass(frozen=True)
class HttpTarget:
    """--protocol http: what a config frame adds to its bodies (the path they are POSTed to, each one's JSON length)."""

    path: str
    header_lengths: tuple[int, ...]

    def fields(self) -> dict[str, Any]:
        return {"protocol": "http", "path": self.path, "header_lengths": list(self.header_lengths)}


@dataclass(frozen=True)
class Schedule:
    """A "schedule" command, typed: one open-loop sender (its arrival process, harness.load.arrivals.send_times)."""

    id: int
    rps: float
    arrivals: str
    seed: int
    max_in_flight: int
    start: float | None = None  # wall-clock origin; None: now
    index: int = 0  # gamma, trace: this sender's first slot of the common stream, and the stride
    senders: int = 1

    def message(self) -> dict[str, Any]:
        return {"op": SCHEDULE, **asdict(self)}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Schedule:
        start = message.get("start")
        return cls(
            int(message["id"]),
            float(message["rps"]),
            str(message["arrivals"]),
            int(message["seed"]),
            int(message["max_in_flight"]),
            float(start) if start is not None else None,
            int(message.get("index", 0)),
            int(message.get("senders", 1)),
        )


@dataclass(frozen=True)
class Batch:
    """A results frame, typed: what the engine measured since its previous frame."""

    latencies_us: array.array  # successful requests
    errors: list[tuple[int, str]]  # (latency us, Triton's message)
    cpu_s: float  # the engine's CPU time so far
    ack: int | None = None  # the command this frame answers
    late: int = 0  # open loop: sends later than their schedule, since the previous frame
    max_lag_ms: float = 0.0
    dropped: int = 0  # open loop: sends skipped at the in-flight cap
    in_flight: int = 0
    sent: array.array = field(default_factory=lambda: array.array("d"))  # open loop: wall-clock send times
    lags_us: array.array = field(default_factory=lambda: array.array("I"))  # and each one's lag behind schedule

    def encode(self) -> bytes:
        return encode(
            {
                "lat": self.latencies_us.tobytes(),
                "err": [list(error) for error in self.errors],
                "cpu": self.cpu_s,
                "ack": self.ack,
                "late": self.late,
                "max_lag_ms": self.max_lag_ms,
                "dropped": self.dropped,
                "in_flight": self.in_flight,
                "sent": self.sent.tobytes(),
                "lag": self.lags_us.tobytes(),
            }
        )

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Batch:
        latencies = array.array("I")
        latencies.frombytes(message["lat"])
        sent = array.array("d")
        sent.frombytes(message.get("sent", b""))
        lags = array.array("I")
        lags.frombytes(message.get("lag", b""))
        return cls(
            latencies,
            [(int(us), str(text)) for us, text in message["err"]],
            float(message["cpu"]),
            message.get("ack"),
            int(message.get("late", 0)),
            float(message.get("max_lag_ms", 0.0)),
            int(message.get("dropped", 0)),
            int(message.get("in_flight", 0)),
            sent,
            lags,
        )
