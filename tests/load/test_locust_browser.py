"""Locust's web UI, started by `harness ui`, driven in headless Chromium against the real Triton, as a user clicks it.

First Start with the untouched defaults must send load; the harness's "Exact latency" tab (inside Locust's own
UI) must show the merged figures, each worker's health and a live p50/p99 chart; an open-loop user without a
target rate must be refused in the form, never started idle.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.triton.control import ControlClient
from helpers.browser import BrowserPage, chromium_page
from helpers.processes import harness_ui, stop_process

pytestmark = [pytest.mark.browser, pytest.mark.integration]
SCREENSHOT = Path("/tmp/locust_ui.png")
TAB_SCREENSHOT = Path("/tmp/locust_ui_exact_latency.png")
WAIT_S = 30.0
INTERRUPTED = 130  # harness ui stopped by SIGTERM or Ctrl-C (docs/serving-and-load.md: "Stopping")


# No report for this long after Stop: every worker's last one is in (the engine's drain after Stop takes up to
# 2 s, then the worker reports).
SETTLED_S = 3.0


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


def _user_class_checkbox(browser: BrowserPage, name: str) -> Any:
    row = browser.page.locator("tr").filter(has=browser.page.get_by_role("cell", name=name, exact=True))
    return row.locator("input[type=checkbox]")


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_first_start_with_defaults_sends_load_and_the_exact_latency_tab_shows_it(
    triton_url: str, control: ControlClient, tmp_path: Path
) -> None:
    control.load("mnist_cnn")
    with harness_ui(triton_url, "mnist_cnn", 1, tmp_path) as (process, web), chromium_page() as browser:
        page = browser.page
        page.goto(f"{web}/")
        # The defaults as a first-time user meets them: closed loop ticked, open loop not, the Host is Triton's.
        assert _user_class_checkbox(browser, "TritonUser").is_checked()
        assert not _user_class_checkbox(browser, "TritonOpenLoopUser").is_checked()
        assert page.locator("input[name=host]").input_value() == triton_url
        page.get_by_role("button", name="Start").click()

        _wait_until(lambda: _aggregated_requests(browser) > 0, "requests in Locust's statistics table")
        page.get_by_role("tab", name="Exact latency").click()
        merged = page.locator("tbody tr", has_text="all (merged)")
        _wait_until(
            lambda: merged.count() == 1 and int(merged.locator("td").nth(1).inner_text()) > 0,
            "the merged row of the Exact latency tab",
        )
        assert page.locator("tbody tr").count() == 2  # merged + the one worker's health row
        chart = page.locator("#harness-latency-chart svg")
        _wait_until(
            lambda: chart.count() == 1 and int(chart.get_attribute("data-points") or 0) >= 2,
            "two points on the live p50/p99 chart",
        )
        for series in ("p50", "p99"):
            assert len(chart.locator(f"polyline.harness-{series}").get_attribute("points").split()) >= 2
        page.screenshot(path=str(TAB_SCREENSHOT), full_page=True)

        page.get_by_role("tab", name="Statistics").click()
        page.get_by_role("button", name="Stop").click()
        _wait_until(lambda: "STOPPED" in _status(browser), "the STOPPED state")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        # The workers' last reports reach the master a report interval or more after Stop (later on a busy
        # machine): read both counts until they have arrived (equal, and unchanged for SETTLED_S: once, equal
        # counts read between two reports were followed by 206 more requests), then they must agree exactly.
        counts: dict[str, object] = {}
        changed = {"count": -1, "at": time.monotonic()}

        def settled() -> bool:
            counts["locust"] = _get_json(f"{web}/stats/requests")["stats"][-1]["num_requests"]
            counts["ours"] = _get_json(f"{web}/latency.json")
            if counts["locust"] != changed["count"]:
                changed.update(count=counts["locust"], at=time.monotonic())
            quiet = time.monotonic() - changed["at"] >= SETTLED_S  # type: ignore[operator]
            return quiet and counts["ours"]["requests"] == counts["locust"]  # type: ignore[index]

        try:
            _wait_until(settled, "the workers' last reports after Stop")
        except AssertionError:
            pass  # the exact comparison below says what differed
        locust_count, ours = counts["locust"], counts["ours"]
        # Nothing is ignored: Locust's app logs no console error here, and every request stays on this machine.
        assert browser.errors == [] and browser.blocked == []
        assert stop_process(process, signal.SIGTERM) == INTERRUPTED
    assert ours["requests"] == locust_count > 0 and ours["failures"] == 0
    assert ours["histogram_count"] == ours["requests"]
    written = json.loads(next((tmp_path / "results").glob("ui-*/latency.json")).read_text())
    assert written["requests"] == locust_count  # kept in the run folder on SIGTERM


def test_open_loop_user_without_a_target_rate_is_refused_in_the_form(
    triton_url: str, control: ControlClient, tmp_path: Path
) -> None:
    control.load("identity")
    with harness_ui(triton_url, "identity", 1, tmp_path) as (process, web), chromium_page() as browser:
        page = browser.page
        page.goto(f"{web}/")
        _user_class_checkbox(browser, "TritonOpenLoopUser").check()
        page.get_by_role("button", name="Start").click()
        alert = page.get_by_role("alert")
        _wait_until(lambda: alert.count() == 1, "the form's refusal")
        assert "TritonOpenLoopUser sends on a schedule and needs a target rate" in alert.inner_text()
        stats = _get_json(f"{web}/stats/requests")
        assert stats["user_count"] == 0 and stats["state"] == "ready"
        assert browser.errors == [] and browser.blocked == []
        assert stop_process(process, signal.SIGINT) == INTERRUPTED
