"""Debian's chromium for the browser tests, and the checker that screenshots each page and runs
axe-core on it."""

from __future__ import annotations

import shutil

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

from .helpers import ROOT

CHROMIUM = "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

WCAG_21_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}

ARTIFACTS = ROOT / "test-artifacts" / "signup"


class PageChecker:
    """Saves a screenshot of each page it is shown and runs axe-core on it (WCAG 2.1 A/AA)."""

    def __init__(self, name: str) -> None:
        self.folder = ARTIFACTS / name
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.count = 0
        self.axe = Axe()

    async def check(self, page: Page, name: str) -> None:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        await page.wait_for_load_state("load")  # the stylesheet is in: full height
        await page.screenshot(path=str(path), full_page=True)
        results = await self.axe.run(page, options=WCAG_21_AA)
        assert results.violations_count == 0, f"{name}: {results.generate_report()}"
