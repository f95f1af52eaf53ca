"""The plan section of a `harness plan` run: the answer, the traffic with each option's fleet under it, the cost of
each option, and the candidates with their fitted queues and how well those predicted levels they did not see."""

from __future__ import annotations

from harness.analysis.plan import confirmation_text, fleet_text
from harness.record.model import PlanCandidate, PlanOption, Run
from harness.report import charts, html_page
from harness.textfmt import NONE, fmt_cost, fmt_num, fmt_share, percentile_name

OPTION_HEADERS = ("option", "fleet at the peak", "predicted {p} at the peak ms", "$/day", "$/million req", "energy J/1k req")
CANDIDATE_HEADERS = (
    "configuration",
    "kind",
    "instances",
    "service ms (CV)",
    "batching",
    "overhead mean ms",
    "predicted capacity req/s",
    "measured capacity req/s",
    "held-out error mean / worst",
    "$/hour",
    "note",
)
HELD_OUT_HEADERS = ("level", "metric", "measured", "predicted", "error")


def plan_sections(run: Run, plotlyjs: bool = True) -> list[str]:
    plan = run.plan
    if plan is None:
        return []
    sections = ["<h2>Plan</h2>", f'<p class="plan-answer">{html_page.esc(plan.sentence)}</p>']
    sections += [html_page.banner(note, "warn") for note in plan.notes]
    if (c := plan.confirmation) is not None:
        sections.append(
            html_page.banner(confirmation_text(c), "warn plan-confirmation" if c.missed else "info plan-confirmation")
        )
    figures = [("Traffic and each option's fleet capacity within the SLO", charts.plan_fleet(plan))] if plan.options else []
    if (check := charts.prediction_check(plan)) is not None:
        figures.append(("Held-out levels: predicted against measured", check))
    sections += html_page.figure_sections(figures, plotlyjs=plotlyjs)
    if plan.options:
        headers = [h.format(p=percentile_name(run.slo.percentile)) for h in OPTION_HEADERS]
        rows = [_option_cells(o) for o in plan.options]
        sections += ["<h3>Cost per option</h3>", html_page.table(headers, rows, css_class="plan-options")]
    if plan.break_even_rps is not None:
        sections.append(
            f'<p class="plan-break-even">A GPU fleet is the cheaper above {fmt_num(plan.break_even_rps)} req/s.</p>'
        )
    sections += [
        f"<h3>Candidates: fitted queues and prediction errors ({html_page.esc(plan.balancing)} balancing)</h3>",
        html_page.table(CANDIDATE_HEADERS, [_candidate_cells(c) for c in plan.candidates], css_class="plan-candidates"),
        *(_held_out(c) for c in plan.candidates if c.held_out),
    ]
    return sections


def _option_cells(option: PlanOption) -> list[str]:
    return [
        option.option,
        fleet_text(option.peak),
        fmt_num(option.peak.predicted_ms),
        fmt_cost(option.cost_per_day),
        fmt_cost(option.cost_per_million),
        fmt_num(option.energy_j_per_1k),
    ]


def _candidate_cells(c: PlanCandidate) -> list[str]:
    fit = c.fit
    errors = f"{fmt_share(c.error_mean)} / {fmt_share(c.error_max)}" if c.error_mean is not None else NONE
    return [
        c.configuration,
        c.kind,
        str(fit.servers) if fit else NONE,
        f"{fmt_num(fit.service_ms)} ({fit.service_cv:.2f}{', assumed' if fit.cv_assumed else ''})" if fit else NONE,
        _batching(c),
        fmt_num(fit.overhead_mean_ms) if fit else NONE,
        fmt_num(c.capacity_rps),
        fmt_num(c.measured_capacity_rps),
        errors,
        NONE if c.price_per_hour is None else f"${c.price_per_hour:.2f}",
        c.note,
    ]


def _batching(c: PlanCandidate) -> str:
    if c.fit is None:
        return NONE
    if c.fit.batch_limit == 1:
        return "none"
    return f"up to {c.fit.batch_limit}, +{fmt_num(c.fit.per_extra_request_ms)} ms a request"


def _held_out(c: PlanCandidate) -> str:
    rows = [[h.load, h.metric, fmt_num(h.measured), fmt_num(h.predicted), f"{h.error * 100:+.1f} %"] for h in c.held_out]
    table = html_page.table(HELD_OUT_HEADERS, rows, css_class="plan-held-out")
    return html_page.details(f"{c.configuration}: {len(rows)} held-out levels", table)
