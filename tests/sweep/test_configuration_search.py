"""The configuration-search generators against a synthetic server whose capacity is known in closed form."""

from __future__ import annotations

from harness.record.model import InstanceGroup
from harness.sweep.configuration_search import (
    Candidate,
    Outcome,
    SearchSpace,
    best_of,
    brute_next,
    pruned,
    quick_next,
)

HOST_CORES = 2
PER_CORE_RPS = 100.0


def measure(c: Candidate) -> Outcome:
    """A 2-core CPU-only server: capacity grows with the cores a configuration can use (instances x threads, at most
    the host's), batching adds 20 % per step; GPU kinds cannot be deployed."""
    if c.group.kind == "GPU":
        return Outcome(c, None, skipped=True)
    cores = min(c.group.count * (c.group.threads or 1), HOST_CORES)
    batching = 1.0 + 0.2 * (c.max_batch_size > 0) + 0.2 * ((c.queue_delay_us or 0) > 500)
    return Outcome(c, cores * PER_CORE_RPS * batching, server_cpu_cores=cores * 0.99)


def run(next_fn, space: SearchSpace) -> list[Outcome]:  # type: ignore[no-untyped-def]
    outcomes: list[Outcome] = []
    while (c := next_fn(space, outcomes, HOST_CORES)) is not None:
        assert c not in {o.candidate for o in outcomes}, f"{c} proposed twice"
        outcomes.append(measure(c))
    return outcomes


def test_brute_measures_every_unpruned_configuration() -> None:
    space = SearchSpace()
    outcomes = run(brute_next, space)
    measured = {o.candidate for o in outcomes}
    every = space.all()
    assert measured <= set(every)
    for c in set(every) - measured:  # what was left out, each for a reason
        assert pruned(c, outcomes, HOST_CORES) is not None, c
    assert len(measured) < len(every)
    assert best_of(outcomes, "CPU").capacity_rps == HOST_CORES * PER_CORE_RPS * 1.4  # type: ignore[union-attr]
    assert best_of(outcomes, "GPU") is None


def test_quick_finds_the_brute_best_with_fewer_measurements() -> None:
    space = SearchSpace()
    quick, brute = run(quick_next, space), run(brute_next, space)
    assert best_of(quick, "CPU").capacity_rps == best_of(brute, "CPU").capacity_rps  # type: ignore[union-attr]
    assert len(quick) < len(brute) / 2


def test_a_skipped_kind_is_not_proposed_again() -> None:
    outcomes = run(quick_next, SearchSpace(kinds=("GPU", "CPU")))
    assert [o.candidate.group.kind for o in outcomes].count("GPU") == 1


def test_cpu_saturation_prunes_more_instances_with_the_same_threads() -> None:
    full = Candidate(InstanceGroup("CPU", 2, threads=1))
    outcomes = [Outcome(full, 200.0, server_cpu_cores=1.95)]
    reason = pruned(Candidate(InstanceGroup("CPU", 4, threads=1)), outcomes, HOST_CORES)
    assert reason is not None and "saturates the server CPU (1.95 of 2 cores)" in reason
    assert pruned(Candidate(InstanceGroup("CPU", 4, threads=2)), outcomes, HOST_CORES) is None
    assert pruned(Candidate(InstanceGroup("CPU", 4, threads=1), 8, 500), outcomes, HOST_CORES) is None
    assert (
        pruned(Candidate(InstanceGroup("CPU", 4, threads=1)), [Outcome(full, 200.0, server_cpu_cores=1.2)], HOST_CORES) is None
    )


def test_names_and_space() -> None:
    assert str(Candidate(InstanceGroup("CPU", 2, threads=4), 8, 500)) == "cpu:2x4 mbs8 db500us"
    assert str(Candidate(InstanceGroup("GPU", 1))) == "gpu:1"
    every = SearchSpace().all()
    assert len(every) == len(set(every))
    assert all(c.queue_delay_us is None for c in every if c.max_batch_size == 0)
    assert all(c.group.threads is None for c in every if c.group.kind == "GPU")


def test_pareto_front_keeps_only_the_undominated() -> None:
    from harness.record.model import SearchRow
    from harness.report.search_section import pareto_front

    rows = (
        SearchRow(1, "a", "CPU", 300.0, 20.0),
        SearchRow(2, "b", "CPU", 200.0, 10.0),
        SearchRow(3, "c", "CPU", 150.0, 30.0),
        SearchRow(4, "d", "GPU", None, None, skipped_reason="skipped"),
    )
    assert [r.configuration for r in pareto_front(rows)] == ["a", "b"]
