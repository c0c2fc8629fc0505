"""Charges and subscriptions in the console as `paybridge serve` builds it, over HTTP in-process
against both sandboxes: a charge against a D365 invoice through the engine's ChargeService (its
key shown and reused, so a resubmit charges nothing), roles, field errors, the in-doubt list and
its dashboard tile, and a subscription's schedule with pause, resume and cancel, all audited."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from paybridge.billing.subscriptions import Frequency, NewSubscription, Schedule
from paybridge.charging.service import ChargeRequest
from paybridge.model import Money
from tests.integration.console.test_console_designer import signed_in
from tests.integration.console.test_console_http import World, csrf_of, world

__all__ = ["world"]
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


@pytest.mark.anyio
async def test_an_operator_charges_an_invoice_once_however_often_the_form_is_sent(
    world: World,
) -> None:
    web = await signed_in(world, "olga2", "operator")
    fresh = await web.get("/charges")  # an operator's form gets its key in the address
    assert fresh.status_code == 303 and fresh.headers["location"].startswith(
        "/charges?key=console-"
    )
    shown = await web.get(fresh.headers["location"])
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    assert (await web.get(fresh.headers["location"])).text.count(
        fresh.headers["location"][13:]
    ) >= 2
    key = KEY.search(shown.text)
    assert key and f'data-testid="idempotency-key">{key.group(1)}<' in shown.text
    form = {"csrf": csrf_of(shown), "idempotency_key": key.group(1), "company": "usmf",
            "invoice_number": "CIV-000101", "amount": "12.30"}  # fmt: skip
    first = await web.post("/charges/new", data=form)
    assert first.status_code == 303, first.text
    assert first.headers["location"] == f"/charges/{key.group(1)}?done=made"
    again = await web.post("/charges/new", data=form)  # the double click
    assert again.headers["location"] == f"/charges/{key.group(1)}?done=replayed"
    page = await web.get(again.headers["location"])
    assert "This key was charged already" in page.text
    assert re.search(r'charge-status">approved<', page.text)
    assert "12.30 USD" in page.text
    records = world.engine.charges.records.recent()
    assert [r.key for r in records] == [key.group(1)]
    tx = records[0].outcome["transaction_id"]
    assert f'href="/payments/{tx}"' in page.text
    audit = world.engine.security.audit.search(action="charge.create")
    assert sorted(r.outcome for r in audit) == ["approved", "approved"]
    assert {r.actor for r in audit} == {"user:olga2"}


@pytest.mark.anyio
async def test_field_errors_and_a_viewer_is_refused(world: World) -> None:
    web = await signed_in(world, "olga2", "operator")
    shown = await web.get("/charges", follow_redirects=True)
    base = {"csrf": csrf_of(shown), "idempotency_key": "console-" + "ab" * 10, "company": "usmf"}
    bad = await web.post("/charges/new", data={**base, "amount": "12,3O", "invoice_number": "A"})
    assert bad.status_code == 422 and "amount: an amount such as 125.00" in bad.text
    assert f'name="idempotency_key" value="console-{"ab" * 10}"' in bad.text  # kept
    odd = await web.post("/charges/new", data={**base, "idempotency_key": "my key"})
    assert odd.status_code == 400
    none = await web.post("/charges/new", data={**base, "amount": ""})
    assert none.status_code == 422 and "invoice_number" in none.text
    web = await signed_in(world, "vera", "viewer")
    shown = await web.get("/charges")
    assert 'data-testid="new-charge"' not in shown.text
    forged = {**base, "csrf": csrf_of(shown), "invoice_number": "CIV-000101"}
    assert (await web.post("/charges/new", data=forged)).status_code == 403
    assert world.engine.charges.records.recent() == []


@pytest.mark.anyio
async def test_in_doubt_charges_are_listed_and_the_dashboard_links_there(world: World) -> None:
    web = await signed_in(world, "vera", "viewer")
    home = await web.get("/")
    assert 'href="/charges?status=in_doubt"' in home.text
    listed = await web.get("/charges?status=in_doubt")
    assert listed.status_code == 200 and "No charges in doubt." in listed.text


@pytest.mark.anyio
async def test_a_subscription_is_paused_resumed_and_cancelled(world: World) -> None:
    sub = world.engine.subscriptions.add(NewSubscription(
        customer_id="SHOP-1", amount=Money.of("19.99", "USD"),
        schedule=Schedule(frequency=Frequency("monthly"), start=date(2026, 4, 1), count=12),
    ))  # fmt: skip
    web = await signed_in(world, "vera", "viewer")
    listed = await web.get("/subscriptions")
    assert f'href="/subscriptions/{sub.id}"' in listed.text and "19.99 USD" in listed.text
    page = await web.get(f"/subscriptions/{sub.id}")
    assert "2026-04-01" in page.text and "2026-05-01" in page.text  # the schedule
    assert "tried again [1, 3, 7] days after the first refusal" in page.text  # dunning policy
    assert ">Pause<" not in page.text
    csrf = csrf_of(page)
    assert (
        await web.post(f"/subscriptions/{sub.id}/pause", data={"csrf": csrf})
    ).status_code == 403
    web = await signed_in(world, "olga2", "operator")
    csrf = csrf_of(await web.get(f"/subscriptions/{sub.id}"))
    for action, status in (("pause", "paused"), ("resume", "active"), ("cancel", "cancelled")):
        done = await web.post(f"/subscriptions/{sub.id}/{action}", data={"csrf": csrf})
        assert done.headers["location"] == f"/subscriptions/{sub.id}?done={action}"
        page = await web.get(done.headers["location"])
        assert f'sub-status">{status}<' in page.text
    refused = await web.post(f"/subscriptions/{sub.id}/resume", data={"csrf": csrf})
    assert "problem=" in refused.headers["location"]
    rows = world.engine.security.audit.search(actor="user:olga2")
    actions = [r.action for r in rows if r.action.startswith("subscription.")]
    assert sorted(actions) == sorted(["subscription.pause", "subscription.resume",
                                      "subscription.cancel", "subscription.resume"])  # fmt: skip


@pytest.mark.anyio
async def test_the_charges_list_pages_through_every_charge_once(world: World) -> None:
    """230 charges, many written in the same instant: three pages, each key once, newest first."""
    records = world.engine.charges.records
    made = {f"page-{n:04d}" for n in range(230)}
    for key in sorted(made):
        records.claim(key, ChargeRequest(company="usmf", invoice_number="CIV-000101"))
    web = await signed_in(world, "vera", "viewer")
    address, seen, pages = "/charges", [], 0
    while address and pages < 5:  # a pager that repeats itself must fail here, not hang
        shown = await web.get(address)
        assert shown.status_code == 200
        seen += re.findall(r'<td><a href="/charges/(page-\d{4})">', shown.text)
        older = re.search(r'href="([^"]+)" data-testid="charges-older"', shown.text)
        address = older.group(1).replace("&amp;", "&") if older else ""
        pages += 1
        if pages > 1:
            assert 'data-testid="charges-newest"' in shown.text
    assert pages == 3
    assert len(seen) == len(made) and set(seen) == made  # none twice, none missing
    newest = [(r.updated_at, r.key) for r in records.recent(limit=300)]
    assert [k for _, k in newest] == seen  # the pages in the list's own order


@pytest.mark.anyio
async def test_a_subscription_period_in_doubt_is_listed_with_the_charges_in_doubt(
    world: World,
) -> None:
    """The billing run's sale is committed in PayTrace but its answer is lost: the period shows
    in the in-doubt list until the next run looks it up; then it is gone from the list."""
    start = world.clock.now().date() - timedelta(days=1)
    sub = world.engine.subscriptions.add(NewSubscription(
        customer_id="SHOP-1", amount=Money.of("19.99", "USD"),
        schedule=Schedule(frequency=Frequency("monthly"), start=start, count=12),
    ))  # fmt: skip
    world.pt_app.state.faults.script("commit_then_drop", path="/v1/transactions/sale/by_customer")
    assert "1 in_doubt" in await world.engine.billing.run()
    web = await signed_in(world, "vera", "viewer")
    listed = await web.get("/charges?status=in_doubt")
    assert 'data-testid="periods-in-doubt"' in listed.text
    assert f'href="/subscriptions/{sub.id}"' in listed.text and "19.99 USD" in listed.text
    assert "No charges in doubt." in listed.text  # the API charges' own list is still empty
    assert "1 approved" in await world.engine.billing.run()  # looked up, found, not re-sent
    listed = await web.get("/charges?status=in_doubt")
    assert 'data-testid="periods-in-doubt"' not in listed.text
