"""Plotly figures of curves, for the run report and the compare page: the only module that imports plotly."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from harness.analysis.compare import load_label
from harness.record.model import PERCENTILES, Curve, Level, PlanResult, Slo
from harness.textfmt import fmt_num, percentile_name

HEIGHT = 520
GREY = "#8a8a8a"
MARKER_KEY = (
    "● stable level &nbsp; ○ grey edge: unstable (windows disagree) &nbsp; "
    "✕ client-saturated (load generator was the limit) &nbsp; ☆ capacity within the SLO &nbsp; "
    "◆ rate-search probe &nbsp; ○ dotted: goodput (requests/s that succeeded within the SLO limit)"
)
SERVER_PARTS = (
    ("queue", "queue"),
    ("compute_input", "compute input"),
    ("compute_infer", "compute infer"),
    ("compute_output", "compute output"),
)

Figure = go.Figure
Trace = tuple[go.Scatter, dict[str, list[float]]]  # a trace and its y for every percentile


@dataclass(frozen=True)
class Series:
    """One curve as drawn: its legend label, colour, and the level marked as its capacity."""

    label: str
    curve: Curve
    capacity: Level | None
    color: str


def palette(n: int) -> list[str]:
    colors = qualitative.Plotly
    return [colors[i % len(colors)] for i in range(n)]


def throughput_latency(series: Sequence[Series], slo: Slo, log_toggle: bool = False) -> go.Figure:
    """Latency (selectable percentile) against achieved throughput, one trace per curve, SLO as a line."""
    traces = [t for s in series for t in _curve_traces(s)] + [_slo_trace(series, slo)]
    for trace, ys in traces:  # start on the SLO's percentile, so the SLO line applies to what is drawn
        trace.y = ys[slo.percentile]
    fig = go.Figure([trace for trace, _ in traces])
    log_latency = slo_off_scale(series, slo)
    menus = [_percentile_menu(traces, slo.percentile)] + ([_log_menu(log_latency)] if log_toggle else [])
    fig.update_layout(
        **_base_layout(top=60, bottom=110),
        xaxis_title="achieved throughput (req/s)",
        yaxis_title=f"{percentile_name(slo.percentile)} latency (ms)",
        yaxis_type="log" if log_latency else "linear",
        updatemenus=menus,
        annotations=[_note(MARKER_KEY, y=-0.2)],
    )
    return fig


# An SLO this many times above the highest latency drawn would flatten the curves against the axis on a linear scale.
SLO_OFF_SCALE = 4.0


def slo_off_scale(series: Sequence[Series], slo: Slo) -> bool:
    """Whether the SLO line sits far above every level's SLO percentile: the latency axis then starts on a log scale,
    where the curves' bend and the SLO line both show (p99 of 2-6 ms under a 100 ms SLO was a flat line)."""
    highest = max((lv.latency_ms.get(slo.percentile) for s in series for lv in s.curve.levels), default=0.0)
    return highest > 0 and slo.limit_ms > SLO_OFF_SCALE * highest


def _base_layout(top: int = 40, bottom: int = 60) -> dict[str, Any]:
    """Shared look; margins kept small, as the page gives every chart its own heading."""
    margin = {"t": top, "b": bottom}
    return {"template": "plotly_white", "height": HEIGHT, "hovermode": "closest", "margin": margin}


def _note(text: str, y: float) -> dict[str, Any]:
    return {
        "text": text,
        "xref": "paper",
        "yref": "paper",
        "x": 0,
        "y": y,
        "xanchor": "left",
        "showarrow": False,
        "font": {"size": 12, "color": "#555"},
    }


def _ys(levels: Sequence[Level]) -> dict[str, list[float]]:
    return {p: [lv.latency_ms.get(p) for lv in levels] for p in PERCENTILES}


