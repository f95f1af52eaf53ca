"""Per-process state of a load generator: options, the prepared request, the lean engine, the histogram.

One LoadContext per Locust process, shared by its users: the request is built and serialized once, the lean
engine child sends it (closed-loop lanes, open-loop schedules), and results accumulate in a histogram that is
flushed to the master as a WorkerDelta. No Locust or gevent imports: the users and the plugin hand it what it
needs.
"""

from __future__ import annotations

import array
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from harness import defaults
from harness.errors import HarnessError
from harness.load.aggregate import WorkerDelta
from harness.load.arrivals import check_rate, sender_phase_s, sender_rate, sender_seed
from harness.load.engine.compiled import engine_command, engine_name
from harness.load.engine.link import EngineLink
from harness.load.histogram import LatencyHistogram
from harness.triton.control import ControlClient, make_inputs
from harness.triton.request import serialize_request

log = logging.getLogger("harness")


@dataclass(frozen=True)
class LoadOptions:
    triton_url: str = "127.0.0.1:8001"
    model: str = "mnist_cnn"
    batch_size: int = 1
    input_seed: int = 0
    target_rps: float = 0.0
    arrivals: str = "constant"
    max_in_flight: int = defaults.MAX_IN_FLIGHT
    request_timeout_s: float = defaults.REQUEST_TIMEOUT_S
    latency_file: str = ""
    report_interval_s: float = defaults.REPORT_INTERVAL_S
    saturation_cpu: float = defaults.SATURATION_CPU_PERCENT
    num_users: int = 1
    start_at: float = 0.0  # the test's common start instant (wall clock), set by the master at test start

    @classmethod
    def from_parsed(cls, parsed: Any) -> LoadOptions:
        if parsed is None:
            return cls()
        get = lambda name, default: getattr(parsed, name, default) if getattr(parsed, name, None) is not None else default  # noqa: E731
        return cls(
            triton_url=triton_endpoint(get("host", "")) or get("triton_url", cls.triton_url), model=get("model", cls.model),
            batch_size=int(get("batch_size", 1)), input_seed=int(get("input_seed", 0)),
            target_rps=float(get("target_rps", 0.0)), arrivals=get("arrivals", "constant"),
            max_in_flight=int(get("max_in_flight", cls.max_in_flight)),
            request_timeout_s=float(get("request_timeout", cls.request_timeout_s)),
            latency_file=get("latency_file", ""), report_interval_s=float(get("report_interval", cls.report_interval_s)),
            saturation_cpu=float(get("saturation_cpu", cls.saturation_cpu)),
            # a worker gets the master's total as harness_total_users (Locust never sends it num_users)
            num_users=max(int(get("harness_total_users", 0) or get("num_users", 1) or 1), 1),
            start_at=float(get("harness_start_at", 0.0)),
        )


def triton_endpoint(host: str) -> str:
    """Locust's Host (CLI, form or locust.conf) as a gRPC host:port: a scheme or a trailing slash is dropped."""
    return host.strip().split("://", 1)[-1].rstrip("/")


