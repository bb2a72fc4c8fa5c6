"""Headless Chromium (Debian's package, driven by Playwright) on the chat page, for the browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000


@contextmanager
def open_page(url: str, height: int = 1000) -> Iterator[Page]:
    """One tab of a fresh headless Chromium at ``url``, once the question box is there; closed on exit."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": height})
            tab.set_default_timeout(TIMEOUT_MS)
            tab.goto(url)
            tab.wait_for_selector("#question textarea")
            yield tab
        finally:
            browser.close()
