"""The search section of a `harness search` run: configurations ranked by capacity within the SLO and by cost per
million requests, the Pareto front (throughput vs the SLO percentile), and the best CPU and GPU configuration."""

from __future__ import annotations

import plotly.graph_objects as go

from harness.record.model import Run, SearchResult, SearchRow
from harness.report import charts, html_page
from harness.textfmt import NONE, fmt_cost, fmt_num

HEADERS = ("rank", "configuration", "kind", "capacity req/s", "SLO percentile ms", "server CPU cores", "$/million req", "note")


def search_sections(run: Run) -> list[str]:
    result = run.search
    if result is None:
        return []
    best = (
        f"Best CPU configuration: {result.best_cpu or 'none within ' + str(run.slo)}; best GPU configuration: "
        f"{result.best_gpu or 'none within ' + str(run.slo)} ({result.mode} search, {len(result.configurations)} "
        f"configurations in {result.elapsed_s:.0f} s, ended: {result.stopped})."
    )
    sections = ["<h2>Configuration search</h2>", f'<p class="search-best">{html_page.esc(best)}</p>']
    sections.append(html_page.table(HEADERS, [_cells(r) for r in result.configurations], css_class="search"))
    priced = [r for r in result.configurations if r.cost_per_million is not None]
    if priced:
        by_cost = sorted(priced, key=lambda r: r.cost_per_million or 0.0)
        sections += [
            "<h3>By cost per million requests</h3>",
            html_page.table(HEADERS, [_cells(r) for r in by_cost], css_class="search-cost"),
        ]
    figure = pareto_figure(result, run.slo.percentile)
    if figure is not None:
        sections += html_page.figure_sections([("Pareto front: throughput vs " + run.slo.percentile, figure)])
    return sections


def pareto_front(rows: tuple[SearchRow, ...]) -> list[SearchRow]:
    """Configurations no other beats on both throughput (higher) and latency (lower)."""
    measured = [r for r in rows if r.capacity_rps and r.slo_latency_ms is not None]
    return [
        r
        for r in measured
        if not any(
            o is not r
            and (o.capacity_rps or 0) >= (r.capacity_rps or 0)
            and (o.slo_latency_ms or 0) <= (r.slo_latency_ms or 0)
            and ((o.capacity_rps or 0) > (r.capacity_rps or 0) or (o.slo_latency_ms or 0) < (r.slo_latency_ms or 0))
            for o in measured
        )
    ]


def pareto_figure(result: SearchResult, percentile: str) -> go.Figure | None:
    measured = [r for r in result.configurations if r.capacity_rps and r.slo_latency_ms is not None]
    if not measured:
        return None
    front = sorted(pareto_front(result.configurations), key=lambda r: r.capacity_rps or 0.0)
    colors = {"CPU": charts.palette(2)[0], "GPU": charts.palette(2)[1]}
    traces = [
        go.Scatter(
            x=[r.capacity_rps for r in measured if r.kind == kind],
            y=[r.slo_latency_ms for r in measured if r.kind == kind],
            text=[r.configuration for r in measured if r.kind == kind],
            mode="markers+text",
            textposition="top center",
            name=kind,
            marker={"color": colors[kind], "size": 10},
        )
        for kind in ("CPU", "GPU")
        if any(r.kind == kind for r in measured)
    ]
    traces.append(
        go.Scatter(
            x=[r.capacity_rps for r in front],
            y=[r.slo_latency_ms for r in front],
            mode="lines",
            name="Pareto front",
            line={"color": charts.GREY, "dash": "dash"},
        )
    )
    fig = go.Figure(traces)
    fig.update_layout(
        **charts._base_layout(), xaxis_title="capacity within the SLO (req/s)", yaxis_title=f"{percentile} at that load (ms)"
    )
    return fig


def _cells(r: SearchRow) -> list[str]:
    return [
        str(r.rank),
        r.configuration,
        r.kind,
        fmt_num(r.capacity_rps),
        fmt_num(r.slo_latency_ms),
        fmt_num(r.server_cpu_cores),
        fmt_cost(r.cost_per_million) if r.cost_per_million is not None else NONE,
        r.skipped_reason or "",
    ]
