"""Comparisons pinned where mutation testing (scripts/mutation.py) found them unguarded: the rows and the table
as users read them, the noise test at its edges (Welch near its threshold, the critical values), interpolation."""

from __future__ import annotations

import dataclasses
import math

import pytest

from harness.analysis.compare import (
    CompareRow,
    common_throughput,
    compare_table,
    comparison_rows,
    config_diff,
    differs_significantly,
    format_table,
    latency_at,
    load_label,
    t_critical_95,
)
from harness.record.model import ServerTimes, Slo, Window
from helpers.factories import curve, level, run, sweep


def _base():  # noqa: ANN202
    return run([curve("CPU", 1, sweep([(1, 100.0, 10.0), (2, 200.0, 20.0), (4, 300.0, 150.0)]))], label="base")


def _other():  # noqa: ANN202
    return run(
        [
            curve(
                "CPU",
                1,
                [level(1, 150.0, 10.0), level(2, 201.0, 30.0, spread=(-0.05, 0.0, 0.05)), level(4, 250.0, 90.0, stable=False)],
            )
        ],
        label="other",
    )


def test_rows_against_the_baseline_exactly() -> None:
    """Capacities 200 (concurrency 2) and 247.5 (an unstable level's worst window); common throughput 250, where
    the base interpolates 20 + (150 - 20) * 50/100 = 85 ms and the other reaches 90 ms; queue share q/(q+c)."""
    base, other = comparison_rows([_base(), _other()])
    assert base == CompareRow(
        label="base cpu:1",
        run_index=0,
        capacity_rps=200.0,
        capacity_at="concurrency 2",
        percentile="p99",
        common_rps=250.0,
        latency_ms=85.0,
        avg_batch=1.0,
        queue_share=4000 / (4000 + 50 + 6000 + 20),
        capacity_ratio=1.0,
        latency_ratio=1.0,
        capacity_note="baseline",
        latency_note="baseline",
        capacity_unstable=False,
        capacity_reached=True,  # concurrency 4 breaks the SLO
    )
    assert other == CompareRow(
        label="other cpu:1",
        run_index=1,
        capacity_rps=247.5,
        capacity_at="concurrency 4",
        percentile="p99",
        common_rps=250.0,
        latency_ms=90.0,
        avg_batch=1.0,
        queue_share=18000 / (18000 + 50 + 27000 + 20),
        capacity_ratio=247.5 / 200.0,
        latency_ratio=90.0 / 85.0,
        capacity_note="",
        latency_note="",
        capacity_unstable=True,
        capacity_reached=False,  # its highest load met the SLO, throughput still growing (201 -> 247.5)
    )


def test_the_table_as_users_read_it() -> None:
    headers, cells = compare_table(comparison_rows([_base(), _other()]))
    assert headers == [
        "curve",
        "capacity req/s",
        "at",
        "vs baseline",
        "p99 ms @ 250 req/s",
        "vs baseline",
        "avg batch",
        "queue share",
        "max goodput req/s",
    ]
    assert cells == [  # runs without goodput (written before it): "-"
        ["base cpu:1", "200", "concurrency 2", "baseline", "85", "baseline", "1", "40%", "-"],
        ["other cpu:1", "at least 248", "concurrency 4 (from an unstable level)", "1.24x", "90", "1.06x", "1", "40%", "-"],
    ]
    assert compare_table([])[0] == [
        "curve",
        "capacity req/s",
        "at",
        "vs baseline",
        "p99 ms @ - req/s",
        "vs baseline",
        "avg batch",
        "queue share",
        "max goodput req/s",
    ]
    assert compare_table([])[1] == []
    assert format_table([]) == "no measured curves to compare"


