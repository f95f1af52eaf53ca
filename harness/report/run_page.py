"""The report of one run: a self-contained HTML page (charts, capacities, metadata, the run itself embedded)
that opens offline and can be read back with run_store.load_run."""

from __future__ import annotations

import json
from pathlib import Path

from harness.analysis.agreement import variant_note
from harness.analysis.capacity import NOT_REACHED, capacity_of, capacity_text, curve_labels, model_curves, objectives_text
from harness.analysis.compare import load_label
from harness.analysis.saturation import saturation_sentence
from harness.analysis.verdict import example_fleet_sentence
from harness.defaults import PLAN_HEADROOM
from harness.record.model import Curve, Level, Run, Slo
from harness.record.store import embed_json, write_atomic
from harness.report import charts, html_page
from harness.report.latency_section import latency_sections
from harness.report.plan_section import plan_sections
from harness.report.search_section import search_sections
from harness.textfmt import fmt_num

LEVEL_HEADERS = (
    "load",
    "req/s",
    "inf/s",
    "goodput req/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "p99.9 ms",
    "mean ms",
    "max ms",
    "failures",
    "avg batch",
    "client CPU %",
    "stable",
    "flags",
    "arrivals CV (asked)",
    "late sends",
    "send lag us p50 / p99 / max",
    "failed checks",
)


def write_report(run: Run, path: Path) -> None:
    """Write the run's report to path, atomically (a reader never sees half a page)."""
    write_atomic(Path(path), render_report(run))


def render_report(run: Run) -> str:
    series = run_series(run)
    sections = [_header(run)]
    if series:
        sections += html_page.figure_sections(_figures(run, series))
        sections += ["<h2>Levels</h2>", *(_levels_table(s) for s in series)]
    elif not run.latency and run.plan is None:
        sections.append(html_page.banner("No level has been measured in this run yet.", "warn"))
    sections += latency_sections(run)
    sections += search_sections(run)
    sections += plan_sections(run, plotlyjs=not html_page.has_figures(sections))
    sections += [_metadata(run), _model_configs(run), embed_json(run)]
    return html_page.page(f"{run.metadata.model or 'run'} {run.metadata.label}".strip(), sections)


def curve_label(run: Run, curve: Curve) -> str:
    """Short label within one run (harness.analysis.capacity.curve_labels decides)."""
    return next(label for _, c, label in curve_labels([run]) if c is curve)


def run_series(run: Run) -> list[charts.Series]:
    measured = [c for c in run.curves if c.skipped_reason is None and c.levels]
    return with_models([(curve_label(run, c), c, capacity_of(c, None)[1]) for c in measured], run.slo)


def with_models(entries: list[tuple[str, Curve, Level | None]], slo: Slo) -> list[charts.Series]:
    """Each curve as a series and, after a mixed one (--mix), one series per model of it ("LABEL · MODEL"): the
    models' own curves beside the combined one, in every chart and levels table."""
    drawn: list[tuple[str, Curve, Level | None]] = []
    for label, curve, level in entries:
        drawn.append((label, curve, level))
        for model, alone in model_curves(curve, slo):
            drawn.append((f"{label} · {model}", alone, capacity_of(alone, None)[1]))
    colors = charts.palette(len(drawn))
    return [charts.Series(label, c, level, color) for (label, c, level), color in zip(drawn, colors, strict=True)]


def _figures(run: Run, series: list[charts.Series]) -> list[tuple[str, charts.Figure]]:
    figures = [
        ("Throughput vs latency", charts.throughput_latency(series, run.slo, log_toggle=True)),
        ("Latency vs load", charts.latency_vs_load(series)),
        ("Server time per request (Triton statistics)", charts.server_breakdown(series)),
        ("Open-loop levels: offered vs achieved rate", charts.rate_figure(series)),
        ("Server utilisation vs throughput", charts.utilization_figure(series, _host_cores(run))),
    ]
    return [(heading, fig) for heading, fig in figures if fig is not None]


def _host_cores(run: Run) -> int | None:
    cores = run.metadata.host.get("cores")
    return cores if isinstance(cores, int) else None


