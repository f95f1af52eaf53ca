"""A worker's clock against its master's: measured at the roster handshake, as NTP does, and applied wherever this
host's wall clock meets the master's: the origin of an open-loop schedule (the master's instant, which workers get
with their spawn job) and the send times a worker reports (merged with other hosts' into the level's arrivals CV).

Hosts kept in step by NTP still differ by a millisecond or more, a whole gap between sends at 1,000 req/s, so the
offset is measured, never assumed zero. One exchange: the worker stamps t0 on its clock and asks; the master
stamps t1 when the question arrives and t2 as it answers; the worker stamps t3 when the answer arrives. Then
offset = ((t0 - t1) + (t3 - t2)) / 2 is this clock minus the master's, wrong by at most half the difference
between the two ways' delays; of several exchanges the one with the shortest round trip is kept (NTP's clock
filter: the least delay leaves the least room for asymmetry).

Test-only: HARNESS_TEST_CLOCK_SKEW_MS makes a worker behave as a host whose clock runs that far ahead of the
master's. Its own readings (now()) are ahead, and its engine child, whose clock is the real one, is treated as
being on the same skewed clock through the conversions below, so the whole host is skewed. No Locust here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from harness.load.aggregate import WorkerDelta

SKEW_ENV = "HARNESS_TEST_CLOCK_SKEW_MS"
EXCHANGES = 8  # round trips per handshake: a few ms in all on a LAN


@dataclass(frozen=True)
class ClockSample:
    """One round trip: this clock minus the master's, and the round trip's delay (seconds)."""

    offset_s: float
    delay_s: float


def clock_sample(t0: float, t1: float, t2: float, t3: float) -> ClockSample:
    """NTP's on-wire arithmetic: t0, t3 on this clock (ask sent, answer received), t1, t2 on the master's."""
    return ClockSample(offset_s=((t0 - t1) + (t3 - t2)) / 2, delay_s=(t3 - t0) - (t2 - t1))


def best_sample(samples: Sequence[ClockSample]) -> ClockSample:
    """The exchange with the shortest round trip: its offset is the least uncertain."""
    return min(samples, key=lambda sample: sample.delay_s)


def injected_skew_s() -> float:
    """The test-only skew of this worker's host (HARNESS_TEST_CLOCK_SKEW_MS), in seconds; 0 unless a test sets it."""
    return float(os.environ.get(SKEW_ENV) or 0.0) / 1000.0


@dataclass
class WorkerClock:
    """This process's view of time against the master's. Without a handshake (a local runner) the offset is None
    and nothing is shifted: a single process shares its master's clock."""

    skew_s: float = 0.0  # test-only: how far this "host" runs ahead (HARNESS_TEST_CLOCK_SKEW_MS)
    offset_s: float | None = None  # this host's clock minus the master's, once measured

    def now(self) -> float:
        """This host's wall clock (seconds)."""
        return time.time() + self.skew_s

    def engine_time(self, master_s: float) -> float:
        """An instant on the master's clock (a schedule's origin) as the engine child's wall clock reads it."""
        return master_s + (self.offset_s or 0.0) - self.skew_s

    def master_time(self, engine_s: float) -> float:
        """An instant on the engine child's wall clock (a send time) as the master's clock reads it."""
        return engine_s - (self.offset_s or 0.0) + self.skew_s

    def on_master_clock(self, delta: WorkerDelta) -> WorkerDelta:
        """A delta whose send times read on the master's clock, carrying the offset they were corrected by."""
        if self.offset_s is None and not self.skew_s:
            return delta
        # every send time of the flush, shifted at once (numpy, not a Python loop: this runs for every request)
        moved = np.frombuffer(delta.sent, dtype=np.float64) + self.master_time(0.0)
        offset_ms = None if self.offset_s is None else round(self.offset_s * 1000.0, 3)
        return replace(delta, sent=moved.tobytes(), clock_offset_ms=offset_ms)
