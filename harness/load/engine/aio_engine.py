"""The Python lean load engine: closed-loop gRPC lanes on grpc.aio (or, with a config's "protocol": "http", KServe
v2 HTTP/REST on one keep-alive aiohttp session), in a process of its own, outside gevent.

The fallback where the compiled engine (harness/load/engine/cpp/lean_engine.cc, same protocol, a fraction of the CPU
per request) cannot be built; harness.load.engine.compiled picks which one runs.

Why a child process: grpc's gevent integration costs far more client CPU per request than grpc.aio on plain asyncio,
whatever the call style (blocking, futures, streaming); the figures are measured by scripts/bench_load_generator.py
and quoted once, in the README. Locust needs gevent, so each Locust process that generates load runs this engine as
a child:

    python -m harness.load.engine.aio_engine        (spoken to over stdin/stdout; see harness.load.engine.link)

The frames, the commands and the results frame are defined once, in harness.load.engine.protocol (the compiled
engine speaks the same). Open-loop latency counts from each request's intended send time. No gevent, no Locust;
tritonclient only where responses are checked (harness.load.engine.validation, a config with "expect").
"""

from __future__ import annotations

import array
import asyncio
import sys
import time
from collections.abc import Iterator
from typing import Any

import grpc

from harness.load.arrivals import send_times
from harness.load.engine import protocol
from harness.load.engine.protocol import Batch, Schedule
from harness.load.engine.validation import Validator

_METHOD = "/inference.GRPCInferenceService/ModelInfer"
_FLUSH_S = 0.005  # as the compiled engine's kFlushS: short frames keep the Locust process's bursts short
LATE_THRESHOLD_S = 0.002  # a send this far behind its intended time counts as late
# A lane whose request found no server (UNAVAILABLE: refused, reset) waits before sending again, doubling
# from BACKOFF_MIN_S to BACKOFF_MAX_S while the server stays away: resending at once only spins the CPU.
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.01, 0.5
QUIT_GRACE_S = 3.0  # the longest an exit waits for the requests in flight (at most the timeout), as kQuitGraceS


class RequestFailed(Exception):
    """A request that got no success, either protocol: its message (as the results frame carries it) and whether
    it found no server (a lane then backs off)."""

    def __init__(self, message: str, unavailable: bool = False) -> None:
        super().__init__(message)
        self.message, self.unavailable = message, unavailable


class _Lane:
    """A closed-loop lane's handle: a lane told to retire ends after its request in flight, never cancelling it
    (a Triton without the fix of server issue 8034, March 2025, can crash on a cancellation that races the
    response; 2.51 here predates it)."""

    retired = False


