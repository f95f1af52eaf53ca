"""Reports opened in headless Chromium, offline: they must render every chart without a console error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator

from harness.analysis.compare import measured_curves
from harness.analysis.plan import fleet_text
from harness.analysis.verdict import decide
from harness.record.model import Run, Slo
from harness.report.compare_page import write_compare
from harness.report.run_page import write_report
from helpers.browser import BrowserPage, chromium_page
from helpers.factories import cpu_gpu_run, curve, mix_run, plan_run, rate_run, run, sweep

pytestmark = pytest.mark.browser
PLOT = ".js-plotly-plot"


def _open(browser: BrowserPage, path: Path, plots: int) -> None:
    browser.page.goto(path.as_uri())
    browser.page.wait_for_selector(PLOT)
    browser.page.wait_for_function(f"document.querySelectorAll('{PLOT} .main-svg').length >= {plots}")
    assert browser.page.locator(PLOT).count() == plots


def _y_title(browser: BrowserPage) -> str:
    return browser.page.locator(f"{PLOT} .ytitle").first.text_content() or ""


@pytest.mark.parametrize(("make", "plots"), [pytest.param(cpu_gpu_run, 3, marks=pytest.mark.quick), (rate_run, 4)])
def test_report_renders_offline_without_errors(tmp_path: Path, make: Callable[[], Run], plots: int) -> None:
    write_report(make(), tmp_path / "report.html")
    with chromium_page() as browser:
        _open(browser, tmp_path / "report.html", plots)
        assert _y_title(browser) == "p99 latency (ms)"
        browser.page.locator(".updatemenu-button", has_text="p50").first.click()
        browser.page.wait_for_function(f"document.querySelector('{PLOT} .ytitle').textContent.startsWith('p50')")
        assert browser.errors == [] and browser.blocked == []


def test_compare_page_lists_every_curve_and_toggles_log_axes(tmp_path: Path) -> None:
    runs = [cpu_gpu_run("before"), cpu_gpu_run("after"), rate_run("open-loop"), mix_run("mix")]
    verdict = decide(runs, 300.0, Slo("p99", 100.0))
    write_compare(runs, tmp_path / "compare.html", verdict=verdict)
    with chromium_page() as browser:
        _open(browser, tmp_path / "compare.html", 2)
        legend = browser.page.locator(f"{PLOT} >> nth=0 >> .legendtext").all_text_contents()
        assert {e.label for e in measured_curves(runs)} <= set(legend)
        # a mix's models drawn beside its combined curve, each through its own levels' throughput
        (mixed,) = [e.label for e in measured_curves(runs) if e.curve.mix]
        assert {f"{mixed} · a", f"{mixed} · b"} <= set(legend)
        xs = browser.page.evaluate(f"document.querySelector('{PLOT}').data.filter(t => t.name === '{mixed} · b')[0].x")
        assert xs == [lv.models["b"].achieved_rps for lv in runs[3].curves[0].levels]
        assert browser.page.locator(".banner.verdict").text_content() == verdict.sentence
        browser.page.locator(".updatemenu-button", has_text="log axes").click()
        browser.page.wait_for_function(f"document.querySelector('{PLOT}').layout.xaxis.type === 'log'")
        assert browser.page.evaluate(f"document.querySelector('{PLOT}').layout.yaxis.type") == "log"
        assert browser.errors == [] and browser.blocked == []


def _first_plot(browser: BrowserPage, expression: str) -> object:
    return browser.page.evaluate(f"document.querySelector('{PLOT}').{expression}")


def test_latencies_far_under_the_slo_start_on_a_log_scale_and_a_run_without_gpu_says_so_and_sizes_a_fleet(
    tmp_path: Path,
) -> None:
    """The main job's first report: p99 of 2-6 ms under p99 <= 100 ms drew a flat line at the bottom of a linear axis."""
    fast = run([curve("CPU", 1, sweep([(1, 500.0, 2.0), (2, 900.0, 3.0), (4, 1100.0, 6.0)]))], slo=Slo("p99", 100.0))
    near = run([curve("CPU", 1, sweep([(1, 500.0, 2.0), (2, 900.0, 3.0), (4, 1100.0, 6.0)]))], slo=Slo("p99", 10.0))
    write_report(fast, tmp_path / "fast.html")
    write_report(near, tmp_path / "near.html")
    with chromium_page() as browser:
        _open(browser, tmp_path / "fast.html", 3)
        assert _first_plot(browser, "layout.yaxis.type") == "log"
        assert _first_plot(browser, "layout.updatemenus[1].active") == 1  # the "log latency" button shows as chosen
        gpu = browser.page.locator(".banner.gpu")
        assert gpu.count() == 1 and gpu.text_content().startswith("No GPU was measured in this run")
        assert "scripts/gpu_check.sh" in (gpu.text_content() or "")
        # the answer in replicas for an example traffic: 2 x 1,100 -> 3,000 req/s; x 1.2 / 1,100 (a lower bound) -> 4
        example = browser.page.locator(".example-fleet").text_content() or ""
        assert example.startswith("For example, 3,000 req/s") and "at most 4 of cpu:1" in example
        _open(browser, tmp_path / "near.html", 3)
        assert _first_plot(browser, "layout.yaxis.type") == "linear"
        assert browser.errors == [] and browser.blocked == []


