"""What saturated: the rules of harness.analysis.saturation on hand-built levels (2-core host, as here)."""

from __future__ import annotations

from dataclasses import replace

from harness.analysis.saturation import saturation, saturation_sentence
from harness.record.model import InstanceGroup
from helpers.factories import curve, level, run


def _curve(count: int, threads: int | None, *levels, kind: str = "CPU"):  # type: ignore[no-untyped-def]
    c = curve(kind, count, levels)  # type: ignore[arg-type]
    return replace(c, instance_group=InstanceGroup(kind, count, threads=threads))  # type: ignore[arg-type]


def test_cpu_bound_names_the_busiest_level_and_the_host_cores() -> None:
    c = _curve(
        2,
        None,
        level(1, 900.0, 5.0, server_cpu_cores=1.1),
        level(4, 1900.0, 30.0, server_cpu_cores=1.98),
        level(8, 1850.0, 90.0, server_cpu_cores=2.0),
    )
    assert saturation_sentence(run([c]), c) == (
        "cpu:2 reaches 1,900 req/s with the server at 1.98 of 2 cores: CPU-bound (read at the capacity level, concurrency 4)"
    )


def test_instance_bound_when_the_configuration_not_the_host_is_full() -> None:
    c = _curve(1, None, level(4, 500.0, 30.0, server_cpu_cores=0.97))
    found = saturation(c, host_cores=8)
    assert found is not None and found.verdict == "instance-bound"
    sentence = saturation_sentence(run([c], host={"cores": 8}), c)
    assert sentence == (
        "cpu:1 reaches 500 req/s with the server at 0.97 of 8 cores: "
        "bound by its 1 instance x 1 thread (instance-bound) (read at the capacity level, concurrency 4)"
    )


def test_threads_raise_what_the_configuration_may_use() -> None:
    c = _curve(1, 4, level(4, 500.0, 30.0, server_cpu_cores=0.97))
    assert saturation(c, host_cores=8).verdict == "not saturated"  # type: ignore[union-attr]
    c = _curve(1, 4, level(4, 500.0, 30.0, server_cpu_cores=3.7))
    assert saturation(c, host_cores=8).verdict == "instance-bound"  # type: ignore[union-attr]


def test_gpu_bound_before_cpu() -> None:
    c = _curve(1, None, level(4, 3000.0, 10.0, server_cpu_cores=1.0, gpu_utilization=0.95), kind="GPU")
    assert saturation(c, host_cores=2).verdict == "GPU-bound"  # type: ignore[union-attr]
    assert "GPU 95 % busy" in (saturation_sentence(run([c]), c) or "")


def test_client_bound_and_not_saturated() -> None:
    c = _curve(2, None, level(4, 300.0, 30.0, saturated=True, server_cpu_cores=0.5))
    assert saturation(c, host_cores=2).verdict == "client-bound"  # type: ignore[union-attr]
    c = _curve(2, None, level(4, 300.0, 30.0, server_cpu_cores=0.5))
    assert saturation(c, host_cores=2).verdict == "not saturated"  # type: ignore[union-attr]


def test_no_server_evidence_no_sentence() -> None:
    c = _curve(2, None, level(4, 300.0, 30.0))
    assert saturation(c, host_cores=2) is None and saturation_sentence(run([c]), c) is None


def test_an_unstable_busiest_level_is_not_the_one_read() -> None:
    """The busiest level is unstable (its windows disagreed): its figures are not evidence of the limit. The
    capacity level (the highest that meets the SLO, stable) is read instead, and the sentence says so."""
    c = _curve(
        2,
        None,
        level(2, 900.0, 20.0, server_cpu_cores=1.1),
        level(8, 1900.0, 120.0, server_cpu_cores=1.98, stable=False, spread=(-0.3, 0.0, 0.3)),
    )
    found = saturation(c, host_cores=2)
    assert found is not None and found.level.concurrency == 2 and found.read_at == "the capacity level"
    assert found.verdict == "not saturated"
    assert saturation_sentence(run([c]), c) == (
        "cpu:2 reaches 900 req/s with the server at 1.10 of 2 cores: not saturated (the server had CPU to spare) "
        "(read at the capacity level, concurrency 2)"
    )


def test_without_a_capacity_level_the_highest_stable_one() -> None:
    """Nothing meets the SLO (p99 over 100 ms everywhere): the highest stable level is read, not the unstable
    busier one."""
    c = _curve(
        2,
        None,
        level(4, 1500.0, 160.0, server_cpu_cores=1.9),
        level(8, 1900.0, 200.0, server_cpu_cores=1.2, stable=False, spread=(-0.3, 0.0, 0.3)),
    )
    assert c.capacity.max_rps_within_slo is None
    found = saturation(c, host_cores=2)
    assert found is not None and found.level.concurrency == 4 and found.read_at == "the highest stable level"
    assert saturation_sentence(run([c]), c) == (
        "cpu:2 reaches 1,500 req/s with the server at 1.90 of 2 cores: "
        "CPU-bound (read at the highest stable level, concurrency 4)"
    )


def test_no_stable_level_reads_the_busiest_and_says_it_is_unstable() -> None:
    c = _curve(
        2,
        None,
        level(4, 1500.0, 160.0, server_cpu_cores=1.9, stable=False),
        level(8, 1900.0, 200.0, server_cpu_cores=1.95, stable=False),
    )
    found = saturation(c, host_cores=2)
    assert found is not None and found.level.concurrency == 8 and found.read_at == "the busiest level, unstable"
    assert (saturation_sentence(run([c]), c) or "").endswith("CPU-bound (read at the busiest level, unstable, concurrency 8)")
