"""Reports opened in headless Chromium, offline: they must render every chart without a console error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.analysis.compare import measured_curves
from harness.analysis.verdict import decide
from harness.record.model import Run, Slo
from harness.report.compare_page import write_compare
from harness.report.run_page import write_report
from helpers.browser import BrowserPage, chromium_page
from helpers.factories import cpu_gpu_run, rate_run

pytestmark = pytest.mark.browser
PLOT = ".js-plotly-plot"


def _open(browser: BrowserPage, path: Path, plots: int) -> None:
    browser.page.goto(path.as_uri())
    browser.page.wait_for_selector(PLOT)
    browser.page.wait_for_function(f"document.querySelectorAll('{PLOT} .main-svg').length >= {plots}")
    assert browser.page.locator(PLOT).count() == plots


def _y_title(browser: BrowserPage) -> str:
    return browser.page.locator(f"{PLOT} .ytitle").first.text_content() or ""


@pytest.mark.parametrize(("make", "plots"), [(cpu_gpu_run, 3), (rate_run, 4)])
def test_report_renders_offline_without_errors(tmp_path: Path, make: Callable[[], Run], plots: int) -> None:
    write_report(make(), tmp_path / "report.html")
    with chromium_page() as browser:
        _open(browser, tmp_path / "report.html", plots)
        assert _y_title(browser) == "p99 latency (ms)"
        browser.page.locator(".updatemenu-button", has_text="p50").first.click()
        browser.page.wait_for_function(f"document.querySelector('{PLOT} .ytitle').textContent.startsWith('p50')")
        assert browser.errors == [] and browser.blocked == []


def test_compare_page_lists_every_curve_and_toggles_log_axes(tmp_path: Path) -> None:
    runs = [cpu_gpu_run("before"), cpu_gpu_run("after"), rate_run("open-loop")]
    verdict = decide(runs, 300.0, Slo("p99", 100.0))
    write_compare(runs, tmp_path / "compare.html", verdict=verdict)
    with chromium_page() as browser:
        _open(browser, tmp_path / "compare.html", 2)
        legend = browser.page.locator(f"{PLOT} >> nth=0 >> .legendtext").all_text_contents()
        assert {e.label for e in measured_curves(runs)} <= set(legend)
        assert browser.page.locator(".banner.verdict").text_content() == verdict.sentence
        browser.page.locator(".updatemenu-button", has_text="log axes").click()
        browser.page.wait_for_function(f"document.querySelector('{PLOT}').layout.xaxis.type === 'log'")
        assert browser.page.evaluate(f"document.querySelector('{PLOT}').layout.yaxis.type") == "log"
        assert browser.errors == [] and browser.blocked == []