def _curve_traces(s: Series) -> list[Trace]:
    levels = s.curve.levels
    main = go.Scatter(
        x=[lv.achieved_rps for lv in levels],
        name=s.label,
        legendgroup=s.label,
        mode="lines+markers",
        line={"color": s.color, "width": 2},
        marker=_level_markers(levels, s.color),
        text=[hover_text(lv, s.curve) for lv in levels],
        hovertemplate=f"%{{text}}<extra>{html.escape(s.label)}</extra>",
    )
    traces: list[Trace] = []
    if s.capacity is not None:  # drawn before the curve, so the level's own marker (an X, say) stays visible
        star = {"symbol": "star-open", "size": 24, "line": {"width": 2}}
        traces.append((_extra(s, (s.capacity,), "capacity within the SLO", star), _ys((s.capacity,))))
    if s.curve.probes:
        probe = {"symbol": "diamond", "size": 6}
        traces.append((_extra(s, s.curve.probes, "rate-search probe", probe), _ys(s.curve.probes)))
    if good := [lv for lv in levels if lv.goodput_rps is not None]:
        traces.append((_goodput_trace(s, good, [lv.goodput_rps or 0.0 for lv in good]), _ys(good)))
    return [*traces, (main, _ys(levels))]


def _goodput_trace(s: Series, levels: Sequence[Level], x: list[float], y: list[float] | None = None) -> go.Scatter:
    """A curve's goodput, dotted beside its throughput: at x (the levels' goodput on a throughput axis, y then set
    by the percentile menu) or goodput as y against x (the offered rate)."""
    return go.Scatter(
        x=x,
        y=y,
        name=f"{s.label} goodput",
        legendgroup=s.label,
        mode="lines+markers",
        line={"color": s.color, "width": 1, "dash": "dot"},
        marker={"symbol": "circle-open", "size": 7, "color": s.color},
        text=["<b>goodput</b><br>" + hover_text(lv, s.curve) for lv in levels],
        hovertemplate=f"%{{text}}<extra>{html.escape(s.label)}</extra>",
    )


def _extra(s: Series, levels: Sequence[Level], what: str, marker: dict[str, Any], x: list[float] | None = None) -> go.Scatter:
    """Markers that belong to a curve's legend entry but add no entry of their own (x: achieved rps unless given)."""
    return go.Scatter(
        x=[lv.achieved_rps for lv in levels] if x is None else x,
        mode="markers",
        legendgroup=s.label,
        showlegend=False,
        name=f"{s.label} {what}",
        marker={"color": s.color, "opacity": 0.9, **marker},
        text=[f"<b>{what}</b><br>" + hover_text(lv, s.curve) for lv in levels],
        hovertemplate=f"%{{text}}<extra>{html.escape(s.label)}</extra>",
    )


def _level_markers(levels: Sequence[Level], color: str) -> dict[str, Any]:
    """Per point: filled circle when stable, hollow grey-edged when unstable, an X when client-saturated."""
    symbols = ["x" if lv.client_saturated else "circle" for lv in levels]
    fills = [GREY if lv.client_saturated and not lv.stable else "white" if not lv.stable else color for lv in levels]
    edges = [GREY if not lv.stable else color for lv in levels]
    return {"symbol": symbols, "size": 10, "color": fills, "line": {"color": edges, "width": 2}}


def _slo_trace(series: Sequence[Series], slo: Slo) -> Trace:
    """The SLO as a line trace, not a layout shape: shapes take log10 coordinates on log axes."""
    levels = [lv for s in series for lv in (*s.curve.levels, *s.curve.probes)]
    xs = [x for lv in levels for x in (lv.achieved_rps, lv.goodput_rps) if x]
    span = [min(xs) * 0.9, max(xs) * 1.05] if xs else [0.0, 1.0]
    trace = go.Scatter(
        x=span,
        y=[slo.limit_ms] * 2,
        mode="lines",
        name=f"SLO {percentile_name(slo.percentile)} <= {slo.limit_ms:g} ms",
        line={"color": "#c0392b", "dash": "dash", "width": 1.5},
        hoverinfo="name",
    )
    return trace, {p: [slo.limit_ms] * 2 for p in PERCENTILES}


