"""Debian's Chromium under Playwright (Playwright's own browser builds cannot be downloaded here)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

__all__ = ["CHROMIUM_ARGS", "ChromiumMissing", "chromium", "chromium_path"]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


class ChromiumMissing(RuntimeError):
    """Debian's chromium is not installed where we look."""


def chromium_path() -> str:
    """The Chromium binary: ``ORDERWATCH_CHROMIUM``, else Debian's ``/usr/bin/chromium``."""
    path = os.environ.get("ORDERWATCH_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).is_file():
        raise ChromiumMissing(
            f"no Chromium at {path}: the desk's browser tests need Debian's chromium "
            "(`apt-get install -y chromium`, as .ci/run does), or ORDERWATCH_CHROMIUM=/path/to/chromium"
        )
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, closed (and its processes ended) on exit."""
    path = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
