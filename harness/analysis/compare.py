"""Comparing runs: capacity within an SLO, latency at a common throughput, whether a difference stands out
of the noise between measurement windows, and what differs in the runs' configurations.

Pure: no plotting, no file I/O."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.analysis.agreement import variant_note
from harness.analysis.capacity import capacity_of, curve_labels, run_labels
from harness.errors import ConfigError
from harness.record.model import Curve, Level, Run, Slo
from harness.textfmt import NONE, fmt_bound, fmt_num, fmt_ratio, fmt_share, percentile_name, text_table

WITHIN_NOISE = "within noise"
BASELINE = "baseline"
ABSENT = "-"
UNSTABLE_NOTE = "from an unstable level"
# Host facts that change the measured numbers; the hostname alone (a container id, often) does not.
HARDWARE_KEYS = ("cpu_model", "cores", "memory_gb", "gpu")
# Two-sided 95 % critical values of Student's t for 1..30 degrees of freedom.
# fmt: off
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
# fmt: on
_Z975 = 1.959964


@dataclass(frozen=True)
class MeasuredCurve:
    """A measured curve of one of the compared runs, with its unique display label."""

    run_index: int
    curve: Curve
    label: str


@dataclass(frozen=True)
class CompareRow:
    label: str
    run_index: int
    capacity_rps: float | None  # max throughput within the SLO
    capacity_at: str  # where: "concurrency 8", "500 req/s offered", or "" when never within the SLO
    percentile: str  # the latency percentile compared (the SLO's)
    common_rps: float | None  # the throughput every curve reached
    latency_ms: float | None  # the percentile at common_rps, interpolated; None when out of range
    avg_batch: float | None  # at the capacity level
    queue_share: float | None  # queue / (queue + compute) at the capacity level
    capacity_ratio: float | None  # vs the baseline curve
    latency_ratio: float | None
    capacity_note: str  # "baseline", "within noise", or ""
    latency_note: str
    capacity_unstable: bool = False  # the capacity was decided on an unstable level's worst window
    capacity_reached: bool | None = None  # False: a lower bound (the highest load measured still met the SLO)
    variant: str = ""  # a variant's note (harness.analysis.agreement.variant_note); "" for an original
    goodput_rps: float | None = None  # the most requests/s that succeeded within the SLO limit, at any level


@dataclass(frozen=True)
class DiffRow:
    key: str
    values: tuple[str, ...]  # one per run, ABSENT where the run lacks the key


def measured_curves(runs: Sequence[Run]) -> list[MeasuredCurve]:
    """Every curve with levels, labelled by harness.analysis.capacity.curve_labels."""
    return [MeasuredCurve(i, c, label) for i, c, label in curve_labels(runs) if c.skipped_reason is None and c.levels]


def load_label(level: Level) -> str:
    """Where a level sits on its sweep: 'concurrency 8' or '500 req/s offered'."""
    if level.mode == "rate":
        return f"{fmt_num(level.offered_rps)} req/s offered"
    return f"concurrency {level.concurrency}"


def common_throughput(curves: Sequence[Curve]) -> float | None:
    """The largest throughput every curve reached: the smallest of the curves' maxima."""
    maxima = [max(lv.achieved_rps for lv in c.levels) for c in curves if c.levels]
    return min(maxima) if maxima else None


def latency_at(curve: Curve, rps: float, percentile: str) -> float | None:
    """The percentile at throughput rps, linear between the two levels (in sweep order) that first bracket it.

    Sweep order matters: past saturation throughput can fall while latency climbs, and the first crossing is
    the one on the rising part of the curve. None when rps is below the first level."""
    points = [(lv.achieved_rps, lv.latency_ms.get(percentile)) for lv in curve.levels]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 == rps:
            return y0
        if x0 < rps <= x1:
            return y0 + (y1 - y0) * (rps - x0) / (x1 - x0)
    last_x, last_y = points[-1]
    return last_y if last_x == rps else None


def differs_significantly(a: Level, b: Level, metric: Literal["rps", "p99"]) -> bool | None:
    """Whether two levels differ in throughput ("rps") or p99 beyond the noise between their windows.

    Rule: Welch's two-sided t-test at 95 % on the per-window values (Window.achieved_rps or Window.p99_ms),
    which does not assume equal variances or equal window counts. Degrees of freedom by Welch-Satterthwaite,
    rounded down (conservative); critical t from a table up to 30 df, above it the Cornish-Fisher expansion
    z + (z^3 + z) / (4 df) + (5z^5 + 16z^3 + 3z) / (96 df^2), within 0.001 of the exact value. Two
    noiseless sides differ when their means differ. None when either level has fewer than 2 windows: there is
    no noise estimate."""
    if len(a.windows) < 2 or len(b.windows) < 2:
        return None
    field = "achieved_rps" if metric == "rps" else "p99_ms"
    return _welch_differs([getattr(w, field) for w in a.windows], [getattr(w, field) for w in b.windows])