def _percentile_menu(traces: Sequence[Trace], active: str) -> dict[str, Any]:
    buttons = [
        {
            "label": percentile_name(p),
            "method": "update",
            "args": [{"y": [ys[p] for _, ys in traces]}, {"yaxis.title.text": f"{percentile_name(p)} latency (ms)"}],
        }
        for p in PERCENTILES
    ]
    return {
        "type": "buttons",
        "direction": "right",
        "buttons": buttons,
        "active": PERCENTILES.index(active),
        "x": 0,
        "xanchor": "left",
        "y": 1.02,
        "yanchor": "bottom",
        "showactive": True,
        "pad": {"r": 4},
    }


def _log_menu(log_latency: bool = False) -> dict[str, Any]:
    def axes(x: str, y: str) -> dict[str, str]:
        return {"xaxis.type": x, "yaxis.type": y}

    buttons = [
        {"label": "linear axes", "method": "relayout", "args": [axes("linear", "linear")]},
        {"label": "log latency", "method": "relayout", "args": [axes("linear", "log")]},
        {"label": "log axes", "method": "relayout", "args": [axes("log", "log")]},
    ]
    return {
        "type": "buttons",
        "direction": "right",
        "buttons": buttons,
        "active": 1 if log_latency else 0,
        "x": 1,
        "xanchor": "right",
        "y": 1.02,
        "yanchor": "bottom",
    }


def hover_text(level: Level, curve: Curve) -> str:
    """Every figure of a level, one topic per line, for the hover box."""
    lat, server = level.latency_ms, level.server_us
    lines = [
        f"<b>{load_label(level)}</b>",
        f"achieved {fmt_num(level.achieved_rps)} req/s, {fmt_num(level.achieved_ips)} inf/s (batch {curve.batch_size})"
        + ("" if level.goodput_rps is None else f" · goodput {fmt_num(level.goodput_rps)} req/s within the SLO limit"),
        " · ".join(f"{percentile_name(p)} {fmt_num(lat.get(p))}" for p in PERCENTILES) + " ms",
        f"mean {fmt_num(lat.mean)} · max {fmt_num(lat.max)} ms",
        f"requests {level.requests} · failures {level.failures} · avg batch {fmt_num(level.avg_batch)}",
    ]
    if server is not None:
        parts = " · ".join(f"{name} {fmt_num(getattr(server, field))}" for field, name in SERVER_PARTS)
        lines.append(f"server µs: {parts}")
    lines.append(f"client CPU {fmt_num(level.client_cpu_percent)} % · stable {'yes' if level.stable else 'no'}")
    if level.mode == "rate":
        lines.append(
            f"late sends {level.late_sends} · max send lag {fmt_num(level.max_send_lag_ms)} ms · dropped {level.dropped}"
        )
        if (lag := level.send_lag_us) is not None:
            lines.append(f"send lag µs: p50 {fmt_num(lag.p50)} · p99 {fmt_num(lag.p99)} · max {fmt_num(lag.max)}")
    if level.flags:
        lines.append("flags: " + html.escape(", ".join(level.flags)))
    if level.first_error:
        lines.append("first error: " + html.escape(level.first_error[:100]))
    return "<br>".join(lines)


def _load_x(level: Level) -> float | None:
    return level.offered_rps if level.mode == "rate" else level.concurrency


def _load_axis_title(series: Sequence[Series]) -> str:
    modes = {lv.mode for s in series for lv in s.curve.levels}
    if modes == {"rate"}:
        return "offered rate (req/s)"
    return "concurrency (requests in flight)" if modes == {"concurrency"} else "concurrency / offered rate (req/s)"


