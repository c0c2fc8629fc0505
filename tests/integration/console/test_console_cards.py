"""The console's customers page issues card-on-file links (issue 20): operator only, audited, and
the link it shows opens the customer's card page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from paybridge.app.api import build_api
from paybridge.clock import ManualClock
from paybridge.customers.settings import CardRequestSettings
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.conftest import asgi_client
from tests.integration.console.test_console_http import PASSWORD, csrf_of, sign_in
from tests.integration.test_order_to_cash import START
from tests.sandboxes import sandbox_engine, sandbox_http, sandbox_settings

pytestmark = pytest.mark.anyio
BASE = "http://console.test"
LINK = re.compile(r'data-testid="link">([^<]+)<')


@pytest.fixture
async def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("PB_CARD_LINK_SECRET", "a long random secret for card links")
    cards = CardRequestSettings(link_secret=SecretStr("env:PB_CARD_LINK_SECRET"), public_url=BASE)
    clock = ManualClock(START)
    pt, d365 = paytrace_app(clock=SandboxClock(START)), dynamics_app()
    async with sandbox_http(pt, d365) as (pt_http, d_http):
        engine = sandbox_engine(sandbox_settings(tmp_path, cards=cards), clock=clock,
                                pt_http=pt_http, d_http=d_http, d365_app=d365)  # fmt: skip
        try:
            for name, role in (("vic", "viewer"), ("olga", "operator")):
                engine.security.users.add(name, PASSWORD, role)
            async with asgi_client(build_api(engine), BASE) as client:
                client.app_engine = engine  # type: ignore[attr-defined]
                yield client
        finally:
            await engine.aclose()


async def test_an_operator_issues_a_card_link_that_opens_the_card_page(
    web: httpx.AsyncClient,
) -> None:
    await sign_in(web, username="olga", password=PASSWORD)
    form = await web.get("/customers")
    assert form.status_code == 200 and "Issue a card-on-file link" in form.text
    assert form.headers["cache-control"] == "no-store"
    issued = await web.post("/customers/card-link", data={
        "csrf": csrf_of(form), "company": "usmf", "account": "US-001"})  # fmt: skip
    assert issued.status_code == 200, issued.text[:500]
    found = LINK.search(issued.text)
    assert found is not None and found.group(1).startswith(f"{BASE}/card/")
    card_page = await web.get(found.group(1).removeprefix(BASE))
    assert card_page.status_code == 200 and "US-001" in card_page.text
    engine = web.app_engine  # type: ignore[attr-defined]
    rows = engine.security.audit.search(action="card_request.create")
    assert [(r.actor, r.target, r.outcome) for r in rows] == [
        ("user:olga", "customer:usmf/US-001", "ok")
    ]


async def test_an_unknown_customer_is_named_and_a_viewer_cannot_issue(
    web: httpx.AsyncClient,
) -> None:
    await sign_in(web, username="olga", password=PASSWORD)
    form = await web.get("/customers")
    refused = await web.post("/customers/card-link", data={
        "csrf": csrf_of(form), "company": "usmf", "account": "NOPE-9"})  # fmt: skip
    assert refused.status_code == 422 and "D365 has no customer usmf/NOPE-9" in refused.text
    await web.post("/signout", data={"csrf": csrf_of(form)})
    await sign_in(web, username="vic", password=PASSWORD)
    page = await web.get("/customers")
    assert "Issue a card-on-file link" not in page.text  # no button for a viewer
    forged = await web.post("/customers/card-link", data={
        "csrf": csrf_of(page), "company": "usmf", "account": "US-001"})  # fmt: skip
    assert forged.status_code == 403
