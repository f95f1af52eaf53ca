from __future__ import annotations

import dataclasses

import pytest

from harness.analysis.compare import (
    WITHIN_NOISE,
    common_throughput,
    comparison_rows,
    config_diff,
    different_hosts,
    differs_significantly,
    format_table,
    latency_at,
    peak_goodput,
    t_critical_95,
)
from harness.errors import ConfigError
from harness.record.model import ServerTimes, Slo, Window
from helpers.factories import curve, level, run, sweep

SLO = Slo("p99", 100.0)
SERVER = ServerTimes(queue=300.0, compute_input=50.0, compute_infer=600.0, compute_output=50.0)  # queue share 0.3


def _baseline_curve():
    # capacity within p99 <= 100: 300 req/s at concurrency 4; maximum reached 320 req/s
    return curve(
        "CPU",
        1,
        sweep([(1, 100.0, 10.0), (2, 200.0, 20.0)])
        + (level(4, 300.0, 60.0, server_us=SERVER, avg_batch=1.5), level(8, 320.0, 150.0)),
    )


def _faster_curve():
    # capacity 450 req/s at concurrency 8; passes 320 req/s between (280, 12 ms) and (400, 30 ms)
    return curve("CPU", 2, sweep([(1, 150.0, 8.0), (2, 280.0, 12.0), (4, 400.0, 30.0), (8, 450.0, 90.0), (16, 460.0, 200.0)]))


def test_comparison_rows_hand_checked() -> None:
    rows = comparison_rows([run([_baseline_curve(), _faster_curve()], label="a")])
    base, fast = rows
    assert (base.label, fast.label) == ("cpu:1", "cpu:2")
    assert (base.capacity_rps, base.capacity_at, fast.capacity_rps, fast.capacity_at) == (
        300.0,
        "concurrency 4",
        450.0,
        "concurrency 8",
    )
    assert base.common_rps == fast.common_rps == 320.0  # the largest throughput both curves reached
    assert base.latency_ms == 150.0  # the baseline's own last level
    assert fast.latency_ms == pytest.approx(12.0 + (30.0 - 12.0) * (320.0 - 280.0) / (400.0 - 280.0))  # 18 ms
    assert fast.capacity_ratio == pytest.approx(1.5)
    assert fast.latency_ratio == pytest.approx(18.0 / 150.0)
    assert (base.avg_batch, base.queue_share) == (1.5, pytest.approx(0.3))
    assert (base.capacity_note, fast.capacity_note) == ("baseline", "")  # 300 vs 450 req/s: beyond noise


def test_a_given_slo_recomputes_capacity_from_the_levels() -> None:
    rows = comparison_rows([run([_baseline_curve(), _faster_curve()])], slo=Slo("p99", 50.0))
    assert [r.capacity_rps for r in rows] == [200.0, 400.0]
    assert rows[1].capacity_ratio == pytest.approx(2.0)


def test_a_repeat_run_within_noise_says_so() -> None:
    again = curve(
        "CPU",
        1,
        sweep([(1, 100.5, 10.1), (2, 201.0, 20.1)])
        + (level(4, 301.0, 60.2, spread=(0.01, -0.01, 0.0)), level(8, 321.0, 150.5)),
    )
    rows = comparison_rows([run([_baseline_curve()], label="a"), run([again], label="b")])
    assert (rows[1].capacity_note, rows[1].latency_note) == (WITHIN_NOISE, WITHIN_NOISE)
    assert "1.00x (within noise)" in format_table(rows)


def test_format_table_aligns_one_line_per_curve() -> None:
    text = format_table(comparison_rows([run([_baseline_curve(), _faster_curve()], label="a")]))
    lines = text.splitlines()
    assert len(lines) == 4 and "p99 ms @ 320 req/s" in lines[0]
    assert lines[2].startswith("cpu:1 ") and lines[2].split()[-2:] == ["30%", "-"]  # no goodput recorded: "-"
    assert lines[3].startswith("cpu:2 ") and "1.50x" in lines[3]


def test_peak_goodput_is_the_best_level_counted_against_the_same_limit() -> None:
    """Goodput is counted from histograms a run does not keep: a comparison at another SLO limit cannot re-derive it
    and says so (None, "-"); the percentile does not enter goodput, so another percentile at the same limit keeps it."""
    levels = (level(1, 100.0, 10.0, goodput_rps=99.0), level(2, 200.0, 90.0, goodput_rps=150.0), level(4, 250.0, 300.0))
    rows = comparison_rows([run([curve("CPU", 1, levels)])])
    assert rows[0].goodput_rps == 150.0
    assert format_table(rows).splitlines()[2].split()[-1] == "150"
    assert comparison_rows([run([curve("CPU", 1, levels)])], slo=Slo("p50", 100.0))[0].goodput_rps == 150.0
    assert comparison_rows([run([curve("CPU", 1, levels)])], slo=Slo("p99", 50.0))[0].goodput_rps is None
    assert peak_goodput(curve("CPU", 1, levels[2:]), Slo("p99", 100.0)) is None  # recorded before goodput


