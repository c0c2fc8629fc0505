"""The mapping designer asks insight for likely sources of the fields not mapped yet (insight
enabled): a "Suggest sources" button beside Preview; without insight there is no button and
the route says what to turn on."""

from __future__ import annotations

import re

import httpx
import pytest

pytest.importorskip("sklearn", reason="needs the insight extra")

from paybridge.app.engine import Engine
from tests.integration.console.test_console_http import PASSWORD, csrf_of, sign_in
from tests.integration.insight.test_console_reviews import world

__all__ = ["world"]
LINE = "payment_to_customer_payment_line"


@pytest.mark.anyio
async def test_the_designer_suggests_sources_of_the_sample_for_unmapped_fields(
    world: tuple[Engine, httpx.AsyncClient, str],
) -> None:
    _, web, _ = world
    await sign_in(web, username="vic", password=PASSWORD)
    page = await web.get(f"/mapping/{LINE}")
    assert page.status_code == 200 and 'data-testid="suggest"' in page.text
    sources = set(re.findall(r"<tr><td><code>([^<]+)</code></td>", page.text))
    assert sources, "the designer shows a sample's fields"
    shown = await web.post(
        f"/mapping/{LINE}/suggest",
        data={"csrf": csrf_of(page), "base": "", "sample": "0"},
        headers={"HX-Request": "true", "Origin": str(web.base_url).rstrip("/")},
    )
    assert shown.status_code == 200, shown.text[:2000]
    assert "<html" not in shown.text  # the fragment htmx swaps in
    rows = re.findall(r'<tr data-field="([^"]+)"><th scope="row">', shown.text)
    picks = re.findall(r"<code>([^<]+)</code> \((\d+)%", shown.text)
    assert rows and picks, shown.text[:2000]
    assert {source for source, _ in picks} <= sources  # only fields the sample has
    assert all(0 < int(pct) <= 100 for _, pct in picks)
    mapped = {"CreditAmount", "PaymentId"}  # the shipped template maps these already
    assert not mapped & set(rows)
