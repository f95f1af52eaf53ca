"""The engine frame protocol (harness.load.engine.protocol): frames as documented, decoded back exactly."""

from __future__ import annotations

import array
import io
import struct

import msgpack
import pytest

from harness.load.engine import protocol
from harness.load.engine.protocol import Batch


class Trickle(io.RawIOBase):
    """A pipe that hands out at most `step` bytes per read, as gevent's cooperative pipes may."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step = data, step

    def read(self, size: int = -1) -> bytes:
        chunk, self._data = self._data[: min(size, self._step)], self._data[min(size, self._step) :]
        return chunk


def test_a_frame_is_a_big_endian_length_then_the_msgpack_map() -> None:
    message = {"op": protocol.SCHEDULE, "id": 3, "rps": 12.5, "arrivals": "poisson", "start": None}
    frame = protocol.encode(message)
    body = msgpack.packb(message)
    assert frame[:4] == len(body).to_bytes(4, "big")
    assert frame[4:] == body
    assert protocol.decode(frame[4:]) == message


def test_frames_read_back_in_order_from_a_pipe_that_returns_a_byte_at_a_time() -> None:
    messages = [
        {"op": protocol.CONFIG, "url": "127.0.0.1:1", "payload": bytes(range(256)) * 300, "timeout": 2.0},
        {"op": protocol.LANES, "n": 4, "seq": 1},
        {"op": protocol.QUIT},
    ]
    pipe = Trickle(b"".join(protocol.encode(m) for m in messages), step=1)
    assert [protocol.read_frame(pipe) for _ in range(4)] == [*messages, None]


@pytest.mark.parametrize("cut", [0, 2, 4, 9])
def test_a_truncated_frame_reads_as_the_end_of_the_engine(cut: int) -> None:
    frame = protocol.encode({"op": protocol.STOP, "seq": 7})
    assert protocol.read_frame(io.BytesIO(frame[:cut])) is None


def test_read_exactly_joins_short_reads() -> None:
    assert protocol.read_exactly(Trickle(b"abcdefg", step=3), 5) == b"abcde"
    assert protocol.read_exactly(Trickle(b"abc", step=3), 5) is None


def test_the_op_names_are_the_documented_ones() -> None:
    ops = (protocol.CONFIG, protocol.LANES, protocol.SCHEDULE, protocol.UNSCHEDULE, protocol.STOP, protocol.QUIT)
    assert ops == ("config", "lanes", "schedule", "unschedule", "stop", "quit")


def test_a_results_frame_carries_the_documented_fields_in_native_binary() -> None:
    batch = Batch(
        array.array("I", [1500, 0xFFFFFFFF]),
        [(7000, "UNAVAILABLE: gone")],
        1.25,
        ack=4,
        late=2,
        max_lag_ms=3.5,
        dropped=1,
        in_flight=9,
        sent=array.array("d", [1700000000.25]),
        lags_us=array.array("I", [42]),
    )
    message = msgpack.unpackb(batch.encode()[4:])
    fields = ["lat", "err", "cpu", "ack", "late", "max_lag_ms", "dropped", "in_flight", "sent", "lag"]
    assert sorted(message) == sorted(fields)
    assert struct.unpack("=2I", message["lat"]) == (1500, 0xFFFFFFFF)
    assert message["err"] == [[7000, "UNAVAILABLE: gone"]]
    assert struct.unpack("=d", message["sent"]) == (1700000000.25,)
    assert struct.unpack("=I", message["lag"]) == (42,)
    assert (
        message["cpu"],
        message["ack"],
        message["late"],
        message["max_lag_ms"],
        message["dropped"],
        message["in_flight"],
    ) == (1.25, 4, 2, 3.5, 1, 9)


def test_a_results_frame_round_trips() -> None:
    batch = Batch(
        array.array("I", [1, 2, 3]),
        [(4, "x"), (5, "y")],
        0.5,
        ack=None,
        late=1,
        max_lag_ms=2.0,
        dropped=3,
        in_flight=4,
        sent=array.array("d", [1.0, 2.0]),
        lags_us=array.array("I", [7, 9]),
    )
    assert Batch.from_message(protocol.read_frame(io.BytesIO(batch.encode()))) == batch


def test_a_results_frame_without_the_open_loop_fields_means_none_of_them() -> None:
    message = {"lat": struct.pack("=I", 10), "err": [], "cpu": 0.0}
    batch = Batch.from_message(message)
    assert (
        list(batch.latencies_us),
        batch.ack,
        batch.late,
        batch.max_lag_ms,
        batch.dropped,
        batch.in_flight,
        list(batch.sent),
    ) == ([10], None, 0, 0.0, 0, 0, [])


def test_a_config_carries_its_requests_as_a_list_or_one() -> None:
    assert protocol.payloads_of({"op": "config", "payloads": [b"a", b"b"]}) == [b"a", b"b"]
    assert protocol.payloads_of({"op": "config", "payload": b"a"}) == [b"a"]