class Engine:
    def __init__(self, out: Any) -> None:
        self.out = out
        self.channel: grpc.aio.Channel | None = None
        self.call: Any = None
        self.payloads: list[bytes] = [b""]  # the requests, sent in turn: each send takes the next (next_request)
        self.sends = 0
        self.timeout = 30.0
        self.lanes: list[_Lane] = []
        self.generation = 0  # bumped by a stop: a result of an earlier generation is dropped, as in the compiled engine
        self.tasks: set[asyncio.Task[None]] = set()  # asyncio keeps only weak references to running tasks
        self.schedules: dict[int, asyncio.Task[None]] = {}
        self.latencies = array.array("I")
        self.sent = array.array("d")
        self.lags = array.array("I")
        self.trace: list[float] = []  # the "trace" command's gaps, for trace schedules
        self.errors: list[tuple[int, str]] = []
        self.late, self.max_lag_ms, self.dropped, self.in_flight = 0, 0.0, 0, 0
        self.backoff_s = 0.0
        self.validator: Validator | None = None  # checks each response against its entry's expected outputs
        self.session: Any = None  # HTTP: one aiohttp.ClientSession, one pool of keep-alive connections
        self.aiohttp: Any = None  # imported for HTTP only: its import would delay every gRPC engine's start
        self.http_url = ""
        self.http_headers: list[dict[str, str]] = []  # HTTP: per payload (its JSON header's length)

    def configure(
        self, url: str, payloads: list[bytes], timeout: float, expect: list | None = None, http: dict | None = None
    ) -> None:
        """`http`: the config's "path" and "header_lengths" (protocol.py); the engine then speaks HTTP for its life."""
        if http is not None or self.session is not None:
            if self.session is None:
                import aiohttp

                self.aiohttp = aiohttp
                self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            self.http_url = f"http://{url}{(http or {}).get('path', '')}"
            lengths = list((http or {}).get("header_lengths", []))
            self.http_headers = [
                {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(n)} for n in lengths
            ]
        elif self.channel is None:
            options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
            self.channel = grpc.aio.insecure_channel(url, options=options)
            self.call = self.channel.unary_unary(_METHOD, _registered_method=True)
        self.payloads, self.sends, self.timeout = payloads or [b""], 0, timeout
        self.validator = Validator(expect) if expect else None

    async def request(self, index: int) -> bytes:
        """Send request `index` and await its reply; RequestFailed when it is not a success."""
        if self.session is None:
            try:
                return bytes(await self.call(self.payloads[index], timeout=self.timeout))
            except grpc.aio.AioRpcError as exc:
                raise RequestFailed(f"{exc.code().name}: {exc.details()}", exc.code() == grpc.StatusCode.UNAVAILABLE) from exc
        headers = self.http_headers[index % len(self.http_headers)] if self.http_headers else None
        try:
            timeout = self.aiohttp.ClientTimeout(total=self.timeout)
            async with self.session.post(self.http_url, data=self.payloads[index], headers=headers, timeout=timeout) as reply:
                body = await reply.read()
        except self.aiohttp.ClientConnectorError as exc:
            raise RequestFailed(f"UNAVAILABLE: {exc}", unavailable=True) from exc
        except asyncio.TimeoutError as exc:
            raise RequestFailed("DEADLINE_EXCEEDED: no reply within the request timeout") from exc
        except self.aiohttp.ClientError as exc:
            raise RequestFailed(f"HTTP: {exc}") from exc
        if reply.status != 200:
            raise RequestFailed(f"HTTP {reply.status}: {body[:2048].decode(errors='replace')}")
        return body

    def next_request(self) -> int:
        """The index of the request the next send carries: the configured ones in turn, across lanes and schedules
        (as the compiled engine does); the index also names the entry whose outputs its response must carry."""
        index = self.sends % len(self.payloads)
        self.sends += 1
        return index

    def invalid(self, index: int, response: bytes) -> str | None:
        """Why a successful response is wrong for its entry (a failure of the level), None when it is right."""
        return self.validator.check(index, response) if self.validator is not None else None

    def set_lanes(self, count: int) -> None:
        while len(self.lanes) < count:
            lane = _Lane()
            self.lanes.append(lane)
            self._spawn(self._lane(lane))
        while len(self.lanes) > count:
            self.lanes.pop().retired = True

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _lane(self, lane: _Lane) -> None:
        clock, record, generation = time.perf_counter, self.latencies.append, self.generation
        while not lane.retired:
            started, index = clock(), self.next_request()
            try:
                response = await self.request(index)
            except RequestFailed as exc:
                if self.generation != generation:
                    return
                self.errors.append((int((clock() - started) * 1e6), exc.message))
                if exc.unavailable:
                    self.backoff_s = min(max(self.backoff_s * 2, BACKOFF_MIN_S), BACKOFF_MAX_S)
                    await asyncio.sleep(self.backoff_s)
                else:
                    self.backoff_s = 0.0
                continue
            if self.generation != generation:
                return
            self.backoff_s = 0.0
            if wrong := self.invalid(index, response):
                self.errors.append((min(int((clock() - started) * 1e6), 0xFFFFFFFF), wrong))
                continue
            record(min(int((clock() - started) * 1e6), 0xFFFFFFFF))

    def schedule(self, schedule: Schedule) -> None:
        self.unschedule(schedule.id)
        if schedule.rps > 0:
            times = send_times(
                0.0, schedule.arrivals, schedule.rps, schedule.seed, schedule.index, schedule.senders, self.trace
            )
            coroutine = self._open_loop(times, schedule.max_in_flight, schedule.start)
            self.schedules[schedule.id] = asyncio.get_running_loop().create_task(coroutine)

    def unschedule(self, key: int) -> None:
        task = self.schedules.pop(key, None)
        if task is not None:
            task.cancel()

    def stop(self) -> None:
        self.set_lanes(0)
        for key in list(self.schedules):
            self.unschedule(key)
        self.generation += 1
        self.in_flight, self.backoff_s = 0, 0.0

    async def _open_loop(self, times: Iterator[float], max_in_flight: int, start: float | None) -> None:
        """Sends at `times` (seconds from the origin `start`, as harness.load.arrivals draws them)."""
        clock, wall, sent, lags = time.perf_counter, time.time, self.sent.append, self.lags.append
        origin = clock() + (start - wall() if start is not None else 0.0)  # the common origin, on our clock
        intended = origin + next(times)
        now = clock()
        while intended < now:  # slots before this sender existed: skipped, not sent late
            intended = origin + next(times)
        while True:
            await asyncio.sleep(max(intended - clock(), 0.0))  # also yields when behind, so responses are handled
            while clock() < intended:  # never before its time: uvloop's timers count whole milliseconds and can
                await asyncio.sleep(0)  # fire early; the rest is waited yielding to the loop (responses go on)
            lag = clock() - intended
            if lag > LATE_THRESHOLD_S:
                self.late += 1
                self.max_lag_ms = max(self.max_lag_ms, lag * 1000.0)
            if self.in_flight >= max_in_flight:
                self.dropped += 1
            else:
                self.in_flight += 1
                sent(wall())
                lags(min(int(lag * 1e6), 0xFFFFFFFF))
                self._spawn(self._send_at(intended))
            intended = origin + next(times)

    async def _send_at(self, intended: float) -> None:
        """One open-loop request; its latency counts from when it was meant to leave. One sent before a stop is
        not reported (the stop zeroed the count in flight)."""
        generation, index = self.generation, self.next_request()
        try:
            response = await self.request(index)
        except RequestFailed as exc:
            if self.generation == generation:
                self.errors.append((int((time.perf_counter() - intended) * 1e6), exc.message))
        else:
            if self.generation == generation:
                micros = min(int((time.perf_counter() - intended) * 1e6), 0xFFFFFFFF)
                if wrong := self.invalid(index, response):
                    self.errors.append((micros, wrong))
                else:
                    self.latencies.append(micros)
        finally:
            if self.generation == generation:
                self.in_flight -= 1

    def flush(self, ack: int | None = None) -> None:
        if not self.latencies and not self.errors and not self.late and not self.dropped and not self.sent and ack is None:
            return
        frame = Batch(
            self.latencies,
            self.errors,
            time.process_time(),
            ack,
            self.late,
            self.max_lag_ms,
            self.dropped,
            self.in_flight,
            self.sent,
            self.lags,
        ).encode()
        del self.latencies[:]  # cleared in place: the lanes hold a bound `append` of this very array
        del self.sent[:]
        del self.lags[:]
        self.errors.clear()
        self.late, self.max_lag_ms, self.dropped = 0, 0.0, 0
        try:
            self.out.write(frame)
            self.out.flush()
        except BrokenPipeError:
            raise SystemExit(0) from None  # the Locust process is gone: nobody to report to

    async def close(self) -> None:
        self.stop()
        self.flush()
        if self.tasks:  # the requests in flight finish first: closing the channel would cancel them
            await asyncio.wait(list(self.tasks), timeout=min(self.timeout, QUIT_GRACE_S))
        if self.channel is not None:
            await self.channel.close()
        if self.session is not None:
            await self.session.close()


