"""POST /v1/events: signed, verified against PayTrace, and the same facts as the poller's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from paybridge.connectors.paytrace import CustomerSaleRequest, VoidRequest
from tests.integration.charging.conftest import ChargeWorld, open_profile

pytestmark = pytest.mark.anyio


async def sale(world: ChargeWorld, amount: str = "20.00") -> int:
    await open_profile(world.engine, "WEB-1", "US-001")
    reply = await world.engine.paytrace.sale_by_customer(
        CustomerSaleRequest(customer_id="WEB-1", amount=Decimal(amount), invoice_id="WEB-ORDER-1")
    )
    return reply.transaction_id


async def post_event(world: ChargeWorld, body: dict[str, Any], webhook_id: str) -> Any:
    raw, headers = world.signed(body, webhook_id)
    return await world.api.post("/v1/events", content=raw, headers=headers)


def payment_messages(world: ChargeWorld, key: str) -> list[dict[str, Any]]:
    return [s for s in world.engine.store.ledger.sightings(key) if s["message"] is not None]


async def test_a_verified_event_publishes_the_poller_fact_and_a_poll_is_a_duplicate(
    world: ChargeWorld,
) -> None:
    tid = await sale(world)
    response = await post_event(
        world, {"type": "payment.processed", "transaction_id": tid}, "msg_1"
    )
    assert response.status_code == 202, response.text
    key = f"paytrace:{tid}:sale"
    assert response.json()["facts"] == [{"key": key, "kind": "sale", "new": True}]
    (seen,) = world.engine.store.ledger.sightings(key)
    assert seen["source"] == "event"

    result = await world.engine.ingest.poll_once()
    assert result.duplicates == 1 and result.new == 0
    (message,) = payment_messages(world, key)
    assert message["duplicates"] == 1
    accepted = world.security.audit.search(action="event.accepted")
    assert accepted and accepted[0].target == f"paytrace:{tid}"


async def test_an_event_after_the_poll_is_acknowledged_as_a_duplicate(world: ChargeWorld) -> None:
    tid = await sale(world)
    await world.engine.ingest.poll_once()
    response = await post_event(
        world, {"type": "payment.processed", "transaction_id": tid}, "msg_2"
    )
    assert response.status_code == 202
    assert response.json()["facts"][0]["new"] is False
    assert len(payment_messages(world, f"paytrace:{tid}:sale")) == 1


async def test_a_void_event_publishes_every_state_paytrace_shows(world: ChargeWorld) -> None:
    tid = await sale(world)
    await world.engine.paytrace.void(VoidRequest(transaction_id=tid))
    response = await post_event(world, {"type": "payment.voided", "transaction_id": tid}, "msg_3")
    assert response.status_code == 202
    kinds = [(f["kind"], f["new"]) for f in response.json()["facts"]]
    assert kinds == [("sale", True), ("void", True)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "payment.refunded"}, "type"),  # a sale, not a refund
        ({"type": "payment.voided"}, "type"),
    ],
)
async def test_a_claim_paytrace_contradicts_is_422_and_audited(
    world: ChargeWorld, body: dict[str, Any], field: str
) -> None:
    tid = await sale(world)
    response = await post_event(world, {**body, "transaction_id": tid}, f"msg_c_{body['type']}")
    assert response.status_code == 422
    assert "sale" in response.json()["error"]["fields"][field]
    assert world.engine.store.ledger.sightings(f"paytrace:{tid}:") == []
    (refused,) = world.security.audit.search(action="event.refused")
    assert refused.outcome == "contradicted" and refused.target == f"paytrace:{tid}"


async def test_an_unknown_transaction_is_422(world: ChargeWorld) -> None:
    response = await post_event(
        world, {"type": "payment.processed", "transaction_id": 999999999}, "msg_unknown"
    )
    assert response.status_code == 422
    assert "transaction_id" in response.json()["error"]["fields"]


async def test_a_declined_sale_is_not_a_processed_payment(world: ChargeWorld) -> None:
    await open_profile(world.engine, "WEB-2", "US-002")
    from paybridge.errors import DeclinedError

    with pytest.raises(DeclinedError) as declined:
        await world.engine.paytrace.sale_by_customer(
            CustomerSaleRequest(customer_id="WEB-2", amount=Decimal("0.29"))
        )
    tid = int(declined.value.transaction_id or 0)
    response = await post_event(
        world, {"type": "payment.processed", "transaction_id": tid}, "msg_declined"
    )
    assert response.status_code == 422
    assert "decline" in response.json()["error"]["fields"]["type"]


async def test_a_bad_signature_is_401_and_nothing_is_published(world: ChargeWorld) -> None:
    tid = await sale(world)
    raw, headers = world.signed({"type": "payment.processed", "transaction_id": tid}, "msg_x")
    headers["webhook-signature"] = "v1," + "A" * 44
    response = await world.api.post("/v1/events", content=raw, headers=headers)
    assert response.status_code == 401
    assert world.engine.store.ledger.sightings(f"paytrace:{tid}:") == []


async def test_a_stale_timestamp_is_401(world: ChargeWorld) -> None:
    tid = await sale(world)
    raw, headers = world.signed({"type": "payment.processed", "transaction_id": tid}, "msg_old")
    world.clock.advance(301)
    response = await world.api.post("/v1/events", content=raw, headers=headers)
    assert response.status_code == 401


async def test_a_replayed_webhook_id_is_409(world: ChargeWorld) -> None:
    tid = await sale(world)
    body = {"type": "payment.processed", "transaction_id": tid}
    first = await post_event(world, body, "msg_dup")
    second = await post_event(world, body, "msg_dup")
    assert first.status_code == 202 and second.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "payment.exploded", "transaction_id": 1}, "type"),
        ({"type": "payment.processed", "transaction_id": "x"}, "transaction_id"),
        ({"type": "payment.processed", "transaction_id": -5}, "transaction_id"),
        ({"type": "payment.processed"}, "transaction_id"),
        ({"type": "payment.processed", "transaction_id": 1, "extra": 1}, "extra"),
    ],
)
async def test_a_bad_body_is_422_naming_the_field(
    world: ChargeWorld, body: dict[str, Any], field: str
) -> None:
    response = await post_event(world, body, f"msg_bad_{field}_{len(body)}")
    assert response.status_code == 422
    assert field in response.json()["error"]["fields"]


async def test_a_charge_and_an_event_for_it_make_one_payment_message(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-1", "US-001")
    charged = await world.api.post(
        "/v1/charges",
        json={"company": "usmf", "invoice_number": "CIV-000101", "amount": "30.00"},
        headers=world.headers(key="k-evt"),
    )
    tid = int(charged.json()["transaction_id"])
    response = await post_event(
        world, {"type": "payment.processed", "transaction_id": tid}, "msg_own"
    )
    assert response.json()["facts"] == [
        {"key": f"paytrace:{tid}:sale", "kind": "sale", "new": False}
    ]
    await world.engine.ingest.poll_once()
    (message,) = payment_messages(world, f"paytrace:{tid}:sale")
    assert message["source"] == "api" and message["duplicates"] == 2


async def test_a_signed_body_that_is_not_an_event_is_an_audit_row(world: ChargeWorld) -> None:
    response = await post_event(world, {"type": "payment.processed", "transaction_id": "x"}, "m9")
    assert response.status_code == 422
    (row,) = world.security.audit.search(action="event.refused")
    assert row.outcome == "invalid" and row.actor == "webhook:storefront"
    assert '"webhook_id": "m9"' in row.detail and "transaction_id" in row.detail
