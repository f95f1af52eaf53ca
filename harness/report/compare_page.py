"""The compare page: several runs' curves overlaid on shared axes, the comparison and config-diff tables, the
verdict, and every run embedded. Self-contained; opens offline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.analysis.capacity import capacity_of, run_labels
from harness.analysis.compare import (
    CompareRow,
    compare_table,
    comparison_rows,
    config_diff,
    different_hosts,
    measured_curves,
)
from harness.analysis.plan import plan_lines
from harness.analysis.verdict import Verdict, verdict_table
from harness.errors import ConfigError
from harness.record.model import Run, Slo
from harness.record.store import EMBED_ID, embed_json, write_atomic
from harness.report import charts, html_page
from harness.report.run_page import with_models

_MIXED_SLOS = (
    "These runs were measured against different SLOs: each capacity below is within its own run's SLO. "
    "Give one SLO to recompute every capacity against it."
)


def write_compare(
    runs: Sequence[Run], path: Path, baseline: int = 0, slo: Slo | None = None, verdict: Verdict | None = None
) -> None:
    """Write the compare page to path, atomically."""
    write_atomic(Path(path), render_compare(runs, baseline, slo, verdict))


def render_compare(runs: Sequence[Run], baseline: int = 0, slo: Slo | None = None, verdict: Verdict | None = None) -> str:
    if not runs:
        raise ConfigError("no runs to compare; give run folders, run.json files or report.html pages")
    rows = comparison_rows(runs, baseline, slo)
    sections = [_header(runs, baseline, slo, verdict), _comparison(rows)]
    if verdict is not None:
        sections += ["<h2>Verdict per configuration</h2>", html_page.table(*verdict_table(verdict))]
    sections += html_page.figure_sections(_figures(runs, slo, slo or runs[baseline].slo))
    sections.append(_diff(runs))
    # Distinct ids: load_run refuses a compare page (it holds several runs) rather than pick one silently.
    sections += [embed_json(run, f"{EMBED_ID}-{i + 1}") for i, run in enumerate(runs)]
    return html_page.page(f"compare: {', '.join(run_labels(runs))}", sections)


def _header(runs: Sequence[Run], baseline: int, slo: Slo | None, verdict: Verdict | None) -> str:
    labels = run_labels(runs)
    parts = [
        f"<h1>Comparison of {len(runs)} runs</h1>",
        f'<p class="sub">{html_page.esc(", ".join(labels))} · SLO {html_page.esc(slo or runs[baseline].slo)} · '
        f"baseline {html_page.esc(labels[baseline])}</p>",
    ]
    if verdict is not None:
        parts.append(html_page.banner(verdict.sentence, "verdict"))
    parts += [html_page.banner(line, "info plan") for line in plan_lines(runs)]
    if slo is None and len({r.slo for r in runs}) > 1:
        parts.append(html_page.banner(_MIXED_SLOS, "warn"))
    if different_hosts(runs):
        parts.append(
            html_page.banner(
                "These runs come from different hosts (see host.* in the differences below): absolute numbers "
                "reflect the hardware as much as the configuration; compare with care.",
                "warn",
            )
        )
    skipped = [
        f"{labels[i]} {c.model} {c.instance_group}: skipped: {c.skipped_reason}"
        for i, r in enumerate(runs)
        for c in r.curves
        if c.skipped_reason
    ]
    if skipped:
        parts.append("<ul>" + "".join(f"<li>{html_page.esc(s)}</li>" for s in skipped) + "</ul>")
    return "\n".join(parts)


def _figures(runs: Sequence[Run], slo: Slo | None, shown_slo: Slo) -> list[tuple[str, charts.Figure]]:
    entries = [(e.label, e.curve, capacity_of(e.curve, slo)[1]) for e in measured_curves(runs)]
    series = with_models(entries, shown_slo)  # a mixed curve's models drawn beside it
    return [
        ("Throughput vs latency, all curves", charts.throughput_latency(series, shown_slo, log_toggle=True)),
        ("Latency vs load, all curves", charts.latency_vs_load(series)),
    ]


def _comparison(rows: list[CompareRow]) -> str:
    note = (
        "<p>Ratios are against the baseline curve. “within noise”: Welch's t-test on the levels' "
        "measurement windows finds no difference at 95 %.</p>"
    )
    return "<h2>Comparison</h2>\n" + html_page.table(*compare_table(rows)) + note


def _diff(runs: Sequence[Run]) -> str:
    rows = config_diff(runs)
    if not rows:
        return "<h2>Configuration differences</h2>\n<p>None: the runs' recorded configurations match.</p>"
    headers = ["setting", *run_labels(runs)]
    return "<h2>Configuration differences</h2>\n" + html_page.table(headers, [[r.key, *r.values] for r in rows], "text")