async def _read_frames(engine: Engine, reader: asyncio.StreamReader) -> None:
    while True:
        try:
            size = protocol.body_size(await reader.readexactly(protocol.HEADER.size))
            message = protocol.decode(await reader.readexactly(size))
        except asyncio.IncompleteReadError:
            return  # the Locust process went away
        if message["op"] == protocol.CONFIG:
            http = message if message.get("protocol") == "http" else None
            engine.configure(
                message["url"], protocol.payloads_of(message), float(message["timeout"]), message.get("expect"), http
            )
        elif message["op"] == protocol.LANES:
            engine.set_lanes(int(message["n"]))
        elif message["op"] == protocol.TRACE:
            engine.trace = list(array.array("d", message["gaps"]))
        elif message["op"] == protocol.SCHEDULE:
            engine.schedule(Schedule.from_message(message))
        elif message["op"] == protocol.UNSCHEDULE:
            engine.unschedule(int(message["id"]))
        elif message["op"] == protocol.STOP:
            engine.stop()
        elif message["op"] == protocol.QUIT:
            return
        if "seq" in message:
            engine.flush(ack=message["seq"])  # results so far, then the ack: nothing of what stopped follows


async def _flusher(engine: Engine) -> None:
    while True:
        await asyncio.sleep(_FLUSH_S)
        engine.flush()


async def main() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    engine = Engine(sys.stdout.buffer)
    flusher = loop.create_task(_flusher(engine))
    try:
        await _read_frames(engine, reader)
    finally:
        flusher.cancel()
        await engine.close()


def run() -> None:
    """On uvloop where installed: measured here it cuts the engine's CPU per request by about a quarter."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


if __name__ == "__main__":
    run()
