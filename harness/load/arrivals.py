"""Open-loop arrival schedules: inter-arrival gaps for a rate, constant or Poisson, seeded and reproducible."""

from __future__ import annotations

import random
from typing import Iterator


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


def schedule(rate_per_s: float, kind: str, seed: int, count: int) -> list[float]:
    """The first `count` intended send times (seconds from start) of a seeded schedule."""
    times, now = [], 0.0
    gaps = arrival_gaps(rate_per_s, kind, random.Random(seed))
    for _ in range(count):
        now += next(gaps)
        times.append(now)
    return times
