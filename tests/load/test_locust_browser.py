"""Locust's web UI, started by `harness ui`, driven in headless Chromium against the real Triton.

The start form's custom parameters (Triton URL, model) are filled in the browser: the run must use them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.triton.control import ControlClient
from helpers.browser import BrowserPage, chromium_page
from helpers.processes import harness_ui

pytestmark = [pytest.mark.browser, pytest.mark.integration]
SCREENSHOT = Path("/tmp/locust_ui.png")
WAIT_S = 30.0


def _wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _aggregated_requests(browser: BrowserPage) -> int:
    row = browser.page.locator("tbody tr", has_text="Aggregated")
    if row.count() == 0:
        return 0
    return int(row.first.locator("td").nth(2).inner_text().strip() or 0)


def _status(browser: BrowserPage) -> str:
    return browser.page.locator("header").inner_text().upper()


def test_start_form_with_custom_parameters_runs_and_stops(triton_url: str, control: ControlClient,
                                                          tmp_path: Path) -> None:
    control.load("identity")
    control.load("mnist_cnn")
    # Started on identity: the form's model field switches the run to mnist_cnn.
    with harness_ui(triton_url, "identity", 1, tmp_path) as (_, web), chromium_page() as browser:
        page = browser.page
        page.goto(f"{web}/")
        page.locator("tr", has_text="TritonOpenLoopUser").locator("input[type=checkbox]").uncheck()  # closed loop
        page.locator("input[name=userCount]").fill("2")
        page.locator("input[name=spawnRate]").fill("2")
        page.get_by_text("Custom parameters").click()
        page.locator("input[name=tritonUrl]").fill(triton_url)
        page.locator("input[name=model]").fill("mnist_cnn")
        page.get_by_role("button", name="Start").click()

        _wait_until(lambda: _aggregated_requests(browser) > 0, "requests in Locust's statistics table")
        assert page.locator("tbody tr", has_text="mnist_cnn").count() == 1  # the form's model, not the CLI's

        page.goto(f"{web}/latency")  # the same page, so its console and page errors are recorded too
        assert page.locator("h1").inner_text() == "Exact latency: mnist_cnn"
        assert int(page.locator("#requests").inner_text()) > 0
        assert page.locator("#workers tr").count() == 2  # header + the one worker

        page.goto(f"{web}/")  # back to the running test
        page.get_by_role("button", name="Stop").click()
        _wait_until(lambda: "STOPPED" in _status(browser), "the STOPPED state")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        # Nothing is ignored: Locust's app logs no console error here, and every request stays on this machine.
        assert browser.errors == [] and browser.blocked == []