def _welch_differs(xs: list[float], ys: list[float]) -> bool:
    va, vb = statistics.variance(xs) / len(xs), statistics.variance(ys) / len(ys)
    diff = abs(statistics.fmean(xs) - statistics.fmean(ys))
    if va + vb == 0:
        return diff > 0
    df = (va + vb) ** 2 / (va**2 / (len(xs) - 1) + vb**2 / (len(ys) - 1))
    return diff / math.sqrt(va + vb) > t_critical_95(df)


def t_critical_95(df: float) -> float:
    if df > len(_T95):
        z = _Z975
        return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
    return _T95[max(1, math.floor(df)) - 1]


@dataclass(frozen=True)
class _Stats:
    capacity: float | None
    unstable: bool  # the capacity comes from an unstable level
    reached: bool | None  # False: a lower bound
    level: Level | None  # the capacity level
    latency: float | None  # at the common throughput
    near: Level | None  # the level nearest the common throughput, for the noise test


def comparison_rows(runs: Sequence[Run], baseline: int = 0, slo: Slo | None = None) -> list[CompareRow]:
    """One row per measured curve, each set against the baseline: the first measured curve of runs[baseline].

    With slo, capacities are recomputed from the levels; without, each curve's recorded capacity is used.
    Latencies are the percentile of slo (else of the baseline run's SLO) at the common throughput."""
    if not 0 <= baseline < len(runs):
        raise ConfigError(f"baseline {baseline} is out of range for {len(runs)} runs; use 0..{len(runs) - 1}")
    entries = measured_curves(runs)
    base = next((e for e in entries if e.run_index == baseline), None)
    if base is None:
        raise ConfigError(f"baseline run {run_labels(runs)[baseline]} has no measured curve; choose another baseline")
    percentile = (slo or runs[baseline].slo).percentile
    common = common_throughput([e.curve for e in entries])
    base_stats = _stats(base.curve, slo, common, percentile)
    return [
        dataclasses.replace(
            _row(e, _stats(e.curve, slo, common, percentile), base_stats, e is base, percentile, common),
            goodput_rps=peak_goodput(e.curve, runs[e.run_index].slo, slo),
        )
        for e in entries
    ]


def peak_goodput(curve: Curve, recorded: Slo, slo: Slo | None = None) -> float | None:
    """The most requests per second the curve served that succeeded within the SLO limit, at any of its levels.
    None where the levels did not record goodput (older runs), or where slo's limit is not the one they were
    counted against (recorded): goodput is counted from histograms that runs do not keep, never re-derived."""
    if slo is not None and slo.limit_ms != recorded.limit_ms:
        return None
    return max((lv.goodput_rps for lv in curve.levels if lv.goodput_rps is not None), default=None)


def _stats(curve: Curve, slo: Slo | None, common: float | None, percentile: str) -> _Stats:
    cap, level = capacity_of(curve, slo)
    capacity, unstable = cap.max_rps_within_slo, cap.from_unstable
    if common is None:
        return _Stats(capacity, unstable, cap.reached, level, None, None)
    near = min(curve.levels, key=lambda lv: abs(lv.achieved_rps - common))
    return _Stats(capacity, unstable, cap.reached, level, latency_at(curve, common, percentile), near)


def _row(entry: MeasuredCurve, s: _Stats, b: _Stats, is_base: bool, percentile: str, common: float | None) -> CompareRow:
    server = s.level.server_us if s.level else None
    return CompareRow(
        label=entry.label,
        run_index=entry.run_index,
        capacity_rps=s.capacity,
        capacity_at=load_label(s.level) if s.level else "",
        percentile=percentile,
        common_rps=common,
        latency_ms=s.latency,
        avg_batch=s.level.avg_batch if s.level else None,
        queue_share=server.queue / (server.queue + server.compute) if server and server.queue + server.compute else None,
        capacity_ratio=_ratio(s.capacity, b.capacity),
        latency_ratio=_ratio(s.latency, b.latency),
        capacity_note=BASELINE if is_base else _noise_note(s.level, b.level, "rps"),
        # Windows carry p99 only: other percentiles get no noise verdict rather than a borrowed one.
        latency_note=BASELINE if is_base else _noise_note(s.near, b.near, "p99") if percentile == "p99" else "",
        capacity_unstable=s.unstable,
        capacity_reached=s.reached,
        variant=variant_note(entry.curve.variant),
    )


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


