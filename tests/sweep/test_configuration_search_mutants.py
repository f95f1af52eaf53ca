"""The configuration space and its generators pinned exactly where mutation testing (scripts/mutation.py) found them
unguarded: the full enumeration of a small space, the start and the neighbours of a configuration, each pruning
rule at its edge, a skipped kind, configurations without a capacity. Expected lists are written out by hand."""

from __future__ import annotations

from harness.record.model import InstanceGroup
from harness.sweep.configuration_search import (
    SATURATED,
    Candidate,
    Outcome,
    SearchSpace,
    best_of,
    brute_next,
    pruned,
    quick_next,
    ranked,
)

SMALL = SearchSpace(kinds=("CPU", "GPU"), counts=(1, 2), threads=(1, 2), max_batch_sizes=(0, 8), queue_delays_us=(None, 500))
FULL = SearchSpace()  # counts 1, 2, 4; threads 1, 2; batch 0, 8, 32; delays off, 500, 2000 us


def cpu(count: int, threads: int | None = 1, mbs: int = 0, delay: int | None = None) -> Candidate:
    return Candidate(InstanceGroup("CPU", count, threads=threads), mbs, delay)


def gpu(count: int, mbs: int = 0, delay: int | None = None) -> Candidate:
    return Candidate(InstanceGroup("GPU", count), mbs, delay)


def names(candidates: list[Candidate]) -> list[str]:
    return [str(c) for c in candidates]


def test_every_configuration_of_a_small_space_smallest_first() -> None:
    """Threads only for CPU kinds (one GPU entry per count and batching); no delay without a batch dimension."""
    assert names(SMALL.all()) == [
        "cpu:1x1",
        "cpu:1x1 mbs8",
        "cpu:1x1 mbs8 db500us",
        "cpu:1x2",
        "cpu:1x2 mbs8",
        "cpu:1x2 mbs8 db500us",
        "cpu:2x1",
        "cpu:2x1 mbs8",
        "cpu:2x1 mbs8 db500us",
        "cpu:2x2",
        "cpu:2x2 mbs8",
        "cpu:2x2 mbs8 db500us",
        "gpu:1",
        "gpu:1 mbs8",
        "gpu:1 mbs8 db500us",
        "gpu:2",
        "gpu:2 mbs8",
        "gpu:2 mbs8 db500us",
    ]
    assert all(c.group.threads is None for c in SMALL.all() if c.group.kind == "GPU")


def test_the_start_is_the_first_value_of_every_dimension() -> None:
    space = SearchSpace(counts=(2, 4), threads=(2, 4), max_batch_sizes=(8, 32), queue_delays_us=(500, 2000))
    assert space.start("CPU") == cpu(2, 2, 8, 500)
    assert space.start("GPU") == gpu(2, 8, 500)
    unbatched = SearchSpace(counts=(2, 4), threads=(2, 4), max_batch_sizes=(0, 8), queue_delays_us=(500, 2000))
    assert unbatched.start("CPU") == cpu(2, 2)  # no batch dimension: no queue delay either


def test_neighbours_step_one_dimension_up_each() -> None:
    assert FULL.neighbours(cpu(1)) == [cpu(2), cpu(1, 2), cpu(1, 1, 8, 500)]
    assert FULL.neighbours(cpu(1, 1, 8, 500)) == [cpu(2, 1, 8, 500), cpu(1, 2, 8, 500), cpu(1, 1, 32, 500), cpu(1, 1, 8, 2000)]
    assert FULL.neighbours(gpu(1)) == [gpu(2), gpu(1, 8, 500)]  # no threads step for a GPU
    assert FULL.neighbours(cpu(4, 2, 32, 2000)) == []  # the top of every dimension


def test_batching_without_any_delay_in_the_space_steps_with_none() -> None:
    space = SearchSpace(counts=(1,), threads=(1,), max_batch_sizes=(0, 8), queue_delays_us=(None,))
    assert space.neighbours(cpu(1)) == [cpu(1, 1, 8, None)]


def test_a_skipped_kind_prunes_that_kind_only() -> None:
    outcomes = [Outcome(gpu(1), None, skipped=True)]
    assert pruned(gpu(2), outcomes, 2) is not None
    assert pruned(cpu(1), outcomes, 2) is None


def test_saturation_prunes_bigger_counts_from_exactly_the_threshold() -> None:
    host_cores = 2
    at = [Outcome(cpu(1), 100.0, server_cpu_cores=SATURATED * host_cores)]
    assert pruned(cpu(2), at, host_cores) is not None
    assert pruned(cpu(1), at, host_cores) is None  # the measured configuration itself is not "bigger"
    below = [Outcome(cpu(1), 100.0, server_cpu_cores=SATURATED * host_cores - 0.01)]
    assert pruned(cpu(2), below, host_cores) is None


def test_brute_force_skips_what_saturation_pruned() -> None:
    space = SearchSpace(kinds=("CPU",), counts=(1, 2), threads=(1,), max_batch_sizes=(0,), queue_delays_us=(None,))
    assert brute_next(space, [Outcome(cpu(1), 100.0, server_cpu_cores=2.0)], host_cores=2) is None
    assert brute_next(space, [Outcome(cpu(1), 100.0, server_cpu_cores=1.0)], host_cores=2) == cpu(2)


def test_the_hill_climb_moves_past_a_kind_that_cannot_be_deployed() -> None:
    space = SearchSpace(kinds=("GPU", "CPU"), counts=(1, 2), threads=(1,), max_batch_sizes=(0,), queue_delays_us=(None,))
    assert quick_next(space, [Outcome(gpu(1), None, skipped=True)], host_cores=2) == cpu(1)


def test_a_configuration_without_capacity_is_never_the_best() -> None:
    """A capacity of 0.5 req/s still beats none within the SLO: climb from it, rank it first."""
    space = SearchSpace(kinds=("CPU",), counts=(1, 2), threads=(1, 2), max_batch_sizes=(0,), queue_delays_us=(None,))
    none, some = Outcome(cpu(1, 2), None), Outcome(cpu(1), 0.5)
    assert quick_next(space, [none, some], host_cores=None) == cpu(2)  # from cpu:1x1, not from cpu:1x2
    assert ranked([none, some]) == [some, none]


def test_the_best_of_a_kind_is_its_highest_capacity() -> None:
    outcomes = [Outcome(cpu(1), 100.0), Outcome(cpu(2), 180.0), Outcome(gpu(1), 500.0)]
    assert best_of(outcomes, "CPU") == outcomes[1]
    assert best_of(outcomes, "GPU") == outcomes[2]


def test_a_gpu_configuration_appears_once_whatever_the_thread_choices() -> None:
    """Threads do not apply to a GPU: one entry per count and batching, with one thread value or three."""
    one = SearchSpace(kinds=("GPU",), counts=(1,), threads=(1,), max_batch_sizes=(0,), queue_delays_us=(None,))
    three = SearchSpace(kinds=("GPU",), counts=(1,), threads=(1, 2, 4), max_batch_sizes=(0,), queue_delays_us=(None,))
    assert one.all() == [gpu(1)] == three.all()
