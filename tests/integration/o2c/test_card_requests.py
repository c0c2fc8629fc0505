"""Card-on-file requests through the API `paybridge serve` builds, against both sandboxes.

A customer created first in D365 has no PayTrace profile (PayTrace makes none without a card).
An operator issues a link; the page it opens carries PayTrace Protect's fields (here the PayTrace
sandbox's tokenize call plays the browser's part, as protect.min.js does); the token pair posted
back creates the profile once, links it, and writes its id and masked number to D365; the next
charge of the customer's invoice goes through. The browser itself is in tests/browser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from paybridge.app.api import build_api
from paybridge.connectors.paytrace import CustomerExportRequest
from paybridge.customers.settings import CardRequestSettings
from tests.conftest import asgi_client
from tests.integration.o2c.conftest import World, WorldFactory

pytestmark = pytest.mark.anyio
CARD = "5454545454545454"
BASE = "http://paybridge.test"


async def tokenize(world: World, number: str = CARD) -> dict[str, str]:
    """What protect.min.js hands the page after the customer typed a card into PayTrace's fields."""
    reply = await world.pt_http.post(
        "/_sandbox/protect/tokenize",
        json={
            "credit_card": {"number": number, "expiration_month": 12, "expiration_year": 2030},
            "csc": "999",
        },
    )
    reply.raise_for_status()
    return {k: str(v) for k, v in reply.json().items()}


@pytest.fixture
async def served(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[World, httpx.AsyncClient, dict[str, str]]]:
    monkeypatch.setenv("PB_CARD_LINK_SECRET", "a long random secret for card links")
    cards = CardRequestSettings(
        link_secret=SecretStr("env:PB_CARD_LINK_SECRET"), public_url=BASE,
        link_field="CredManNotes",
    )  # fmt: skip
    world = await make_world(cards=cards)
    operator = world.engine.security.api_keys.create("operator", label="test").token
    async with asgi_client(build_api(world.engine), BASE) as api:
        yield world, api, {"Authorization": f"Bearer {operator}"}


async def customer(world: World, account: str) -> dict[str, Any]:
    row = await world.engine.dynamics.get(
        "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": account}
    )
    assert row is not None
    return row


async def test_a_d365_first_customer_gets_a_card_on_file_and_is_charged(
    served: tuple[World, httpx.AsyncClient, dict[str, str]], tmp_path: Path
) -> None:
    world, api, operator = served
    body = {"company": "usmf", "account": "US-004"}
    assert (await api.post("/v1/card-requests", json=body)).status_code == 401
    issued = await api.post("/v1/card-requests", json=body, headers=operator)
    assert issued.status_code == 201, issued.text
    link = issued.json()
    assert link["url"].startswith(f"{BASE}/card/") and link["written_to"] == "CredManNotes"
    assert (await customer(world, "US-004"))["CredManNotes"] == link["url"]
    path = link["url"].removeprefix(BASE)

    page = await api.get(path)
    assert page.status_code == 200
    assert "Cave Wholesales" in page.text and 'id="pt_hpf_form"' in page.text
    assert "https://protect.paytrace.com/js/protect.min.js" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"

    attached = await api.post(path, json=await tokenize(world))
    assert attached.status_code == 201, attached.text
    assert attached.json() == {
        "masked_card": attached.json()["masked_card"],
        "profile_id": "US-004",
        "message": f"Thank you: card {attached.json()['masked_card']} is on file.",
    }
    assert attached.json()["masked_card"].endswith("5454")
    row = await customer(world, "US-004")
    assert row["MerchantID"] == "US-004"
    assert row["SalesMemo"] == f"PayTrace card {attached.json()['masked_card']}"
    (profile,) = await world.engine.paytrace.export_customers(
        CustomerExportRequest(customer_id="US-004")
    )
    assert profile.billing_address is not None and profile.billing_address.name == "Cave Wholesales"
    assert world.engine.store.xref.get("paytrace_customer", "US-004") == "usmf/US-004"

    again = await api.post(path, json=await tokenize(world, "4012000098765439"))
    assert again.status_code == 410 and again.json()["error"]["fields"] == {"link": "used"}
    assert (await api.get(path)).status_code == 410

    charge = await api.post(
        "/v1/charges", json={"company": "usmf", "invoice_number": "CIV-000104", "amount": "20.00"},
        headers={**operator, "Idempotency-Key": "card-on-file-1"},
    )  # fmt: skip
    assert charge.status_code == 201, charge.text
    assert charge.json()["status"] == "approved"
    await world.drain()
    (line,) = await world.lines(f"PT-{charge.json()['transaction_id']}-sale")
    assert line["MarkedInvoice"] == "CIV-000104"

    stored = b"".join(p.read_bytes() for p in tmp_path.glob("pb*.db*"))
    assert CARD.encode() not in stored
    audit = [e.action for e in world.engine.security.audit.search(action="card")]
    assert "card_request.create" in audit and "card.attach" in audit


async def test_a_link_that_is_forged_expired_or_refused_puts_nothing_on_file(
    served: tuple[World, httpx.AsyncClient, dict[str, str]],
) -> None:
    world, api, operator = served
    issued = await api.post(
        "/v1/card-requests", json={"company": "usmf", "account": "US-006"}, headers=operator
    )
    path = issued.json()["url"].removeprefix(BASE)
    version, payload, signature = path.removeprefix("/card/").split(".")
    forged = f"/card/{version}.{payload}.{'A' * len(signature)}"
    assert (await api.get(forged)).status_code == 404
    refused = await api.post(path, json={"hpf_token": "not-a-token", "enc_key": "bad"})
    assert refused.status_code == 422, refused.text  # PayTrace refused the token pair
    assert (await api.get(path)).status_code == 200  # nothing on file: the link still works
    unknown = await api.post(
        "/v1/card-requests", json={"company": "usmf", "account": "NOPE-1"}, headers=operator
    )
    assert unknown.status_code == 422
    world.clock.advance(72 * 3600 + 1)
    assert (await api.get(path)).status_code == 410
    late = await api.post(path, json=await tokenize(world))
    assert late.status_code == 410 and late.json()["error"]["fields"] == {"link": "expired"}
    assert world.engine.store.xref.source_for("paytrace_customer", "usmf/US-006") is None
