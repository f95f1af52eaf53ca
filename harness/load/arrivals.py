"""Open-loop arrival processes: how a level's rate is split over its senders, and what was actually sent.

A level asks for `rate` req/s from `n` senders (open-loop users, spread over any number of worker processes
and hosts). Sender i of n (a global index handed out by the master, not a per-process one) sends at rate/n:
- constant: every n/rate seconds, on a grid shifted by i/rate from a start instant common to all senders, so
  the merged stream is exactly one request every 1/rate seconds (not n requests at once every n/rate);
- poisson: exponential gaps from its own seed, derived from the run seed and i, so the n streams are
  independent and their merge is a Poisson process of the full rate (not n copies of one stream).
`merged_cv` measures the result from the actual send times: 0 for constant, 1 for Poisson.
Both engines (aio_engine.py, cpp/lean_engine.cc) produce these schedules bit for bit.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

from harness.errors import HarnessError

KINDS = ("constant", "poisson")
_SEED_STRIDE = 1_000_003  # a prime: (run seed, sender) pairs map to distinct seeds for any realistic count


class ZeroRateError(HarnessError):
    """An open-loop sender was asked for no rate: it would silently never send."""


def check_rate(rate_per_s: float) -> float:
    """The rate, or a one-line refusal: an open-loop user without a positive rate sends nothing at all."""
    if not rate_per_s > 0 or math.isinf(rate_per_s):
        raise ZeroRateError(
            f"open-loop users need a target rate above 0 req/s (got {rate_per_s:g}); "
            "set --target-rps (or the web form's target rate), or use the closed-loop user"
        )
    return rate_per_s


def sender_rate(total_rate: float, senders: int) -> float:
    """Each sender's share of the level's rate."""
    return check_rate(total_rate) / max(senders, 1)


def sender_phase_s(index: int, total_rate: float) -> float:
    """Sender i's offset from the common start: i gaps of the merged stream."""
    return index / check_rate(total_rate)


def sender_seed(run_seed: int, index: int) -> int:
    """Sender i's own seed: independent streams, the same ones again for the same run seed."""
    return run_seed * _SEED_STRIDE + index


def arrival_gaps(rate_per_s: float, kind: str, rng: random.Random) -> Iterator[float]:
    """Endless gaps (seconds) between intended send times; Poisson arrivals have exponential gaps."""
    if rate_per_s <= 0:
        raise ValueError("rate must be positive")
    mean_gap = 1.0 / rate_per_s
    if kind == "poisson":
        while True:
            yield rng.expovariate(rate_per_s)
    while True:
        yield mean_gap


def schedule(rate_per_s: float, kind: str, seed: int, count: int, phase_s: float = 0.0) -> list[float]:
    """The first `count` intended send times (seconds from the common start) of a seeded, phase-shifted schedule."""
    times, now = [], phase_s
    gaps = arrival_gaps(rate_per_s, kind, random.Random(seed))
    for _ in range(count):
        now += next(gaps)
        times.append(now)
    return times


def inter_arrival_cv(times: Sequence[float]) -> float | None:
    """Coefficient of variation (std / mean) of the gaps between sorted send times; None under 3 sends."""
    if len(times) < 3:
        return None
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    mean = sum(gaps) / len(gaps)
    if mean <= 0:
        return None
    variance = sum((g - mean) ** 2 for g in gaps) / len(gaps)
    return math.sqrt(variance) / mean


def merged_cv(per_process: Sequence[Sequence[float]]) -> float | None:
    """The merged stream's inter-arrival CV, from each process's actual send times (wall clock, seconds).

    Only the span every process covers counts: outside it some senders' sends are missing from the merge
    (their reports cut at other instants), which would show as gaps that were never there."""
    covered = [sorted(times) for times in per_process if len(times)]
    if not covered:
        return None
    start, end = max(t[0] for t in covered), min(t[-1] for t in covered)
    merged = sorted(x for times in covered for x in times if start <= x <= end)
    return inter_arrival_cv(merged)