def _noise_note(a: Level | None, b: Level | None, metric: Literal["rps", "p99"]) -> str:
    if a is None or b is None:
        return ""
    return WITHIN_NOISE if differs_significantly(a, b, metric) is False else ""


def compare_table(rows: Sequence[CompareRow]) -> tuple[list[str], list[list[str]]]:
    """Headers and text cells of the comparison table, shared by the terminal and the HTML page."""
    percentile = percentile_name(rows[0].percentile) if rows else "p99"
    common = fmt_num(rows[0].common_rps) if rows else NONE
    headers = [
        "curve",
        "capacity req/s",
        "at",
        "vs baseline",
        f"{percentile} ms @ {common} req/s",
        "vs baseline",
        "avg batch",
        "queue share",
        "max goodput req/s",
    ]
    cells = [
        [
            r.label,
            fmt_bound(r.capacity_rps, r.capacity_reached),
            f"{r.capacity_at} ({UNSTABLE_NOTE})" if r.capacity_unstable else r.capacity_at or NONE,
            _vs(r.capacity_ratio, r.capacity_note),
            fmt_num(r.latency_ms),
            _vs(r.latency_ratio, r.latency_note),
            fmt_num(r.avg_batch),
            fmt_share(r.queue_share),
            fmt_num(r.goodput_rps),
        ]
        for r in rows
    ]
    if any(r.variant for r in rows):  # variants compared: each beside its agreement with the original
        headers.insert(1, "variant (agreement)")
        for r, row in zip(rows, cells, strict=True):
            row.insert(1, r.variant or "original")
    return headers, cells


def _vs(ratio: float | None, note: str) -> str:
    if note == BASELINE:
        return BASELINE
    return f"{fmt_ratio(ratio)} ({note})" if note and ratio is not None else fmt_ratio(ratio)


def format_table(rows: Sequence[CompareRow]) -> str:
    """The comparison as plain aligned text for the terminal."""
    return text_table(*compare_table(rows)) if rows else "no measured curves to compare"


def config_diff(runs: Sequence[Run]) -> list[DiffRow]:
    """The settings that differ between runs: metadata (label, versions, host, settings, SLO), which curves
    were measured, and per curve (matched across runs by instance group and batch size) the model, batching
    and the effective model config flattened to dotted keys. A curve missing from a run shows once, in its
    'curve ...' row, not again in every one of its config keys."""
    keyed: list[list[tuple[str, Curve]]] = [[] for _ in runs]
    for i, curve, key in curve_labels(runs, with_run=False):  # matched across runs by the same label
        keyed[i].append((key, curve))
    general = _differing([_general_items(r, k) for r, k in zip(runs, keyed, strict=True)], absence_differs=True)
    return general + _differing([_curve_items(k) for k in keyed], absence_differs=False)


def different_hosts(runs: Sequence[Run]) -> bool:
    """Whether the runs were measured on different hardware (HARDWARE_KEYS of metadata.host)."""
    return len({tuple(str(r.metadata.host.get(k)) for k in HARDWARE_KEYS) for r in runs}) > 1


def _differing(tables: list[dict[str, str]], absence_differs: bool) -> list[DiffRow]:
    rows = []
    for key in dict.fromkeys(k for table in tables for k in table):
        values = [table.get(key) for table in tables]
        distinct = set(values) if absence_differs else {v for v in values if v is not None}
        if len(distinct) > 1:
            rows.append(DiffRow(key, tuple(ABSENT if v is None else v for v in values)))
    return rows


def _general_items(run: Run, keyed: list[tuple[str, Curve]]) -> dict[str, str]:
    md = run.metadata
    items = {
        "label": md.label,
        "harness_version": md.harness_version,
        "git_revision": md.git_revision,
        "triton_version": md.triton_version,
        "slo": str(run.slo),
    }
    for prefix, values in (("versions", md.versions), ("host", md.host), ("settings", md.settings)):
        items.update(_flatten(prefix, values))
    for key, curve in keyed:
        items[f"curve {key}"] = f"skipped: {curve.skipped_reason}" if curve.skipped_reason else "measured"
    return items


def _curve_items(keyed: list[tuple[str, Curve]]) -> dict[str, str]:
    items: dict[str, str] = {}
    for key, c in keyed:
        items |= {
            f"{key}.model": c.model,
            f"{key}.max_batch_size": _text(c.max_batch_size),
            f"{key}.dynamic_batching": _text(c.dynamic_batching),
        }
        items.update(_flatten(f"{key}.model_config", c.model_config))
    return items


def _flatten(prefix: str, value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flatten(f"{prefix}.{key}", item).items()}
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        return {k: v for i, item in enumerate(value) for k, v in _flatten(f"{prefix}.{i}", item).items()}
    return {prefix: _text(value)}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
