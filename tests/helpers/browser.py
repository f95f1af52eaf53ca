"""Headless Chromium for tests that load pages in a real browser (reports, the Locust web UI).

with chromium_page() as browser:
    browser.page.goto(url)
    ...
    assert browser.errors == []
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from helpers.requirements import require_or_skip

if TYPE_CHECKING:  # playwright itself is imported only once Chromium is known to exist
    from playwright.sync_api import ConsoleMessage, Page, Route

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass
class BrowserPage:
    page: Page
    errors: list[str] = field(default_factory=list)  # console errors and uncaught page errors
    blocked: list[str] = field(default_factory=list)  # requests refused because they left this machine


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("file", "data", "blob", "about") or parts.hostname in LOCAL_HOSTS


@contextmanager
def chromium_page(width: int = 1280, height: int = 900) -> Iterator[BrowserPage]:
    """A fresh page in headless Chromium that records errors and refuses every non-local request.

    Skips the test when Chromium is not installed (fails it in CI: helpers.requirements)."""
    if not CHROMIUM.exists():
        require_or_skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright  # imported here: only browser tests need it

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            result = BrowserPage(context.new_page())
            context.route("**/*", lambda route: _local_only(route, result.blocked))
            result.page.on("console", lambda msg: _console(msg, result.errors))
            result.page.on("pageerror", lambda exc: result.errors.append(f"page error: {exc}"))
            yield result
        finally:
            browser.close()


def _local_only(route: Route, blocked: list[str]) -> None:
    if _is_local(route.request.url):
        route.continue_()
    else:
        blocked.append(route.request.url)
        route.abort()


def _console(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error":
        errors.append(f"console error: {message.text}")
