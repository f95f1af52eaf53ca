"""Goodput in the run report: a column of the levels table and, dotted beside each curve, a trace on the throughput
charts; runs written before goodput draw no such trace. Rendered in headless Chromium: the table cells and the
plotted traces as the page has them, not substrings of the embedded run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.record.model import Run
from harness.report import charts
from harness.report.run_page import run_series, write_report
from helpers.browser import chromium_page
from helpers.factories import rate_run

PLOT = ".js-plotly-plot"
GOODPUT = [100.0, 199.0, 376.2, 121.5]  # rate_run's levels, in order


def _without_goodput(run: Run) -> Run:
    curves = tuple(replace(c, levels=tuple(replace(lv, goodput_rps=None) for lv in c.levels)) for c in run.curves)
    return replace(run, curves=curves)


def test_the_throughput_charts_draw_goodput_beside_each_curve() -> None:
    run = rate_run()
    (series,) = run_series(run)
    latency = charts.throughput_latency([series], run.slo)
    (good,) = [t for t in latency.data if t.name == "cpu:2 goodput"]
    assert list(good.x) == GOODPUT and list(good.y) == [lv.latency_ms.p99 for lv in series.curve.levels]
    assert good.line.dash == "dot" and good.legendgroup == "cpu:2"
    rate = charts.rate_figure([series])
    (good,) = [t for t in rate.data if t.name == "cpu:2 goodput"]
    assert list(good.x) == [100.0, 200.0, 400.0, 600.0] and list(good.y) == GOODPUT
    old = run_series(_without_goodput(run))
    assert not [t for t in charts.throughput_latency(old, run.slo).data if "goodput" in (t.name or "")]
    assert not [t for t in charts.rate_figure(old).data if "goodput" in (t.name or "")]  # type: ignore[union-attr]


@pytest.mark.browser
def test_the_report_shows_goodput_per_level_and_moves_it_with_the_percentile(tmp_path: Path) -> None:
    write_report(rate_run(), tmp_path / "report.html")
    with chromium_page() as browser:
        page = browser.page
        page.goto((tmp_path / "report.html").as_uri())
        page.wait_for_selector(PLOT)
        page.locator("details summary", has_text="cpu:2:").first.click()
        table = page.locator("details table").first
        headers = table.locator("th").all_text_contents()
        column = headers.index("goodput req/s")
        assert headers[column - 1] == "inf/s"
        cells = [row.locator("td").nth(column).text_content() for row in table.locator("tbody tr").all()]
        assert cells == ["100", "199", "376", "122"]
        names = page.evaluate(f"Array.from(document.querySelector('{PLOT}').data, t => t.name)")
        index = names.index("cpu:2 goodput")
        trace = f"document.querySelector('{PLOT}').data[{index}]"
        assert page.evaluate(f"{trace}.x") == GOODPUT
        page.locator(".updatemenu-button", has_text="p50").first.click()
        page.wait_for_function(f"document.querySelector('{PLOT} .ytitle').textContent.startsWith('p50')")
        assert page.evaluate(f"{trace}.y") == [lv.latency_ms.p50 for lv in rate_run().curves[0].levels]
        assert browser.errors == [] and browser.blocked == []