def test_within_noise_is_judged_on_the_metric_each_column_shows() -> None:
    """Throughput windows 191..211 against 198..202 overlap (within noise); their p99 windows 57..63 against
    19.8..20.2 do not: the capacity column says so, and a non-p99 latency column gets no noise note at all."""
    noisy = run([curve("CPU", 1, [level(2, 201.0, 60.0, spread=(-0.05, 0.0, 0.05))])], label="noisy")
    base = run([curve("CPU", 1, [level(2, 200.0, 20.0)])], label="base")
    _, row = comparison_rows([base, noisy])
    assert (row.capacity_note, row.latency_note) == ("within noise", "")
    assert compare_table([row])[1][0][3] == "1.00x (within noise)"
    same = run([curve("CPU", 1, [level(2, 200.0, 20.0, spread=(-0.05, 0.0, 0.05))])], label="same")
    _, p99_row = comparison_rows([base, same])
    assert p99_row.latency_note == "within noise"
    _, p50_row = comparison_rows([base, same], slo=Slo("p50", 100.0))
    assert (p50_row.percentile, p50_row.latency_note) == ("p50", "")


def test_a_level_without_windows_gets_no_noise_note_in_either_direction() -> None:
    bare = dataclasses.replace(level(2, 201.0, 20.0), windows=())
    base = run([curve("CPU", 1, [level(2, 200.0, 20.0)])], label="base")
    _, row = comparison_rows([base, run([curve("CPU", 1, [bare])], label="bare")])
    assert (row.capacity_note, row.latency_note) == ("", "")
    _, reverse = comparison_rows([run([curve("CPU", 1, [bare])], label="bare"), base])
    assert reverse.capacity_note == ""


def test_load_labels() -> None:
    assert load_label(level(None, 120.0, 10.0, mode="rate", offered=125.0)) == "125 req/s offered"
    assert load_label(level(8, 120.0, 10.0)) == "concurrency 8"


def test_interpolation_edges() -> None:
    single = curve("CPU", 1, [level(1, 100.0, 10.0)])
    assert latency_at(single, 100.0, "p99") == 10.0 and latency_at(single, 90.0, "p99") is None
    two = curve("CPU", 1, sweep([(1, 100.0, 10.0), (2, 200.0, 30.0)]))
    assert latency_at(two, 200.0, "p99") == 30.0 and latency_at(two, 250.0, "p99") is None
    assert common_throughput([]) is None and common_throughput([curve("GPU", 1, skipped="no GPU")]) is None


# --- the noise test ----------------------------------------------------------------------------------------------


def _windows_level(values: list[float]):  # noqa: ANN202
    return dataclasses.replace(level(1, 100.0, 10.0), windows=tuple(Window(v, 10.0, 100, 1.0) for v in values))


def test_two_windows_a_side_are_enough_one_is_not() -> None:
    assert differs_significantly(_windows_level([100.0, 101.0]), _windows_level([100.5, 100.2]), "rps") is False
    assert differs_significantly(_windows_level([100.0]), _windows_level([100.5, 100.2]), "rps") is None
    assert differs_significantly(_windows_level([100.0, 101.0]), _windows_level([100.5]), "rps") is None


def test_noiseless_sides_differ_exactly_when_their_means_do() -> None:
    assert differs_significantly(_windows_level([100.0] * 3), _windows_level([100.0] * 3), "rps") is False
    assert differs_significantly(_windows_level([100.0] * 3), _windows_level([100.5] * 3), "rps") is True


@pytest.mark.parametrize(
    ("xs", "ys", "differs"),
    [
        # near the 95 % threshold, where a wrong Welch-Satterthwaite df flips the answer (found by search)
        ([90.4, 103.0, 90.2, 107.6], [115.6, 124.1, 116.8], True),
        ([105.9, 98.3, 93.5], [111.5, 116.1, 115.2, 106.2, 108.2], False),
        ([96.8, 94.5, 109.3, 90.8, 93.7], [118.8, 112.4, 122.6, 102.4, 98.0], True),
        ([103.0, 90.8, 90.2], [124.5, 103.9, 112.9], False),
        ([97.9, 93.4, 100.0, 109.6, 105.4], [111.2, 120.8, 102.0, 110.4, 123.6], True),
    ],
)
def test_welch_near_its_threshold(xs: list[float], ys: list[float], differs: bool) -> None:
    assert differs_significantly(_windows_level(xs), _windows_level(ys), "rps") is differs


