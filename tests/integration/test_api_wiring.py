"""The API as `paybridge serve` builds it: security, charges, and one D365 line per approved charge."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paybridge.app.api import build_api
from tests.conftest import asgi_client
from tests.integration import test_order_to_cash as o2c
from tests.integration.test_order_to_cash import World, drain, lines_by_reference, open_profile

world = o2c.world  # the same two-sandbox world as the order-to-cash tests


@pytest.mark.anyio
async def test_a_charge_through_the_served_api_posts_once(world: World) -> None:
    engine = world.engine
    await open_profile(engine, "SHOP-API", "US-001")
    invoices = await engine.dynamics.query("SalesInvoiceHeadersV2", None)
    invoice = next(i for i in invoices if i["InvoiceCustomerAccountNumber"] == "US-001")
    operator = engine.security.api_keys.create("operator", label="test").token
    viewer = engine.security.api_keys.create("viewer", label="test").token
    body = {"company": "usmf", "invoice_number": invoice["InvoiceNumber"], "amount": "10.00"}

    async with asgi_client(build_api(engine), "http://paybridge.test") as api:
        assert (await api.get("/health")).status_code == 200
        anonymous = await api.post("/v1/charges", json=body, headers={"Idempotency-Key": "k-1"})
        assert anonymous.status_code == 401
        too_low = await api.post(
            "/v1/charges",
            json=body,
            headers={"Idempotency-Key": "k-1", "Authorization": f"Bearer {viewer}"},
        )
        assert too_low.status_code == 403
        headers = {"Idempotency-Key": "k-1", "Authorization": f"Bearer {operator}"}
        first = await api.post("/v1/charges", json=body, headers=headers)
        again = await api.post("/v1/charges", json=body, headers=headers)
        card = await api.post(
            "/v1/charges", json={**body, "note": "4012 0000 9876 5439"}, headers=headers
        )
        assert (await api.get("/v1/events")).status_code in (404, 405)  # no secrets: not served

    assert first.status_code == 201, first.text
    replayed = again.json()
    assert again.status_code == 201
    assert (replayed["transaction_id"], replayed["status"]) == (
        first.json()["transaction_id"],
        first.json()["status"],
    )
    assert card.status_code == 422 and "4012" not in card.text
    tx = str(first.json()["transaction_id"])
    await drain(engine)
    (line,) = (await lines_by_reference(engine))[tx]
    assert Decimal(str(line["CreditAmount"])) == Decimal("10.00")
    assert line["MarkedInvoice"] == invoice["InvoiceNumber"]


@pytest.mark.anyio
async def test_the_served_api_takes_up_a_rotated_webhook_secret(world: World) -> None:
    """`paybridge webhooks rotate` reaches a running server: no restart, old and new overlap."""
    from datetime import timedelta

    from pydantic import SecretStr

    from paybridge.app.settings import WebSettings
    from paybridge.security.keyring import Keyring
    from paybridge.security.webhooks import SECRET_REFRESH, new_secret, rotate_secret, sign

    engine = world.engine
    engine.security.keyring = Keyring.of([bytes(range(32))])
    old, new = new_secret(), new_secret()
    engine.security.vault.set("webhook.storefront", old)
    refs = {"storefront": [SecretStr("vault:webhook.storefront")]}
    engine.settings = engine.settings.model_copy(update={"web": WebSettings(event_secrets=refs)})
    body = b'{"type": "not-an-event"}'

    async def status(secret: str, webhook_id: str) -> int:
        ts = int(world.clock.now().timestamp())
        headers = {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(secret, webhook_id, ts, body),
            "content-type": "application/json",
        }
        return (await api.post("/v1/events", content=body, headers=headers)).status_code

    async with asgi_client(build_api(engine), "http://paybridge.test") as api:
        assert await status(old, "w1") == 422  # signature good, body not an event
        assert await status(new, "w2") == 401
        rotate_secret(
            engine.security.vault, "webhook.storefront", new,
            overlap=timedelta(hours=1), now=world.clock.now(),
        )  # fmt: skip
        world.clock.advance(SECRET_REFRESH.total_seconds() + 1)
        assert await status(new, "w3") == 422 and await status(old, "w4") == 422
        world.clock.advance(3600)
        assert await status(new, "w5") == 422 and await status(old, "w6") == 401
