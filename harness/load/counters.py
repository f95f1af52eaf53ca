"""What this process measured: the window since the last flush (shipped to the master as a WorkerDelta) and
the lifetime totals over every flush (written at quit, to check the master's merge against).

Fed by the pump with the engine's result batches; the window starts again at every flush and every test. The
generator's CPU is this process's plus its engine's (the engine reports its own CPU seconds in every frame).
"""

from __future__ import annotations

import array
import time
from typing import Any

from harness.load.aggregate import WorkerDelta
from harness.load.engine.protocol import Batch
from harness.load.histogram import LatencyHistogram


class LoadCounters:
    def __init__(self) -> None:
        self._engine_cpus: dict[int, float] = {}  # CPU seconds each engine reported so far (several with --mix)
        self._lifetime_requests = 0
        self._lifetime_failures = 0
        self._lifetime_hist = LatencyHistogram()
        self.reset()

    def reset(self) -> None:
        """A fresh window (and a fresh first error), from now."""
        self.hist = LatencyHistogram()
        self.failed_hist = LatencyHistogram()  # the failures among hist: never good, however fast (goodput)
        self.requests = 0
        self.failures = 0
        self.late_sends = 0
        self.max_send_lag_ms = 0.0
        self.dropped = 0
        self.in_flight = 0
        self.sent = array.array("d")
        self.send_lag = LatencyHistogram()  # open loop: each send's lag behind its intended time, microseconds
        self.first_error: str | None = None
        self._t0 = time.time()
        self._cpu0 = time.process_time()
        self._engine_cpu0 = self._engine_cpu

    @property
    def _engine_cpu(self) -> float:
        return sum(self._engine_cpus.values())

    def take(self, batch: Batch, engine: int = 0) -> None:
        """One results frame of engine `engine`, counted: successes, failures, late and dropped sends, send times."""
        self._engine_cpus[engine] = batch.cpu_s
        self.late_sends += batch.late
        self.max_send_lag_ms = max(self.max_send_lag_ms, batch.max_lag_ms)
        self.dropped += batch.dropped
        self.in_flight = batch.in_flight
        self.sent.extend(batch.sent)
        self.send_lag.record_all_micros(batch.lags_us)
        record = self.hist.record_micros
        for micros in batch.latencies_us:
            record(micros)
        self.requests += len(batch.latencies_us)
        for micros, message in batch.errors:
            self.record(micros / 1e6, message)

    def record(self, seconds: float, error: str | None) -> None:
        self.hist.record_seconds(seconds)
        self.requests += 1
        if error is not None:
            self.failures += 1
            self.failed_hist.record_seconds(seconds)
            self.first_error = self.first_error or error

    def refuse(self, message: str) -> None:
        """Something that stops this process's load (a refused user, an engine gone): the window's first error."""
        self.first_error = self.first_error or message

    def flush(self, host: str, engine: str) -> WorkerDelta:
        """What was measured since the previous flush; the window starts again (the in-flight count carries on)."""
        now, cpu = time.time(), time.process_time() + self._engine_cpu  # the engine's CPU is the generator's too
        delta = WorkerDelta(
            hist=self.hist.encode() if self.hist.count else "",
            requests=self.requests,
            failures=self.failures,
            failed_hist=self.failed_hist.encode() if self.failed_hist.count else "",
            t0=self._t0,
            t1=now,
            cpu_s=cpu - self._cpu0 - self._engine_cpu0,
            late_sends=self.late_sends,
            max_send_lag_ms=self.max_send_lag_ms,
            dropped=self.dropped,
            in_flight=self.in_flight,
            first_error=self.first_error,
            host=host,
            engine=engine,
            sent=self.sent.tobytes(),
            send_lag=self.send_lag.encode() if self.send_lag.count else "",
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
        return {
            "requests": self._lifetime_requests,
            "failures": self._lifetime_failures,
            "histogram_count": self._lifetime_hist.count,
        }