def test_latency_at_interpolates_on_the_first_crossing() -> None:
    c = curve("CPU", 1, sweep([(1, 100.0, 10.0), (2, 200.0, 20.0), (4, 180.0, 50.0), (8, 250.0, 80.0)]))
    assert latency_at(c, 190.0, "p99") == pytest.approx(19.0)  # rising part, not the post-saturation dip
    assert latency_at(c, 200.0, "p99") == 20.0
    assert latency_at(c, 250.0, "p99") == 80.0
    assert latency_at(c, 50.0, "p99") is None  # below the first level
    assert latency_at(c, 150.0, "p50") == pytest.approx(7.5)  # factory p50 = p99 / 2
    assert common_throughput([c, _baseline_curve()]) == 250.0


def _windows(values: list[float]) -> tuple[Window, ...]:
    return tuple(Window(achieved_rps=v, p99_ms=v / 10, requests=100, duration_s=10.0) for v in values)


def test_significance_rule() -> None:
    a = level(4, 12.0, 1.0, windows=_windows([10.0, 12.0, 14.0]))
    far = level(4, 22.0, 1.0, windows=_windows([20.0, 22.0, 24.0]))  # t = 6.12 > 2.776 (df 4)
    near = level(4, 13.0, 1.0, windows=_windows([11.0, 15.0, 13.0]))  # t = 0.61
    single = level(4, 13.0, 1.0, windows=_windows([13.0]))
    assert differs_significantly(a, far, "rps") is True
    assert differs_significantly(a, far, "p99") is True
    assert differs_significantly(a, near, "rps") is False
    assert differs_significantly(a, single, "rps") is None
    assert differs_significantly(a, dataclasses.replace(a, windows=()), "p99") is None


def test_t_critical_values() -> None:
    assert t_critical_95(4) == 2.776
    assert t_critical_95(4.9) == 2.776  # rounded down: conservative
    assert t_critical_95(0.5) == 12.706
    assert t_critical_95(31) == pytest.approx(2.0395, abs=0.0005)
    assert t_critical_95(1e6) == pytest.approx(1.960, abs=0.001)


def test_baseline_must_exist_and_have_a_measured_curve() -> None:
    with pytest.raises(ConfigError, match="out of range"):
        comparison_rows([run([_baseline_curve()])], baseline=1)
    with pytest.raises(ConfigError, match="has no measured curve"):
        comparison_rows([run([curve("GPU", 1, skipped="no GPU")], label="g"), run([_baseline_curve()])])


def test_config_diff_lists_only_what_differs() -> None:
    a = run([_baseline_curve()], label="a")
    config = a.curves[0].model_config | {"dynamic_batching": {"max_queue_delay_microseconds": 500}}
    b = run(
        [dataclasses.replace(_baseline_curve(), model_config=config), curve("GPU", 1, skipped="no GPU")],
        label="b",
        triton_version="2.52.0",
        versions=a.metadata.versions | {"torch": "2.5.0"},
        settings=a.metadata.settings | {"window_s": 20},
    )
    rows = {r.key: r.values for r in config_diff([a, b])}
    assert rows == {
        "label": ("a", "b"),
        "triton_version": ("2.51.0", "2.52.0"),
        "versions.torch": ("2.4.0", "2.5.0"),
        "settings.window_s": ("10", "20"),
        "curve gpu:1": ("-", "skipped: no GPU"),
        "cpu:1.model_config.dynamic_batching.max_queue_delay_microseconds": ("100", "500"),
    }


def test_different_hosts_looks_at_hardware_not_hostname() -> None:
    a = run([_baseline_curve()])
    renamed = run([_baseline_curve()], host=a.metadata.host | {"hostname": "container-42"})
    other = run([_baseline_curve()], host=a.metadata.host | {"cpu_model": "Other CPU"})
    assert not different_hosts([a, renamed])
    assert different_hosts([a, other])
    assert ("host.cpu_model", ("Test CPU @ 2.0GHz", "Other CPU")) in [(r.key, r.values) for r in config_diff([a, other])]
