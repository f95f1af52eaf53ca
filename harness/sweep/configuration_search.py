"""Configuration search, the generator side (pure): which deployment to measure next, given what was measured.

Model Analyzer's shape: a generator proposes, a measurement answers, the generator reacts. Two generators over the
same space (instance kind and count, threads per CPU instance, max_batch_size, dynamic batching and its queue
delay):
  brute  every configuration of the space, smallest first, skipping the pruned ones;
  quick  a hill climb per instance kind: start at the smallest configuration, step one dimension up from the best
         so far, stop when no untried neighbour of the best is left (the caller also stops at its time budget).
Both prune with what a measurement already says: a CPU configuration that saturates the server's CPU (>= 90 % of
the host's cores) at some instance count needs no bigger count with the same threads and batching, and a kind
the server cannot run (a GPU kind on a GPU-less server) is not proposed again.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from harness.record.model import InstanceGroup

SATURATED = 0.9


@dataclass(frozen=True)
class Candidate:
    """One deployment of the model. max_batch_size 0 with dynamic batching off is 'no batching'."""

    group: InstanceGroup
    max_batch_size: int = 0
    queue_delay_us: int | None = None  # None: dynamic batching off

    def __str__(self) -> str:
        batching = f" mbs{self.max_batch_size}" if self.max_batch_size else ""
        delay = f" db{self.queue_delay_us}us" if self.queue_delay_us is not None else ""
        return f"{self.group}{batching}{delay}"


@dataclass(frozen=True)
class Outcome:
    """What measuring a candidate said: capacity within the SLO (None: none), server CPU where saturation reads it."""

    candidate: Candidate
    capacity_rps: float | None
    server_cpu_cores: float | None = None
    skipped: bool = False  # the server could not deploy it (e.g. no GPU)


@dataclass(frozen=True)
class SearchSpace:
    kinds: tuple[str, ...] = ("CPU", "GPU")
    counts: tuple[int, ...] = (1, 2, 4)
    threads: tuple[int, ...] = (1, 2)
    max_batch_sizes: tuple[int, ...] = (0, 8, 32)
    queue_delays_us: tuple[int | None, ...] = (None, 500, 2000)

    def all(self) -> list[Candidate]:
        """Every configuration, smallest first (count, then threads, then batching)."""
        found = []
        for kind, count, threads, mbs, delay in itertools.product(
            self.kinds, self.counts, self.threads, self.max_batch_sizes, self.queue_delays_us
        ):
            if kind == "GPU" and threads != self.threads[0]:
                continue  # threads are a CPU setting
            if mbs == 0 and delay is not None:
                continue  # a batching delay without a batch dimension
            found.append(_candidate(kind, count, None if kind == "GPU" else threads, mbs, delay))
        return found

    def start(self, kind: str) -> Candidate:
        return _candidate(
            kind,
            self.counts[0],
            None if kind == "GPU" else self.threads[0],
            self.max_batch_sizes[0],
            self.queue_delays_us[0] if self.max_batch_sizes[0] else None,
        )

    def neighbours(self, c: Candidate) -> list[Candidate]:
        """One step up along each dimension: more instances, more threads, a bigger batch, a longer delay."""
        steps = []
        if (count := _next(self.counts, c.group.count)) is not None:
            steps.append(replace(c, group=replace(c.group, count=count)))
        if c.group.kind == "CPU" and (threads := _next(self.threads, c.group.threads)) is not None:
            steps.append(replace(c, group=replace(c.group, threads=threads)))
        if (mbs := _next(self.max_batch_sizes, c.max_batch_size)) is not None:
            steps.append(replace(c, max_batch_size=mbs, queue_delay_us=c.queue_delay_us or self._first_delay()))
        if c.max_batch_size and (delay := _next(self.queue_delays_us, c.queue_delay_us)) is not None:
            steps.append(replace(c, queue_delay_us=delay))
        return steps

    def _first_delay(self) -> int | None:
        return next((d for d in self.queue_delays_us if d is not None), None)


def pruned(c: Candidate, outcomes: Sequence[Outcome], host_cores: int | None) -> str | None:
    """Why measuring `c` would teach nothing new, or None."""
    for o in outcomes:
        if o.skipped and o.candidate.group.kind == c.group.kind:
            return f"{c.group.kind} configurations cannot be deployed here ({o.candidate} was skipped)"
        same_but_count = replace(o.candidate, group=replace(o.candidate.group, count=c.group.count))
        if (
            c.group.kind == "CPU"
            and host_cores
            and o.server_cpu_cores is not None
            and o.server_cpu_cores >= SATURATED * host_cores
            and same_but_count == c
            and c.group.count > o.candidate.group.count
        ):
            return (
                f"{o.candidate} already saturates the server CPU ({o.server_cpu_cores:.2f} of {host_cores} "
                "cores): more instances with the same threads cannot add capacity"
            )
    return None


def brute_next(space: SearchSpace, outcomes: Sequence[Outcome], host_cores: int | None) -> Candidate | None:
    tried = {o.candidate for o in outcomes}
    return next((c for c in space.all() if c not in tried and pruned(c, outcomes, host_cores) is None), None)


def quick_next(space: SearchSpace, outcomes: Sequence[Outcome], host_cores: int | None) -> Candidate | None:
    """The next step of the hill climb, kind by kind; None when every kind's best has no untried neighbour."""
    tried = {o.candidate for o in outcomes}
    for kind in space.kinds:
        mine = [o for o in outcomes if o.candidate.group.kind == kind]
        if not mine:
            return space.start(kind)
        if any(o.skipped for o in mine):
            continue
        best = max(mine, key=lambda o: o.capacity_rps or 0.0)
        for step in space.neighbours(best.candidate):
            if step not in tried and pruned(step, outcomes, host_cores) is None:
                return step
    return None


def ranked(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Measured outcomes, highest capacity within the SLO first (no capacity last)."""
    return sorted((o for o in outcomes if not o.skipped), key=lambda o: -(o.capacity_rps or 0.0))


def best_of(outcomes: Sequence[Outcome], kind: str) -> Outcome | None:
    mine = [o for o in ranked(outcomes) if o.candidate.group.kind == kind and o.capacity_rps]
    return mine[0] if mine else None


def _candidate(kind: str, count: int, threads: int | None, mbs: int, delay: int | None) -> Candidate:
    return Candidate(InstanceGroup("GPU" if kind == "GPU" else "CPU", count, threads=threads), mbs, delay if mbs else None)


def _next(values: Sequence[int | None], current: int | None) -> int | None:
    """The value after `current` in `values` (None when current is the last or absent)."""
    try:
        index = list(values).index(current)
    except ValueError:
        return None
    return values[index + 1] if index + 1 < len(values) else None
