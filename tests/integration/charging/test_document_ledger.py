"""A document is never charged beyond what is open: PayBridge counts its own charges first (issue 13, 1-2)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.charging.conftest import ChargeWorld, open_profile

pytestmark = pytest.mark.anyio
SALE_PATH = "/v1/transactions/sale/by_customer"


def invoice(number: str, **extra: Any) -> dict[str, Any]:
    return {"company": "usmf", "invoice_number": number, **extra}


async def post(world: ChargeWorld, key: str, body: dict[str, Any]) -> Any:
    return await world.api.post("/v1/charges", json=body, headers=world.headers(key=key))


async def test_a_second_key_cannot_charge_a_paid_invoice_again(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-2", "US-002")
    first = await post(world, "k-1", invoice("CIV-000102"))
    assert first.status_code == 201 and first.json()["amount"]["amount"] == "2500.50"
    # D365 still shows the invoice open (the payment line is not posted yet); PayBridge knows.
    again = await post(world, "k-2", invoice("CIV-000102"))
    assert again.status_code == 422, again.text
    assert "nothing is open" in again.text
    explicit = await post(world, "k-3", invoice("CIV-000102", amount="2500.50"))
    assert explicit.status_code == 422
    refusal = explicit.json()["error"]["fields"]["amount"]
    assert "2500.50 USD exceeds" in refusal and "D365 open 2500.50" in refusal
    assert "charges 2500.50" in refusal
    assert len(world.paytrace_transactions("CIV-000102")) == 1


async def test_partial_charges_add_up_to_the_invoice_and_no_further(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-2", "US-002")
    assert (await post(world, "p-1", invoice("CIV-000102", amount="2000.00"))).status_code == 201
    rest = await post(world, "p-2", invoice("CIV-000102"))
    assert rest.status_code == 201 and rest.json()["amount"]["amount"] == "500.50"
    assert (await post(world, "p-3", invoice("CIV-000102", amount="0.01"))).status_code == 422


async def test_a_sales_order_is_authorized_once_for_its_total(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-5", "US-005")
    order = {"company": "usmf", "sales_order_number": "000605", "mode": "authorization"}
    assert (await post(world, "o-1", order)).status_code == 201
    for key in ("o-2", "o-3"):
        assert (await post(world, key, order)).status_code == 422
    assert len(world.paytrace_transactions("000605")) == 1


async def test_keys_racing_for_one_invoice_charge_it_once(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-2", "US-002")
    answers = await asyncio.gather(
        *(post(world, f"race-{n}", invoice("CIV-000102")) for n in range(4))
    )
    assert sorted(a.status_code for a in answers) == [201, 422, 422, 422]
    assert len(world.paytrace_transactions("CIV-000102")) == 1


async def test_a_declined_charge_frees_the_amount(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-2", "US-002")
    declined = await post(
        world, "d-1", invoice("CIV-000102", amount="1.12")
    )  # declines in the sandbox
    assert declined.status_code == 402
    assert (await post(world, "d-2", invoice("CIV-000102"))).json()["amount"]["amount"] == "2500.50"


async def test_retrying_an_open_key_after_the_invoice_was_paid_is_refused(
    world: ChargeWorld,
) -> None:
    await open_profile(world.engine, "SHOP-2", "US-002")
    world.pt_app.state.faults.script("reset", path=SALE_PATH)  # never reached PayTrace
    body = invoice("CIV-000102", amount="2500.50")
    assert (await post(world, "late", body)).status_code == 202
    world.clock.advance(world.service.in_doubt_grace.total_seconds() + 1)
    assert await world.engine.worker.run_once() == 1  # looked up: absent, the key is open again
    assert (await post(world, "other", invoice("CIV-000102"))).status_code == 201
    retry = await post(world, "late", body)
    assert retry.status_code == 422, retry.text
    assert len(world.paytrace_transactions("CIV-000102")) == 1