def latency_vs_load(series: Sequence[Series]) -> go.Figure:
    """p50 (dashed) and p99 (solid) against offered load: concurrency, or offered rate in rate mode."""
    fig = go.Figure()
    for s in series:
        x = [_load_x(lv) for lv in s.curve.levels]
        text = [hover_text(lv, s.curve) for lv in s.curve.levels]
        for percentile, dash in (("p99", "solid"), ("p50", "dash")):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[lv.latency_ms.get(percentile) for lv in s.curve.levels],
                    name=f"{s.label} {percentile}",
                    legendgroup=s.label,
                    mode="lines+markers",
                    line={"color": s.color, "dash": dash},
                    marker={"size": 7},
                    text=text,
                    hovertemplate=f"%{{text}}<extra>{html.escape(s.label)}</extra>",
                )
            )
    fig.update_layout(**_base_layout(), xaxis_title=_load_axis_title(series), yaxis_title="latency (ms)")
    return fig


def server_breakdown(series: Sequence[Series]) -> go.Figure | None:
    """Triton's per-request time split (queue, compute input/infer/output) as stacked bars, grouped per curve.

    None when no level carries server statistics (a remote server without its statistics endpoint)."""
    points = [(s.label, load_label(lv), lv.server_us) for s in series for lv in s.curve.levels if lv.server_us]
    if not points:
        return None
    x = [[label for label, _, _ in points], [load for _, load, _ in points]]
    fig = go.Figure(
        [
            go.Bar(
                x=x,
                y=[getattr(server, field) for _, _, server in points],
                name=name,
                hovertemplate=f"{name}: %{{y:.0f}} µs<extra>%{{x}}</extra>",
            )
            for field, name in SERVER_PARTS
        ]
    )
    fig.update_layout(**_base_layout(), barmode="stack", yaxis_title="server time per request (µs)")
    fig.update_xaxes(tickangle=-45)
    return fig


def rate_figure(series: Sequence[Series]) -> go.Figure | None:
    """Open-loop levels: achieved (and, dotted, goodput) against offered rate (the ideal diagonal, rate-search
    probes as diamonds), and the generator's max send lag with its late sends written on each point. None without
    rate-mode levels."""
    rated = [(s, sorted((lv for lv in s.curve.levels if lv.mode == "rate"), key=_offered)) for s in series]
    rated = [(s, levels) for s, levels in rated if levels]
    if not rated:
        return None
    fig = make_subplots(rows=1, cols=2, subplot_titles=("achieved vs offered rate", "load generator send lag"))
    for s, levels in rated:
        fig.add_trace(_rate_trace(s, levels, [lv.achieved_rps for lv in levels], s.label), row=1, col=1)
        lag = _rate_trace(s, levels, [lv.max_send_lag_ms for lv in levels], f"{s.label} send lag", showlegend=False)
        lag.update(
            mode="lines+markers+text",
            texttemplate=[f"{lv.late_sends} late" for lv in levels],
            textposition="top center",
        )
        fig.add_trace(lag, row=1, col=2)
        if good := [lv for lv in levels if lv.goodput_rps is not None]:
            goodput = _goodput_trace(s, good, [_offered(lv) for lv in good], [lv.goodput_rps or 0.0 for lv in good])
            fig.add_trace(goodput.update(showlegend=False), row=1, col=1)
        if probes := sorted((p for p in s.curve.probes if p.mode == "rate"), key=_offered):
            probe = _extra(s, probes, "rate-search probe", {"symbol": "diamond", "size": 7}, [_offered(p) for p in probes])
            fig.add_trace(probe.update(y=[p.achieved_rps for p in probes]), row=1, col=1)
    top = max(_offered(lv) for _, levels in rated for lv in levels)
    ideal = go.Scatter(x=[0, top], y=[0, top], mode="lines", name="achieved = offered", hoverinfo="skip")
    fig.add_trace(ideal.update(line={"color": GREY, "dash": "dot"}), row=1, col=1)
    fig.update_layout(**_base_layout(top=60))
    fig.update_xaxes(title_text="offered rate (req/s)")
    fig.update_yaxes(title_text="achieved (req/s)", row=1, col=1)
    fig.update_yaxes(title_text="max send lag (ms)", row=1, col=2)
    return fig


