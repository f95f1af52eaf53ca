"""Merging what load-generator processes report: exact histogram merges, per-worker rates and CPU use.

Each worker sends a `WorkerDelta` (as a dict, inside Locust's worker report) covering the time since its
previous one. The aggregator merges them into a cumulative view (for the web UI and the file written at test
stop) and into the current measurement window (for sweeps). No Locust and no I/O here.
"""

from __future__ import annotations

import array
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from harness.load.arrivals import merged_cv
from harness.load.histogram import LatencyHistogram


@dataclass(frozen=True)
class WorkerDelta:
    """What one load-generator process measured between two reports."""

    hist: str  # encoded histogram of response times
    requests: int
    failures: int
    t0: float  # wall-clock span the delta covers
    t1: float
    cpu_s: float  # process CPU seconds spent in the span
    late_sends: int = 0
    max_send_lag_ms: float = 0.0
    dropped: int = 0
    in_flight: int = 0
    first_error: str | None = None
    sent: bytes = b""  # open loop: wall-clock send times (float64, native order), for the merged arrival CV
    host: str = ""  # which machine and engine sent these requests (recorded per level)
    engine: str = ""
    failed_hist: str = ""  # encoded histogram of the failures' times (they are in hist too): never good requests
    send_lag: str = ""  # open loop: encoded histogram of each send's lag behind schedule, microseconds
    clock_offset_ms: float | None = None  # the worker's clock minus the master's (harness.load.clock); None: local

    def to_message(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> WorkerDelta:
        return cls(**data)


@dataclass
class WorkerTally:
    """Running sums for one worker over a window or a whole test."""

    requests: int = 0
    failures: int = 0
    span_s: float = 0.0
    cpu_s: float = 0.0
    late_sends: int = 0
    max_send_lag_ms: float = 0.0
    dropped: int = 0
    in_flight: int = 0
    first_error: str | None = None
    sent: array.array = field(default_factory=lambda: array.array("d"))
    host: str = ""
    engine: str = ""
    clock_offset_ms: float | None = None

    def add(self, delta: WorkerDelta) -> None:
        self.requests += delta.requests
        self.failures += delta.failures
        self.span_s += max(delta.t1 - delta.t0, 0.0)
        self.cpu_s += delta.cpu_s
        self.late_sends += delta.late_sends
        self.max_send_lag_ms = max(self.max_send_lag_ms, delta.max_send_lag_ms)
        self.dropped += delta.dropped
        self.in_flight = delta.in_flight
        self.first_error = self.first_error or delta.first_error
        self.sent.frombytes(delta.sent)
        self.host, self.engine = delta.host or self.host, delta.engine or self.engine
        self.clock_offset_ms = _latest(delta.clock_offset_ms, self.clock_offset_ms)

    def merge(self, other: WorkerTally) -> None:
        """Fold a later tally of the same worker in: sums, the worst lag, the latest in-flight count."""
        for name in ("requests", "failures", "span_s", "cpu_s", "late_sends", "dropped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_send_lag_ms = max(self.max_send_lag_ms, other.max_send_lag_ms)
        self.in_flight = other.in_flight
        self.first_error = self.first_error or other.first_error
        self.sent.extend(other.sent)
        self.host, self.engine = other.host or self.host, other.engine or self.engine
        self.clock_offset_ms = _latest(other.clock_offset_ms, self.clock_offset_ms)

    @property
    def cpu_percent(self) -> float:
        return 100.0 * self.cpu_s / self.span_s if self.span_s > 0 else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.span_s if self.span_s > 0 else 0.0


def _latest(new: float | None, old: float | None) -> float | None:
    return old if new is None else new


@dataclass
class Tally:
    """A merged histogram plus per-worker tallies."""

    hist: LatencyHistogram = field(default_factory=LatencyHistogram)
    workers: dict[str, WorkerTally] = field(default_factory=dict)
    failed_hist: LatencyHistogram = field(default_factory=LatencyHistogram)  # the failures among hist
    send_lag: LatencyHistogram = field(default_factory=LatencyHistogram)  # open loop, every worker's merged
    models: dict[str, Tally] = field(default_factory=dict)  # --mix: each model's part of the same window

    def add(self, worker: str, delta: WorkerDelta) -> None:
        self.hist.add_encoded(delta.hist)
        self.failed_hist.add_encoded(delta.failed_hist)
        self.send_lag.add_encoded(delta.send_lag)
        self.workers.setdefault(worker, WorkerTally()).add(delta)

    def merge(self, other: Tally) -> None:
        self.hist.add(other.hist)
        self.failed_hist.add(other.failed_hist)
        self.send_lag.add(other.send_lag)
        for worker, tally in other.workers.items():
            self.workers.setdefault(worker, WorkerTally()).merge(tally)
        for model, part in other.models.items():
            self.model(model).merge(part)

    def model(self, name: str) -> Tally:
        """This window's part for model `name` (--mix), empty until it has reported."""
        return self.models.setdefault(name, Tally())

    @property
    def requests(self) -> int:
        return sum(w.requests for w in self.workers.values())

    def succeeded_within_ms(self, limit_ms: float) -> int:
        """Requests that succeeded within limit_ms, counted exactly from the histograms (to their 0.1 %
        resolution): every request within the limit, less the failures within it."""
        within = self.hist.count - self.hist.count_above_ms(limit_ms)
        return within - (self.failed_hist.count - self.failed_hist.count_above_ms(limit_ms))

    @property
    def failures(self) -> int:
        return sum(w.failures for w in self.workers.values())

    @property
    def rps(self) -> float:
        """Sum of each worker's own rate: exact whatever the alignment of reports to window edges."""
        return sum(w.rps for w in self.workers.values())

    @property
    def span_s(self) -> float:
        return max((w.span_s for w in self.workers.values()), default=0.0)

    @property
    def max_cpu_percent(self) -> float:
        return max((w.cpu_percent for w in self.workers.values()), default=0.0)

    def total(self, name: str) -> int:
        return int(sum(getattr(w, name) for w in self.workers.values()))

    @property
    def max_send_lag_ms(self) -> float:
        return max((w.max_send_lag_ms for w in self.workers.values()), default=0.0)

    @property
    def first_error(self) -> str | None:
        return next((w.first_error for w in self.workers.values() if w.first_error), None)

    @property
    def scheduled_rps(self) -> float | None:
        """Open loop: sends made plus sends dropped at the cap, per second, summed over workers (None: closed loop)."""
        if not any(len(w.sent) or w.dropped for w in self.workers.values()):
            return None
        return sum((len(w.sent) + w.dropped) / w.span_s for w in self.workers.values() if w.span_s > 0)

    @property
    def arrivals_cv(self) -> float | None:
        """Inter-arrival CV of every worker's open-loop sends merged (None without open-loop sends)."""
        return merged_cv([w.sent for w in self.workers.values()])

    @property
    def sends(self) -> int:
        """Open-loop sends made (their send times are what arrivals_cv measures)."""
        return sum(len(w.sent) for w in self.workers.values())


class Aggregator:
    """Receives worker deltas; keeps the whole test's tally and the current window's."""

    def __init__(self) -> None:
        self.total = Tally()
        self._window = Tally()

    def reset(self) -> None:
        self.total = Tally()
        self._window = Tally()

    def ingest(self, worker: str, delta: WorkerDelta, models: dict[str, WorkerDelta] | None = None) -> None:
        """One report of `worker`: its combined delta and (--mix) each model's part of it."""
        self.total.add(worker, replace(delta, sent=b""))  # send times matter per window; a test's would pile up
        self._window.add(worker, delta)
        for model, part in (models or {}).items():
            self.total.model(model).add(worker, replace(part, sent=b""))
            self._window.model(model).add(worker, part)

    def take_window(self) -> Tally:
        """What arrived since the previous call; starts a new window."""
        window, self._window = self._window, Tally()
        return window