def _header(run: Run) -> str:
    md = run.metadata
    parts = [
        f"<h1>{html_page.esc(md.model or 'model')}: is a GPU necessary?</h1>",
        f'<p class="sub">run {html_page.esc(md.label or "(unlabelled)")} · SLO {html_page.esc(run.slo)} · '
        f"started {html_page.esc(md.started_at or '?')}</p>",
    ]
    if md.interrupted:
        parts.append(
            html_page.banner(
                f"This run was interrupted: {md.interrupted}. The levels below are the ones finished before it stopped.", "warn"
            )
        )
    elif not md.complete:
        parts.append(
            html_page.banner(
                "This run is incomplete: it is still running or was interrupted. "
                "The levels below are the ones finished so far.",
                "warn",
            )
        )
    items = [capacity_sentence(run, c) for c in run.curves]
    items += [why for c in run.curves if (why := saturation_sentence(run, c, curve_label(run, c)))]
    parts.append('<ul class="capacity">' + "".join(f"<li>{html_page.esc(i)}</li>" for i in items) + "</ul>")
    if (example := example_fleet_sentence(run, PLAN_HEADROOM)) is not None:
        parts.append(f'<p class="example-fleet">{html_page.esc(example)}</p>')
    if (no_gpu := no_gpu_note(run)) is not None:
        parts.append(html_page.banner(no_gpu, "warn gpu"))
    parts.append(html_page.banner(shared_host_note(run), "info"))
    if measured_gpu(run):
        parts.append(html_page.banner(GPU_UNVERIFIED, "warn gpu"))
    return "\n".join(parts)


def measured_gpu(run: Run) -> bool:
    """A measured GPU curve, or a GPU figure on any level: what the harness has never yet computed on a GPU."""
    return any(
        (curve.instance_group.kind == "GPU" and curve.levels)
        or any(getattr(level, name) is not None for level in curve.levels for name in _GPU_FIELDS)
        for curve in run.curves
    )


def capacity_sentence(run: Run, curve: Curve) -> str:
    """One line per curve: 'cpu:2 sustains 812 req/s within p99 <= 100 ms (at concurrency 8)', or 'at least 812'
    where the highest load measured still met the SLO."""
    label = curve_label(run, curve)
    if curve.skipped_reason is not None:
        return f"{label}: skipped: {curve.skipped_reason}"
    if not curve.levels:
        return f"{label}: no level measured"
    cap, level = capacity_of(curve, None)
    slo = objectives_text(run.slo, curve)
    if cap.max_rps_within_slo is None or level is None:
        return f"{label} does not meet {slo} at any level measured"
    unstable = "; from an unstable level, judged on its worst window" if cap.from_unstable else ""
    bound = f"; {NOT_REACHED}" if cap.reached is False else ""
    variant = f" [{variant_note(curve.variant)}]" if curve.variant else ""
    parts = "".join(  # a mix: each model's throughput and SLO percentile at that level
        f"; {model} {fmt_num(part.achieved_rps)} req/s, {(part.slo or run.slo).percentile} "
        f"{fmt_num(part.latency_ms.get((part.slo or run.slo).percentile))} ms"
        for model, part in level.models.items()
    )
    return f"{label} sustains {capacity_text(cap)} within {slo} (at {load_label(level)}{parts}{unstable}{bound}){variant}"


GPU_CHECK = "scripts/gpu_check.sh"
GPU_UNVERIFIED = (
    "Not yet verified on a GPU: GPU instance groups, GPU metrics (utilisation, memory, power, energy) and verdicts "
    "computed from a measured GPU curve have so far been tested only on machines without one (skipped, or against "
    f"fakes). Before relying on the GPU figures here, run {GPU_CHECK} on this machine (its output goes under "
    "results/gpu/) and commit it."
)
_GPU_FIELDS = ("gpu_utilization", "gpu_memory_mb", "power_w", "energy_j_per_1k")


def no_gpu_note(run: Run) -> str | None:
    """A run that measured no GPU says so plainly, with what would measure one: the question is 'is a GPU necessary?'
    (None for a run with a measured GPU curve, and for runs that measure no load curves, like `harness latency`)."""
    if not run.curves or any(c.instance_group.kind == "GPU" and c.levels for c in run.curves):
        return None
    skipped = [c.skipped_reason for c in run.curves if c.instance_group.kind == "GPU" and c.skipped_reason]
    why = f"the GPU instance group was skipped ({skipped[0]})" if skipped else "no GPU instance group was asked for"
    model = run.metadata.model or "MODEL"
    return (
        f"No GPU was measured in this run: {why}, so it says what CPUs sustain, not whether a GPU would do better. "
        f"On a machine with an NVIDIA GPU, `harness sweep --model {model} --instances cpu:1,gpu:1` measures both, "
        f"and `{GPU_CHECK}` runs the project's GPU check (its output goes under results/gpu/)."
    )


