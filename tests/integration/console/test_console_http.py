"""The console as `paybridge serve` builds it (``build_api`` of a real engine over both sandboxes),
spoken to over HTTP in-process: sign-in, roles, CSRF, the payments explorer, lineage, triage."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from paybridge.app.api import build_api
from paybridge.app.engine import Engine
from paybridge.clock import ManualClock
from paybridge.keys import CUSTOMER_XREF
from paybridge.security.sessions import IDLE
from paybridge.store.schema_console import console_sessions
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.conftest import asgi_client
from tests.integration.test_order_to_cash import START, drain, lines_by_reference, sell
from tests.sandboxes import open_profile, sandbox_engine, sandbox_http, sandbox_settings

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class World:
    engine: Engine
    clock: ManualClock
    web: httpx.AsyncClient
    posted_tx: str
    dead_tx: str
    pt_app: Any = None  # the PayTrace sandbox's ASGI app (its faults: ``pt_app.state.faults``)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = ManualClock(START)
    pt, d365 = paytrace_app(clock=SandboxClock(START)), dynamics_app()
    async with sandbox_http(pt, d365) as (pt_http, d_http):
        engine = sandbox_engine(
            sandbox_settings(tmp_path), clock=clock, pt_http=pt_http, d_http=d_http, d365_app=d365
        )
        try:
            await open_profile(engine, "SHOP-1", "US-001")
            await open_profile(engine, "NOBODY-7", None)
            posted = await sell(engine, "SHOP-1", "1234.50", invoice="INV-77")
            dead = await sell(engine, "NOBODY-7", "20.00", invoice="INV-78")
            await drain(engine)
            assert posted and dead
            for name, role in (("vic", "viewer"), ("olga", "operator")):
                engine.security.users.add(name, PASSWORD, role)
            async with asgi_client(build_api(engine)) as web:
                yield World(engine, clock, web, posted, dead, pt)
        finally:
            await engine.aclose()


async def sign_in(web: httpx.AsyncClient, **credentials: str) -> httpx.Response:
    form = await web.get("/signin")
    token = CSRF.search(form.text)
    assert token is not None
    return await web.post("/signin", data={"csrf": token.group(1), "next": "/", **credentials})


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


@pytest.mark.anyio
async def test_signed_out_visitors_go_to_sign_in_and_bad_passwords_are_refused(
    world: World,
) -> None:
    web = world.web
    home = await web.get("/payments?tx=1")
    assert (
        home.status_code == 303 and home.headers["location"] == "/signin?next=%2Fpayments%3Ftx%3D1"
    )
    refused = await sign_in(web, username="vic", password="wrong password!")
    assert refused.status_code == 303 and "error=denied" in refused.headers["location"]
    assert (await web.get("/")).status_code == 303  # still signed out
    # Without the sign-in form's own token, nothing is checked at all.
    forged = await web.post("/signin", data={"username": "vic", "password": PASSWORD})
    assert "error=expired" in forged.headers["location"]
    rows = world.engine.security.audit.search(action="console.signin")
    assert [r.outcome for r in rows] == ["unauthenticated"] and rows[0].actor == "user:vic"


@pytest.mark.anyio
async def test_a_session_cookie_is_http_only_strict_and_stored_hashed(world: World) -> None:
    done = await sign_in(world.web, username="olga", password=PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/"
    cookie = next(
        v for k, v in done.headers.multi_items() if k == "set-cookie" and "pb_console" in v
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    token = world.web.cookies["pb_console"]
    with world.engine.store.engine.connect() as conn:
        stored = conn.execute(select(console_sessions.c.token_hash)).scalars().all()
    assert len(stored) == 1 and token not in stored[0] and len(stored[0]) == 64
    page = await world.web.get("/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "user:olga (operator)" in page.text
    # Idle past the limit: signed out.
    world.clock.advance(IDLE.total_seconds() + 1)
    assert (await world.web.get("/")).status_code == 303


@pytest.mark.anyio
async def test_the_dashboard_counts_what_the_store_knows(world: World) -> None:
    await sign_in(world.web, username="vic", password=PASSWORD)
    page = await world.web.get("/")
    posted = re.search(r'data-testid="tile-posted">\s*<span class="figure">([^<]+)<', page.text)
    dead = re.search(r'data-testid="tile-dead">\s*<span class="figure">([^<]+)<', page.text)
    assert posted and dead and (posted.group(1), dead.group(1)) == ("1", "1")
    assert 'href="/errors"' in page.text and "<svg" in page.text


@pytest.mark.anyio
async def test_payments_are_found_by_id_invoice_customer_amount_and_status(world: World) -> None:
    web = world.web
    await sign_in(web, username="vic", password=PASSWORD)

    async def found(**query: str) -> set[str]:
        page = await web.get("/payments", params=query)
        assert page.status_code == 200, page.text[:300]
        return set(re.findall(r'<a href="/payments/(\d+)">', page.text))

    both = {world.posted_tx, world.dead_tx}
    assert await found() == both
    assert await found(tx=world.posted_tx) == {world.posted_tx}
    assert await found(invoice="INV-78") == {world.dead_tx}
    assert await found(customer="SHOP-1") == {world.posted_tx}
    assert await found(min="1000", max="1234.50") == {world.posted_tx}
    assert await found(max="1234.49") == {world.dead_tx}
    assert await found(status="dead") == {world.dead_tx}
    assert await found(status="posted") == {world.posted_tx}
    day = START.date().isoformat()
    assert await found(**{"from": day, "to": day}) == both
    assert await found(**{"from": "2026-03-11"}) == set()
    bad = await web.get("/payments", params={"min": "lots"})
    assert 'aria-invalid="true"' in bad.text and "not an amount" in bad.text
    page = await web.get("/payments", params={"tx": world.posted_tx})
    assert "1,234.50 USD" in page.text
    partial = await web.get(
        "/payments", params={"tx": world.posted_tx}, headers={"HX-Request": "true"}
    )
    assert partial.text.lstrip().startswith('<section id="results"')


@pytest.mark.anyio
async def test_a_payment_page_shows_its_lineage_and_redacted_raw_record(world: World) -> None:
    await sign_in(world.web, username="vic", password=PASSWORD)
    page = await world.web.get(f"/payments/{world.posted_tx}")
    assert page.status_code == 200
    lineage = page.text[page.text.index('data-testid="lineage"') :]
    assert "seen sale" in lineage and "d365.payment_line" in lineage and "posted" in lineage
    raw_link = re.search(rf'href="(/payments/{world.posted_tx}/raw/\d+)"', page.text)
    assert raw_link
    raw = await world.web.get(raw_link.group(1))
    assert raw.status_code == 200 and "&#34;transaction_id&#34;" in raw.text
    assert "4012000098765439" not in raw.text
    assert (await world.web.get("/payments/999999999")).status_code == 404


@pytest.mark.anyio
async def test_a_viewer_sees_no_operator_buttons_and_a_forged_post_is_refused(world: World) -> None:
    web = world.web
    await sign_in(web, username="vic", password=PASSWORD)
    (letter,) = world.engine.store.queue.dead_letters()
    page = await web.get(f"/errors/{letter['id']}")
    assert (
        page.status_code == 200 and "Resolve" not in page.text and "Link and retry" not in page.text
    )
    csrf = csrf_of(page)  # the viewer's own, valid token (from the sign-out form)
    forged = await web.post(
        f"/errors/{letter['id']}/triage", data={"csrf": csrf, "action": "resolve"}
    )
    assert forged.status_code == 403 and "operator role" in forged.text
    link = await web.post(
        f"/errors/{letter['id']}/link", data={"csrf": csrf, "d365_customer": "usmf/US-001"}
    )
    assert link.status_code == 403
    assert world.engine.store.queue.dead_letter(letter["id"])["triage_state"] == "open"
    assert world.engine.store.xref.get(CUSTOMER_XREF, "NOBODY-7") is None
    denied = world.engine.security.audit.search(action="auth.forbidden")
    assert len(denied) == 2 and all(r.actor == "user:vic" for r in denied)


@pytest.mark.anyio
async def test_an_operator_resolves_with_csrf_only_and_edit_and_retry_posts(world: World) -> None:
    web, engine = world.web, world.engine
    await sign_in(web, username="olga", password=PASSWORD)
    (letter,) = engine.store.queue.dead_letters()
    page = await web.get(f"/errors/{letter['id']}")
    assert "Link and retry" in page.text and "NOBODY-7" in page.text
    no_token = await web.post(f"/errors/{letter['id']}/triage", data={"action": "resolve"})
    assert no_token.status_code == 403
    other_site = await web.post(
        f"/errors/{letter['id']}/triage", data={"csrf": csrf_of(page), "action": "resolve"},
        headers={"Origin": "https://evil.example"},
    )  # fmt: skip
    assert other_site.status_code == 403
    done = await web.post(
        f"/errors/{letter['id']}/triage",
        data={"csrf": csrf_of(page), "action": "resolve", "comment": "looking", "assignee": "olga"},
    )
    assert done.status_code == 303
    row = engine.store.queue.dead_letter(letter["id"])
    assert row["triage_state"] == "resolved" and row["assignee"] == "olga"
    groups = await web.get("/errors", params={"state": "resolved"})
    assert "no D365 customer for PayTrace customer" in groups.text

    page = await web.get(f"/errors/{letter['id']}")
    bad = await web.post(
        f"/errors/{letter['id']}/link", data={"csrf": csrf_of(page), "d365_customer": "US-001"}
    )
    assert "problem=" in bad.headers["location"]
    fixed = await web.post(
        f"/errors/{letter['id']}/link", data={"csrf": csrf_of(page), "d365_customer": "usmf/US-001"}
    )
    assert fixed.status_code == 303 and fixed.headers["location"] == "/errors?done=link"
    assert engine.store.xref.get(CUSTOMER_XREF, "NOBODY-7") == "usmf/US-001"
    await drain(engine)
    lines = await lines_by_reference(engine)
    assert world.dead_tx in lines and len(lines[world.dead_tx]) == 1
    actions = [r.action for r in reversed(engine.security.audit.search(actor="user:olga"))]
    assert actions == ["console.signin", "console.csrf", "dlq.resolve", "xref.link", "dlq.replay"]
    page = await web.get(f"/payments/{world.dead_tx}")
    assert "dead letter replay" in page.text and "d365.payment_line" in page.text


@pytest.mark.anyio
async def test_an_api_key_signs_in_with_its_role_and_sign_out_ends_the_session(
    world: World,
) -> None:
    issued = world.engine.security.api_keys.create("operator", label="console")
    done = await sign_in(world.web, api_key=issued.token)
    assert done.status_code == 303
    page = await world.web.get("/errors")
    assert f"key:{issued.key.key_id} (operator)" in page.text and "Retry all 1" in page.text
    token = world.web.cookies["pb_console"]
    out = await world.web.post("/signout", data={"csrf": csrf_of(page)})
    assert out.status_code == 303
    assert world.engine.security.sessions.get(token) is None
    assert (await world.web.get("/errors")).status_code == 303


@pytest.mark.anyio
async def test_a_reconciliation_day_is_opened_downloaded_and_healed(world: World) -> None:
    web, engine = world.web, world.engine
    day = START.date().isoformat()
    await sign_in(web, username="vic", password=PASSWORD)
    calendar = await web.get("/reconcile")
    assert calendar.status_code == 200
    assert f'aria-label="usmf {day}: not reconciled"' in calendar.text
    opened = await web.get(f"/reconcile/usmf/{day}")
    assert opened.status_code == 200 and f'src="/reconcile/usmf/{day}/report.html"' in opened.text
    assert "Heal this day" not in opened.text and "Download XLSX" not in opened.text
    report = await web.get(f"/reconcile/usmf/{day}/report.html")
    assert report.status_code == 200 and report.text.startswith("<!DOCTYPE html>")
    assert "script-src" not in report.headers["content-security-policy"]
    assert report.headers["x-frame-options"] == "SAMEORIGIN"
    calendar = await web.get("/reconcile")
    assert f'aria-label="usmf {day}: not reconciled"' not in calendar.text  # the run was recorded
    assert (await web.get(f"/reconcile/usmf/{day}/report.xlsx")).status_code == 403
    assert (await web.get("/reconcile/nowhere/2026-03-10")).status_code == 404

    web.cookies.clear()
    await sign_in(web, username="olga", password=PASSWORD)
    page = await web.get(f"/reconcile/usmf/{day}")
    assert "Heal this day" in page.text
    xlsx = await web.get(f"/reconcile/usmf/{day}/report.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert f'filename="reconcile-usmf-{day}.xlsx"' in xlsx.headers["content-disposition"]
    csvs = await web.get(f"/reconcile/usmf/{day}/report.zip")
    assert csvs.status_code == 200 and csvs.content[:2] == b"PK"
    healed = await web.post(f"/reconcile/usmf/{day}/heal", data={"csrf": csrf_of(page)})
    assert healed.status_code == 303 and healed.headers["location"].endswith("?done=heal")
    (row,) = engine.security.audit.search(action="reconcile.heal")
    assert row.actor == "user:olga" and row.target == f"reconcile:usmf/{day}"


@pytest.mark.anyio
@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example"])
async def test_sign_in_goes_back_to_this_site_only(world: World, target: str) -> None:
    form = await world.web.get("/signin")
    done = await world.web.post(
        "/signin",
        data={"csrf": csrf_of(form), "next": target, "username": "vic", "password": PASSWORD},
    )
    assert done.status_code == 303 and done.headers["location"] == "/"


@pytest.mark.anyio
async def test_admin_pages_show_users_keys_and_a_verified_audit_log_to_admins_only(
    world: World,
) -> None:
    web, engine = world.web, world.engine
    engine.security.users.add("ada", PASSWORD, "admin")
    issued = engine.security.api_keys.create("viewer", label="storefront reader")
    await sign_in(web, username="olga", password=PASSWORD)
    assert (await web.get("/admin")).status_code == 403
    assert ">Admin</a>" not in (await web.get("/")).text
    web.cookies.clear()
    await sign_in(web, username="ada", password=PASSWORD)
    page = await web.get("/admin")
    assert page.status_code == 200 and ">Admin</a>" in page.text
    for shown in ("olga", "operator", issued.key.key_id, "storefront reader", "active"):
        assert shown in page.text
    assert PASSWORD not in page.text and "scrypt$" not in page.text
    log = await web.get("/admin/audit", params={"action": "console.signin", "verify": "1"})
    rows = log.text[log.text.index('data-testid="audit"') :]
    assert rows.count("console.signin") == 2 and "user:ada" in rows and "auth.forbidden" not in rows
    assert "The chain verifies" in log.text
    bad = await web.get("/admin/audit", params={"since": "yesterday"})
    assert 'aria-invalid="true"' in bad.text
    (listed, *_) = engine.security.audit.search(action="audit.list")
    assert listed.actor == "user:ada"
