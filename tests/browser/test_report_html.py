"""The HTML reconciliation report in a real browser (Debian's Chromium through Playwright).

A day with every class of difference is reconciled, its report opened in a 1,400 px wide window:
nothing may reach past the window's right edge, with every row's detail folded or unfolded, and
the details/summary toggles open and close. Skips when Playwright or Chromium is missing, except
under CI=true, where it fails.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from paybridge.reconcile.render import render
from tests.integration.reconcile.conftest import DAY, build_day, open_world

WIDTH = 1400

# Every element's right edge beyond the viewport, and the page's own horizontal scroll range.
OVERFLOW = """
() => {
  const width = document.documentElement.clientWidth;
  const past = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 0.5) {
      past.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}: ${Math.round(box.right)}`);
    }
  }
  return {width, scroll: document.documentElement.scrollWidth, past: past.slice(0, 10)};
}
"""


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTML report of a day with every class of difference (long ids and texts included)."""
    folder = tmp_path_factory.mktemp("report")

    async def reconcile() -> bytes:
        async with open_world(folder) as world:
            await build_day(world)
            report = await world.reconciler.run(DAY, "usmf", heal=True)
            return render(report, "html")

    page = folder / "reconcile-usmf.html"
    # A thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        page.write_bytes(pool.submit(lambda: asyncio.run(reconcile())).result())
    return page


def test_the_report_fits_1400_px_and_its_details_toggle(browser: Any, report_page: Path) -> None:
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    try:
        page.goto(report_page.as_uri())
        fit = page.evaluate(OVERFLOW)
        assert fit["scroll"] <= fit["width"] and fit["past"] == [], fit

        row_details = page.locator("tr.fold details")
        assert row_details.count() > 5  # every exception and batch row has one
        first = row_details.first
        folded = first.locator("dl")
        assert not first.evaluate("d => d.open") and not folded.is_visible()
        first.locator("summary").click()
        assert first.evaluate("d => d.open") and folded.is_visible()
        assert "PaymentId" in folded.inner_text() or "PayTrace" in folded.inner_text()
        first.locator("summary").click()
        assert not first.evaluate("d => d.open") and not folded.is_visible()

        # Everything unfolded at once: still nothing wider than the window.
        page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
        fit = page.evaluate(OVERFLOW)
        assert fit["scroll"] <= fit["width"] and fit["past"] == [], fit

        section = page.locator("section#exceptions > details")
        table = section.locator("table")
        assert table.is_visible()
        section.locator("summary h2").click()  # a section folds away as a whole
        assert not section.evaluate("d => d.open") and not table.is_visible()
        page.screenshot(path=str(report_page.with_suffix(".png")), full_page=True)
    finally:
        page.close()