def test_a_run_with_a_measured_gpu_says_its_gpu_paths_are_unverified_not_that_none_was_measured(tmp_path: Path) -> None:
    measured = run([curve("CPU", 1, sweep([(1, 100.0, 10.0)])), curve("GPU", 1, sweep([(1, 400.0, 5.0)]))])
    write_report(measured, tmp_path / "report.html")
    with chromium_page() as browser:
        _open(browser, tmp_path / "report.html", 3)
        warnings = browser.page.locator(".banner.warn").all_text_contents()
        assert len(warnings) == 1 and warnings[0].startswith("Not yet verified on a GPU"), warnings
        assert browser.page.locator(".banner.gpu").count() == 1


def _figure_after(browser: BrowserPage, heading: str) -> Locator:
    """The plot drawn under the h2 that reads `heading`."""
    return browser.page.locator("h2", has_text=heading).locator("xpath=following-sibling::div[1]").locator(PLOT)


def test_the_plan_section_shows_the_answer_the_fleets_the_costs_and_the_fits(tmp_path: Path) -> None:
    planned = plan_run()
    plan = planned.plan
    assert plan is not None
    write_report(planned, tmp_path / "report.html")
    with chromium_page(height=2400) as browser:
        _open(browser, tmp_path / "report.html", 6)  # the run's four figures and the plan's two
        page = browser.page
        assert page.locator("h2", has_text="Plan").count() == 1
        assert page.locator("p.plan-answer").text_content() == plan.sentence
        options = page.locator("table.plan-options tbody tr")
        assert [options.nth(i).locator("td").first.text_content() for i in range(options.count())] == [
            o.option for o in plan.options
        ]
        assert options.nth(0).locator("td").nth(1).text_content() == fleet_text(plan.options[0].peak)
        candidates = page.locator("table.plan-candidates tbody tr td:first-child").all_text_contents()
        assert candidates == ["cpu:1", "cpu:2", "gpu:1"]
        assert page.locator(".banner.warn", has_text="cpu:2: no price given").count() == 1
        fleet = _figure_after(browser, "fleet capacity")
        titles = fleet.locator(".annotation-text").all_text_contents()
        assert titles == [o.option for o in plan.options]  # one panel per option
        assert set(fleet.locator(".legendtext").all_text_contents()) == {"traffic", "cpu:1", "gpu:1"}
        bars = fleet.locator(".barlayer .point")
        assert bars.count() == sum(len(c.parts) for s in plan.steps for c in s.choices)  # a bar per part per step
        check = _figure_after(browser, "Held-out levels")
        assert check.locator(".legendtext").all_text_contents() == ["cpu:1", "cpu:2", "gpu:1", "predicted = measured"]
        assert check.locator(".scatterlayer .point").count() == sum(len(c.held_out) for c in plan.candidates)
        page.locator("summary", has_text="cpu:1: 3 held-out levels").click()
        assert page.locator("table.plan-held-out").first.locator("tbody tr").count() == 3
        assert browser.errors == [] and browser.blocked == []
