"""Declines put the order on hold with the reason in words; a released hold and an expiring
authorization are authorized again; the maker-checker of refunds over HTTP, audited."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from paybridge.app.api import build_api
from paybridge.connectors.paytrace import Address, CreditCard, CustomerCreateRequest
from tests.conftest import asgi_client
from tests.integration.orders.world import World, open_world

pytestmark = pytest.mark.anyio


def auths(world: World) -> list[tuple[str, str, Decimal]]:
    txns = sorted(world.paytrace().transactions.values(), key=lambda t: t.transaction_id)
    return [(t.transaction_type, t.status, t.authorized_amount) for t in txns]


async def vault_card(world: World, profile: str, account: str, month: int, year: int) -> None:
    await world.engine.paytrace.create_customer(CustomerCreateRequest(
        customer_id=profile, billing_address=Address(name="Card Holder", zip="98101"),
        credit_card=CreditCard(number=SecretStr("5499740000000057"), expiration_month=month,
                               expiration_year=year),
    ))  # fmt: skip
    world.engine.store.xref.link("paytrace_customer", profile, f"usmf/{account}")


async def test_a_decline_holds_the_order_with_the_reason_and_a_release_tries_again(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as world:
        order, lots = await world.order("US-001", (1, "1.12"))  # the sandbox declines 1.12
        await world.step()
        held = await world.header(order)
        # A person fixes the price and releases the hold (F&O: the order's hold is lifted).
        await world.engine.dynamics.update(
            "SalesOrderLinesV3", {"dataAreaId": "usmf", "InventoryLotId": lots[0]},
            {"SalesPrice": Decimal("1.50")},
        )  # fmt: skip
        await world.engine.dynamics.update(
            "SalesOrderHeadersV2", {"dataAreaId": "usmf", "SalesOrderNumber": order},
            {"IsSalesProcessingStopped": "No"},
        )  # fmt: skip
        await world.step()
        released = await world.header(order)
        row = world.engine.orders.book.get("usmf", order)
    assert held["IsSalesProcessingStopped"] == "Yes"
    assert "Do not honor" in held["CustomersOrderReference"]
    # The total is read once, at first sight: the second try asks for the same 1.12 and is
    # declined again, so the order stays held with the reason; nothing was authorized twice.
    assert [a[1] for a in auths(world)] == ["declined", "declined"]
    assert released["IsSalesProcessingStopped"] == "Yes"
    assert row is not None and row.state == "declined" and row.auth_number == 2


async def test_an_expired_card_and_a_missing_card_hold_the_order_in_words(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        await vault_card(world, "C-2002", "US-002", 6, 2026)  # the clocks read 15 July 2026
        expired, _ = await world.order("US-002", (1, "40"))
        missing, _ = await world.order("US-003", (1, "40"))
        other, _ = await world.order("US-004", (1, "40"), method="CHECK")
        await world.step()
        first, second = await world.header(expired), await world.header(missing)
        untouched = world.engine.orders.book.get("usmf", other)
    assert first["IsSalesProcessingStopped"] == "Yes"
    assert first["CustomersOrderReference"].startswith("card declined: The card has expired")
    assert second["IsSalesProcessingStopped"] == "Yes"
    assert second["CustomersOrderReference"].startswith("no card on file for customer US-003")
    assert untouched is None
    assert [a[1] for a in auths(world)] == ["declined"]


async def test_an_authorization_is_renewed_before_it_expires_and_the_old_one_voided(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path) as world:
        order, _ = await world.order("US-001", (2, "30"))
        await world.step()
        first = world.engine.orders.book.get("usmf", order)
        world.clock.advance(timedelta(days=6, hours=1).total_seconds())  # VISA: 7 days, 1 before
        world.pt_app.state.sandbox.clock.advance(timedelta(days=6, hours=1).total_seconds())
        await world.step()
        second = world.engine.orders.book.get("usmf", order)
        header = await world.header(order)
    assert first is not None and second is not None
    assert first.brand == "VISA" and first.auth_expires_at is not None
    assert second.auth_number == 2 and second.auth_id != first.auth_id
    assert header["CustomerRequisitionNumber"] == second.auth_id
    assert [a[1] for a in auths(world)] == ["voided", "auth_only"]


async def test_a_refund_above_the_threshold_waits_for_a_second_operator(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        order, lots = await world.order("US-001", (2, "50"))
        await world.step()
        await world.invoice(order)
        await world.step()
        world.settle()
        note = await world.credit(order, lots[0], 2)  # 100 > orders.refund_approval_above 40
        await world.step()
        keys = world.engine.security.api_keys
        maker, checker, viewer = (keys.create(r) for r in ("operator", "operator", "viewer"))
        api = build_api(world.engine)
        rid = f"d365:usmf:{note['InvoiceNumber']}:refund"
        async with asgi_client(api, "http://pb.test") as http:

            def h(k: object) -> dict[str, str]:
                return {"Authorization": f"Bearer {k.token}"}  # type: ignore[attr-defined]

            waiting = (await http.get("/v1/refunds", params={"status": "awaiting_approval"},
                                      headers=h(viewer))).json()  # fmt: skip
            by_viewer = await http.post(f"/v1/refunds/{rid}/approve", headers=h(viewer))
            manual = await http.post("/v1/refunds", headers=h(maker), json={
                "company": "usmf", "order": order, "amount": "60", "currency": "USD",
                "idempotency_key": "goodwill-1"})  # fmt: skip
            await world.step()
            mid = manual.json()["request_id"]
            own = await http.post(f"/v1/refunds/{mid}/approve", headers=h(maker))
            approved = await http.post(f"/v1/refunds/{rid}/approve", headers=h(checker))
            twice = await http.post(f"/v1/refunds/{rid}/approve", headers=h(maker))
            unknown = await http.post("/v1/refunds/d365:usmf:NOPE:refund/approve", headers=h(maker))
        await world.step()
        refunds = [t.amount for t in world.paytrace().transactions.values()
                   if t.transaction_type == "REFUND"]  # fmt: skip
        audit = [(e.action, e.outcome) for e in world.engine.security.audit.search()]
        requests = {r.request_id: r for r in world.engine.orders.book.refunds()}
    assert [r["request_id"] for r in waiting["refunds"]] == [rid]
    assert by_viewer.status_code == 403
    assert manual.status_code == 202
    # The manual 60 does not fit: the credit note's 100 already took the whole capture.
    assert requests[mid].status == "refused"
    assert own.status_code == 409
    assert approved.status_code == 200 and approved.json()["decided_by"].startswith("key:")
    assert twice.status_code == 409 and unknown.status_code == 404
    assert refunds == [Decimal("100.00")]
    assert requests[rid].status == "refunded"
    assert ("refund.request", "awaiting_approval") in audit and ("refund.approve", "ok") in audit