def _offered(level: Level) -> float:
    return level.offered_rps or 0.0


def _rate_trace(s: Series, levels: Sequence[Level], y: list[float], name: str, showlegend: bool = True) -> go.Scatter:
    return go.Scatter(
        x=[lv.offered_rps for lv in levels],
        y=y,
        name=name,
        legendgroup=s.label,
        showlegend=showlegend,
        mode="lines+markers",
        line={"color": s.color},
        customdata=[hover_text(lv, s.curve) for lv in levels],
        hovertemplate=f"%{{customdata}}<extra>{html.escape(s.label)}</extra>",
    )


UTILIZATION_PANELS = (
    ("server_cpu_cores", "server CPU (cores)", 1.0),
    ("gpu_utilization", "GPU utilisation (%)", 100.0),
    ("power_w", "GPU power (W)", 1.0),
)


def utilization_figure(series: Sequence[Series], host_cores: int | None = None) -> go.Figure | None:
    """Server utilisation against achieved throughput, one line per curve: where a curve flattens while its
    CPU (or GPU) is full, that resource is the limit. One panel per figure the server exposed; the host's cores
    as a dashed line on the CPU panel. None when no level carries server evidence."""
    panels = [p for p in UTILIZATION_PANELS if any(getattr(lv, p[0]) is not None for s in series for lv in s.curve.levels)]
    if not panels:
        return None
    fig = make_subplots(
        rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=[title for _, title, _ in panels]
    )
    for row, (field, title, scale) in enumerate(panels, start=1):
        for s in series:
            levels = sorted((lv for lv in s.curve.levels if getattr(lv, field) is not None), key=lambda lv: lv.achieved_rps)
            fig.add_trace(
                go.Scatter(
                    x=[lv.achieved_rps for lv in levels],
                    y=[getattr(lv, field) * scale for lv in levels],
                    mode="lines+markers",
                    name=s.label,
                    legendgroup=s.label,
                    showlegend=row == 1,
                    line={"color": s.color},
                    hovertemplate=f"{s.label}: %{{y:.2f}} at %{{x:.1f}} req/s<extra>{title}</extra>",
                ),
                row=row,
                col=1,
            )
        if field == "server_cpu_cores" and host_cores:
            fig.add_hline(
                y=host_cores,
                line_dash="dash",
                line_color=GREY,
                row=row,
                col=1,
                annotation_text=f"host: {host_cores} cores",
                annotation_position="top left",
            )
    fig.update_layout(**{**_base_layout(), "height": max(HEIGHT, 300 * len(panels))})
    fig.update_xaxes(title_text="achieved throughput (req/s)", row=len(panels), col=1)
    return fig


def latency_by_batch(rows: Sequence[Any]) -> go.Figure:
    """Median single-request latency against batch size, one line per (variant, path, device) (the precision in runs
    written before variants), the p90 as the upper error bar: the in-process line is the floor, the gap to the
    Triton line is what serving adds."""

    def line_of(r: Any) -> tuple[str, str, str]:
        return (r.variant or r.precision, r.path, r.device)

    keys = sorted({line_of(r) for r in rows if r.median_ms is not None})
    colors = palette(len(keys))
    traces = []
    for key, color in zip(keys, colors, strict=True):
        points = sorted((r for r in rows if line_of(r) == key and r.median_ms is not None), key=lambda r: r.batch_size)
        name = " ".join(key)
        traces.append(
            go.Scatter(
                x=[r.batch_size for r in points],
                y=[r.median_ms for r in points],
                mode="lines+markers",
                name=name,
                line={"color": color, "dash": "dot" if key[1] == "in-process" else "solid"},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [r.p90_ms - r.median_ms for r in points],
                    "arrayminus": [0.0] * len(points),
                },
                hovertemplate=f"{name}: median %{{y:.3f}} ms at batch %{{x}}<extra></extra>",
            )
        )
    fig = go.Figure(traces)
    fig.update_layout(**_base_layout(), xaxis_title="batch size", yaxis_title="single-request latency (ms)")
    fig.update_xaxes(type="log", dtick=0.30102999566)  # powers of two
    return fig