def test_critical_values_from_the_table_then_cornish_fisher() -> None:
    """t(0.975, df): the table to 30 df (t(30) = 2.042 as tabled), above it the documented expansion, within 1e-4
    of the exact quantiles (2.039513 at 31, 2.021075 at 40, 2.000298 at 60, 1.979930 at 120)."""
    assert (t_critical_95(1), t_critical_95(1.7), t_critical_95(30)) == (12.706, 12.706, 2.042)
    z = 1.959964
    for df, exact in ((31, 2.039513), (40, 2.021075), (60, 2.000298), (120, 1.979930)):
        expansion = z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        assert t_critical_95(df) == pytest.approx(expansion, abs=1e-12)
        assert math.isclose(t_critical_95(df), exact, abs_tol=1e-4)


# --- what differs between runs -----------------------------------------------------------------------------------


def test_config_diff_names_versions_slo_and_batching_that_differ() -> None:
    one = run([curve("CPU", 1, [level(1, 100.0, 10.0)])], label="a", harness_version="0.1.0", git_revision="abc")
    changed = dataclasses.replace(curve("CPU", 1, [level(1, 100.0, 10.0)]), max_batch_size=4, dynamic_batching=False)
    two = run([changed], label="b", harness_version="0.2.0", git_revision="def", slo=Slo("p99", 50.0))
    rows = {row.key: row.values for row in config_diff([one, two])}
    assert rows["label"] == ("a", "b") and rows["harness_version"] == ("0.1.0", "0.2.0")
    assert rows["git_revision"] == ("abc", "def") and rows["slo"] == ("p99 <= 100 ms", "p99 <= 50 ms")
    assert rows["cpu:1.max_batch_size"] == ("8", "4") and rows["cpu:1.dynamic_batching"] == ("true", "false")


def test_a_curve_without_capacity_or_server_times_and_one_without_levels() -> None:
    base = run([curve("CPU", 1, [level(2, 200.0, 20.0)])], label="base")
    too_slow = dataclasses.replace(level(2, 150.0, 300.0), server_us=ServerTimes(0.0, 0.0, 0.0, 0.0, 0.0))
    other = run([curve("CPU", 1, [too_slow]), curve("CPU", 4, [])], label="slow")
    rows = comparison_rows([base, other])
    assert [r.label for r in rows] == ["base cpu:1", "slow cpu:1"]  # cpu:4 has no levels: not compared
    slow = rows[1]
    assert (slow.capacity_rps, slow.capacity_at, slow.avg_batch, slow.capacity_note) == (None, "", None, "")
    assert rows[0].queue_share is not None
    zero = comparison_rows(
        [run([curve("CPU", 1, [dataclasses.replace(level(2, 200.0, 20.0), server_us=ServerTimes(0.0, 0.0, 0.0, 0.0, 0.0))])])]
    )
    assert zero[0].queue_share is None


def test_the_latency_header_names_the_percentile_compared() -> None:
    rows = comparison_rows([_base(), _other()], slo=Slo("p50", 100.0))
    assert compare_table(rows)[0][4] == "p50 ms @ 250 req/s"


def test_config_diff_names_a_skipped_curve_and_list_items_by_index() -> None:
    one = run([curve("CPU", 1, [level(1, 100.0, 10.0)]), curve("GPU", 1, [level(1, 300.0, 5.0)])], label="a")
    two = run(
        [
            dataclasses.replace(
                curve("CPU", 1, [level(1, 100.0, 10.0)]), model_config={"instance_group": [{"kind": "KIND_CPU", "count": 3}]}
            ),
            curve("GPU", 1, skipped="no GPU"),
        ],
        label="b",
    )
    rows = {row.key: row.values for row in config_diff([one, two])}
    assert rows["curve gpu:1"] == ("measured", "skipped: no GPU")
    assert rows["cpu:1.model_config.instance_group.0.count"] == ("1", "3")


def test_a_queue_as_long_as_the_compute_is_half_the_time() -> None:
    """queue = compute (1000 us each): the queue share is exactly one half, not undefined."""
    lv = dataclasses.replace(level(1, 100.0, 10.0), server_us=ServerTimes(1000.0, 100.0, 800.0, 100.0, 2100.0))
    (row,) = comparison_rows([run([curve("CPU", 1, [lv])])])
    assert row.queue_share == 0.5