class LoadContext:
    def __init__(self, options: LoadOptions) -> None:
        self.options = options
        self.reporter: Any = None  # the local runner's report greenlet
        self.host = ""  # this generator's machine, stamped on every delta (set by the plugin)
        self._control: ControlClient | None = None
        self._payload: bytes | None = None
        self._lifetime_requests = 0
        self._lifetime_failures = 0
        self._lifetime_hist = LatencyHistogram()
        self._users_started = 0
        self._engine: EngineLink | None = None
        self._engine_lock = threading.Lock()  # gevent's lock in Locust processes (monkey-patched)
        self._engine_payload = b""
        self._engine_cpu = 0.0  # CPU seconds the engine reported so far
        self.lanes = 0
        self._lanes_seq = 0
        self._acked = 0
        self.pump_greenlet: Any = None  # spawned by the closed-loop user (this module stays gevent-free)
        self._awaiting_index: set[int] = set()  # open-loop users waiting for their global sender index
        self.reset()

    def next_user_index(self) -> int:
        self._users_started += 1
        return self._users_started - 1

    def reset(self) -> None:
        self.hist = LatencyHistogram()
        self.requests = 0
        self.failures = 0
        self.late_sends = 0
        self.max_send_lag_ms = 0.0
        self.dropped = 0
        self.in_flight = 0
        self.sent = array.array("d")
        self.first_error: str | None = None
        self._t0 = time.time()
        self._cpu0 = time.process_time()
        self._engine_cpu0 = self._engine_cpu

    def restart(self, options: LoadOptions) -> None:
        """A new test: fresh counters, and the request rebuilt from the (maybe changed) options.

        Channels stay open across tests and close only when the process quits: closing and reopening gRPC
        channels under gevent between tests has crashed grpc's poller here (epoll_wait: bad file descriptor).
        """
        if options.triton_url != self.options.triton_url:
            self.close()
        self.options = options
        self._payload = None
        self._users_started = 0
        self._awaiting_index.clear()
        self.reset()

    def payload(self) -> bytes:
        """The serialized request: built on first use from the model's metadata, shared by every user."""
        if self._payload is None:
            self._payload = self._prepare()
        return self._payload

    def _prepare(self) -> bytes:
        options = self.options
        if self._control is None:
            self._control = ControlClient(options.triton_url, timeout_s=30)
        try:
            spec = self._control.model_spec(options.model)
            return serialize_request(options.model, make_inputs(spec, options.batch_size, options.input_seed))
        except HarnessError:
            # Let every request fail with the server's message (unknown model...): counted, not a crash.
            return serialize_request(options.model, {})

    def engine(self) -> EngineLink:
        """The lean engine child (closed loop), configured with the prepared request; started on first use.

        Under a lock: preparing and starting yield (gRPC, fork), and users start concurrently.
        """
        with self._engine_lock:
            payload, options = self.payload(), self.options
            if self._engine is None:
                self._engine = EngineLink(options.triton_url, payload, options.request_timeout_s)
                log.info("load engine: %s", engine_name())
            elif self._engine_payload != payload:
                self._engine.configure(options.triton_url, payload, options.request_timeout_s)
            self._engine_payload = payload
            return self._engine

    def set_lanes(self, count: int) -> None:
        self.lanes = max(count, 0)
        if self._engine is not None:
            self._lanes_seq = self._engine.set_lanes(self.lanes)

    def await_index(self, user_index: int) -> None:
        """An open-loop user starts: it sends once the master has given it a global sender index.
        Refused at once (ZeroRateError) without a positive target rate: it would never send."""
        check_rate(self.options.target_rps)
        self._awaiting_index.add(user_index)

    def schedule(self, user_index: int, sender: int) -> None:
        """User `user_index` sends as global sender `sender` of the level's num_users: its share of --target-rps,
        phase-shifted on the common start instant (constant) or on its own seed (Poisson)."""
        if user_index not in self._awaiting_index:
            return  # stopped (or from another test) before the index came
        self._awaiting_index.discard(user_index)
        options = self.options
        start = (options.start_at or time.time()) + sender_phase_s(sender, options.target_rps)
        self.engine().schedule(user_index, sender_rate(options.target_rps, options.num_users), options.arrivals,
                               sender_seed(options.input_seed, sender), options.max_in_flight, start)

    def refuse(self, message: str) -> None:
        """A user that cannot run: carried to the master as this process's error."""
        self.first_error = self.first_error or message

    def unschedule(self, user_index: int) -> None:
        self._awaiting_index.discard(user_index)
        if self._engine is not None:
            self._engine.unschedule(user_index)

    def drain(self, timeout_s: float = 2.0) -> None:
        """Stop every lane and schedule and wait until the engine's results up to now have been pumped in.

        Waits with time.sleep, which Locust's gevent patching makes cooperative, so the pump runs meanwhile.
        """
        if self._engine is None:
            return
        self.lanes = 0
        self._lanes_seq = self._engine.stop()
        deadline = time.monotonic() + timeout_s
        while self._acked < self._lanes_seq and time.monotonic() < deadline:
            time.sleep(0.005)

    def pump(self, fire: Callable[..., Any]) -> None:
        """Move the engine's results into the histogram and Locust's request event, until the engine ends."""
        engine, model = self.engine(), self.options.model
        while (batch := engine.read()) is not None:
            self._engine_cpu = batch.cpu_s
            self._acked = batch.ack or self._acked
            self.late_sends += batch.late
            self.max_send_lag_ms = max(self.max_send_lag_ms, batch.max_lag_ms)
            self.dropped += batch.dropped
            self.in_flight = batch.in_flight
            self.sent.extend(batch.sent)
            record = self.hist.record_micros
            for micros in batch.latencies_us:
                record(micros)
                fire(request_type="grpc", name=model, response_time=micros / 1000.0, response_length=0,
                     exception=None, context={})
            self.requests += len(batch.latencies_us)
            for micros, message in batch.errors:
                self.record(micros / 1e6, message)
                fire(request_type="grpc", name=model, response_time=micros / 1000.0, response_length=0,
                     exception=RuntimeError(message), context={})
        if self._engine is engine:  # not closed by us: say so, instead of a load that silently stops
            self.first_error = self.first_error or "the lean load engine exited; see this process's stderr"
            log.error("the lean load engine (%s) exited unexpectedly", " ".join(engine_command()))

    def record(self, seconds: float, error: str | None) -> None:
        self.hist.record_seconds(seconds)
        if error is None:
            self.requests += 1
        else:
            self.requests += 1
            self.failures += 1
            self.first_error = self.first_error or error

    def flush(self) -> WorkerDelta:
        """What was measured since the previous flush; the counters start again."""
        now, cpu = time.time(), time.process_time() + self._engine_cpu  # the engine's CPU is the generator's too
        delta = WorkerDelta(
            hist=self.hist.encode() if self.hist.count else "", requests=self.requests, failures=self.failures,
            t0=self._t0, t1=now, cpu_s=cpu - self._cpu0 - self._engine_cpu0, late_sends=self.late_sends,
            max_send_lag_ms=self.max_send_lag_ms, dropped=self.dropped, in_flight=self.in_flight,
            first_error=self.first_error, host=self.host, engine=engine_name(), sent=self.sent.tobytes(),
        )
        self._lifetime_requests += self.requests
        self._lifetime_failures += self.failures
        self._lifetime_hist.add(self.hist)
        in_flight = self.in_flight
        self.reset()
        self.in_flight = in_flight
        return delta

    def lifetime_totals(self) -> dict[str, Any]:
        """Everything this process reported over its life (to check the master's merge)."""
        return {"requests": self._lifetime_requests, "failures": self._lifetime_failures,
                "histogram_count": self._lifetime_hist.count}

    def close(self) -> None:
        """Stop the engine and close the control channel explicitly (one left to the GC can hang the exit)."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._control is not None:
            self._control.close()
            self._control = None
        self._payload = None