def shared_host_note(run: Run) -> str:
    host = run.metadata.host
    cores = host.get("cores", "an unknown number of")
    cpu = f" ({host['cpu_model']})" if host.get("cpu_model") else ""
    levels = [lv for c in run.curves for lv in c.levels]
    saturated = sum(lv.client_saturated for lv in levels)
    return (
        f"When the load generator and Triton share this host's {cores} cores{cpu}, they compete for them: CPU "
        "the Locust workers use is taken from the server, so CPU capacities measured this way are lower bounds. "
        "Levels where the load generator itself was the limit (worker CPU near 100 %, late sends, or achieved rate "
        f"well under offered) are flagged client-saturated and drawn with an X: {saturated} of {len(levels)} "
        "levels here." + _engine_note(run.metadata.settings.get("load_engine"))
    )


def _engine_note(engine: object) -> str:
    """Which load engine sent the requests: the Python fallback costs several times the compiled one's CPU."""
    if engine == "native":
        return " Requests were sent by the compiled load engine (gRPC C++)."
    if engine == "python":
        return (
            " Requests were sent by the Python load engine (the fallback where the compiled one could not be "
            "built): it spends several times more client CPU per request, so the server got less of it."
        )
    return ""


def _levels_table(series: charts.Series) -> str:
    rows = [
        [
            load_label(lv),
            fmt_num(lv.achieved_rps),
            fmt_num(lv.achieved_ips),
            fmt_num(lv.goodput_rps),
            *(fmt_num(lv.latency_ms.get(p)) for p in ("p50", "p90", "p99", "p999")),
            fmt_num(lv.latency_ms.mean),
            fmt_num(lv.latency_ms.max),
            lv.failures,
            fmt_num(lv.avg_batch),
            fmt_num(lv.client_cpu_percent),
            "yes" if lv.stable else "no",
            ", ".join(lv.flags),
            _arrivals_cell(lv),
            lv.late_sends if lv.mode == "rate" else "",
            " / ".join(fmt_num(v) for v in (lv.send_lag_us.p50, lv.send_lag_us.p99, lv.send_lag_us.max))
            if lv.send_lag_us
            else "",
            "; ".join(lv.inconsistent),
        ]
        for lv in series.curve.levels
    ]
    return html_page.details(f"{series.label}: {len(rows)} levels", html_page.table(LEVEL_HEADERS, rows))


def _arrivals_cell(level: Level) -> str:
    """The measured inter-arrival CV, with the asked one beside it where the run recorded it."""
    if level.asked_arrivals_cv is None:
        return fmt_num(level.arrivals_cv)
    return f"{fmt_num(level.arrivals_cv)} ({fmt_num(level.asked_arrivals_cv)})"


def _metadata(run: Run) -> str:
    md = run.metadata
    pairs: list[tuple[str, object]] = [
        ("harness version", md.harness_version),
        ("git revision", md.git_revision),
        ("Triton version", md.triton_version),
        ("SLO", run.slo),
        ("schema version", run.schema_version),
        *((f"host {k}", _value(v)) for k, v in md.host.items()),
        *((f"version {k}", _value(v)) for k, v in md.versions.items()),
        ("command line", md.command_line),
        ("started", md.started_at),
        ("ended", md.ended_at),
        ("complete", "yes" if md.complete else "no"),
        *((f"setting {k}", _value(v)) for k, v in md.settings.items()),
    ]
    return "<h2>Run metadata</h2>\n" + html_page.key_value_table(pairs)


def _value(value: object) -> str:
    if value is None:
        return "none"
    return value if isinstance(value, str) else json.dumps(value)


def _model_configs(run: Run) -> str:
    blocks = [
        html_page.details(
            f"{curve_label(run, c)}: effective model config",
            html_page.preformatted(json.dumps(c.model_config, indent=2, sort_keys=True)),
        )
        for c in run.curves
        if c.model_config
    ]
    return "<h2>Model configuration per curve</h2>\n" + ("\n".join(blocks) or "<p>Not recorded.</p>")