def plan_fleet(plan: PlanResult) -> go.Figure:
    """One panel per option: the traffic as a line, and under it the chosen fleet's predicted capacity within the
    SLO as bars stacked by configuration (replicas x one replica's capacity), step by step."""
    names = [o.option for o in plan.options]
    per_replica = {c.configuration: c.capacity_rps or 0.0 for c in plan.candidates}
    configurations = sorted({p.configuration for s in plan.steps for c in s.choices for p in c.parts})
    colors = dict(zip(configurations, palette(len(configurations)), strict=True))
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, subplot_titles=names, vertical_spacing=0.08)
    times, in_legend = [s.time for s in plan.steps], set()
    for row, name in enumerate(names, start=1):
        choices = [next(c for c in s.choices if c.option == name) for s in plan.steps]
        for configuration in configurations:
            replicas = [sum(p.replicas for p in c.parts if p.configuration == configuration) for c in choices]
            if any(replicas):
                bars = go.Bar(x=times, y=[n * per_replica[configuration] for n in replicas], name=configuration)
                bars.update(
                    legendgroup=configuration,
                    showlegend=configuration not in in_legend,  # once, where it is first drawn
                    marker={"color": colors[configuration]},
                    customdata=replicas,
                    hovertemplate=f"{html.escape(configuration)}: %{{customdata}} replicas, %{{y:.0f}} req/s<extra></extra>",
                )
                fig.add_trace(bars, row=row, col=1)
                in_legend.add(configuration)
        traffic = go.Scatter(x=times, y=[s.rps for s in plan.steps], name="traffic", mode="lines+markers")
        fig.add_trace(traffic.update(legendgroup="traffic", showlegend=row == 1, line={"color": "black"}), row=row, col=1)
        fig.update_yaxes(title_text="req/s", row=row, col=1)
    fig.update_layout(**_base_layout(top=60), barmode="stack")
    fig.update_layout(height=max(HEIGHT, 260 * len(names)))
    return fig


def prediction_check(plan: PlanResult) -> go.Figure | None:
    """Every held-out level: predicted against measured (SLO percentile, or req/s where the server fell behind),
    one colour per candidate, with the diagonal where a prediction is exact. None without held-out levels."""
    checked = [c for c in plan.candidates if c.held_out]
    if not checked:
        return None
    traces = []
    for c, color in zip(checked, palette(len(checked)), strict=True):
        points = go.Scatter(x=[h.measured for h in c.held_out], y=[h.predicted for h in c.held_out], name=c.configuration)
        points.update(
            mode="markers",
            marker={"color": color, "size": 9},
            customdata=[
                f"{h.load}: {h.metric} measured {fmt_num(h.measured)}, predicted {fmt_num(h.predicted)} "
                f"({h.error * 100:+.1f} %)"
                for h in c.held_out
            ],
            hovertemplate=f"%{{customdata}}<extra>{html.escape(c.configuration)}</extra>",
        )
        traces.append(points)
    top = max(max(h.measured, h.predicted) for c in checked for h in c.held_out)
    exact = go.Scatter(x=[0, top], y=[0, top], mode="lines", name="predicted = measured", hoverinfo="skip")
    fig = go.Figure([*traces, exact.update(line={"color": GREY, "dash": "dot"})])
    fig.update_layout(**_base_layout(), xaxis_title="measured", yaxis_title="predicted by a fit without that level")
    return fig
