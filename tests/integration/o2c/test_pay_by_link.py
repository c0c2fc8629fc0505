"""Pay-by-link through the API `paybridge serve` builds, against both sandboxes in-process.

An operator issues a link for an open D365 invoice; its page shows the open amount and PayTrace
Protect's fields (the PayTrace sandbox's tokenize call plays the browser's part, as
protect.min.js does); the token pair posted back charges the open amount once, through the
charge machinery, and order-to-cash posts the payment marked against the invoice. The customer
needs no PayTrace profile. The browser itself is in tests/browser/test_pay_by_link.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from paybridge.app.api import build_api
from paybridge.charging.settings import PayLinkSettings
from tests.conftest import asgi_client
from tests.integration.o2c.conftest import World, WorldFactory
from tests.integration.o2c.test_card_requests import CARD, tokenize

pytestmark = pytest.mark.anyio
BASE = "http://paybridge.test"
PROTECT_SALE = "/v1/transactions/sale/pt_protect"
Served = tuple[World, httpx.AsyncClient, dict[str, str]]


@pytest.fixture
async def served(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Served]:
    monkeypatch.setenv("PB_PAY_LINK_SECRET", "a long random secret for pay links")
    paylinks = PayLinkSettings(
        link_secret=SecretStr("env:PB_PAY_LINK_SECRET"), public_url=BASE, order_field="URL"
    )
    world = await make_world(paylinks=paylinks)
    operator = world.engine.security.api_keys.create("operator", label="test").token
    async with asgi_client(build_api(world.engine), BASE) as api:
        yield world, api, {"Authorization": f"Bearer {operator}"}


async def issue(api: httpx.AsyncClient, operator: dict[str, str], invoice: str) -> str:
    issued = await api.post(
        "/v1/paylinks", json={"company": "usmf", "invoice": invoice}, headers=operator
    )
    assert issued.status_code == 201, issued.text
    return str(issued.json()["url"]).removeprefix(BASE)


def sales_of(world: World, invoice: str) -> list[object]:
    state = world.pt_app.state.sandbox.state
    return [t for t in state.transactions.values() if t.invoice_id == invoice]


async def test_an_invoice_is_paid_by_link_once_and_posted_against_the_invoice(
    served: Served, tmp_path: Path
) -> None:
    world, api, operator = served
    body = {"company": "usmf", "invoice": "CIV-000104"}
    assert (await api.post("/v1/paylinks", json=body)).status_code == 401
    issued = await api.post("/v1/paylinks", json=body, headers=operator)
    assert issued.status_code == 201, issued.text
    link = issued.json()
    assert link["url"].startswith(f"{BASE}/pay/p1.") and link["written_to"] == "URL"
    assert (await world.order("000604"))["URL"] == link["url"]  # for the invoice e-mail
    path = link["url"].removeprefix(BASE)

    page = await api.get(path)
    assert page.status_code == 200
    assert "CIV-000104" in page.text and "2,005.00 USD" in page.text
    assert 'id="pt_hpf_form"' in page.text and page.headers["referrer-policy"] == "no-referrer"

    paid = await api.post(path, json=await tokenize(world))
    assert paid.status_code == 201, paid.text
    answer = paid.json()
    assert answer["status"] == "approved" and answer["amount"] == "2005.00"
    assert answer["masked_card"].endswith("5454") and "2,005.00 USD paid" in answer["message"]
    again = await api.post(path, json=await tokenize(world))  # a double submit
    assert again.status_code == 201 and again.json()["transaction_id"] == answer["transaction_id"]
    (sale,) = sales_of(world, "CIV-000104")
    assert "PayBridge charge paylink." in sale.description  # type: ignore[attr-defined]

    await world.drain()
    (line,) = await world.lines(f"PT-{answer['transaction_id']}-sale")
    assert line["MarkedInvoice"] == "CIV-000104" and line["AccountDisplayValue"] == "US\\-004"
    assert Decimal(str(line["CreditAmount"])) == Decimal("2005.00")

    shown = await api.get(path)
    assert shown.status_code == 200 and "This invoice is paid" in shown.text
    assert 'id="pt_hpf_form"' not in shown.text
    second = await api.post("/v1/paylinks", json=body, headers=operator)
    assert second.status_code == 422 and "is paid" in second.json()["error"]["fields"]["invoice"]
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("pb*.db*"))
    assert CARD.encode() not in stored
    actions = [e.action for e in world.engine.security.audit.search(action="paylink")]
    assert "paylink.create" in actions and "paylink.pay" in actions


async def test_two_links_and_two_submits_at_once_charge_the_open_amount_once(
    served: Served,
) -> None:
    world, api, operator = served
    first, other = (
        await issue(api, operator, "CIV-000102"),
        await issue(api, operator, "CIV-000102"),
    )
    tokens = [await tokenize(world) for _ in range(4)]
    answers = await asyncio.gather(
        api.post(first, json=tokens[0]), api.post(first, json=tokens[1]),
        api.post(other, json=tokens[2]), api.post(other, json=tokens[3]),
    )  # fmt: skip
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) >= 1 and set(codes) <= {201, 409}, [a.text for a in answers]
    approved = [t for t in sales_of(world, "CIV-000102") if t.status != "declined"]  # type: ignore[attr-defined]
    assert len(approved) == 1
    ids = {a.json().get("transaction_id") for a in answers if a.status_code == 201}
    assert ids == {str(approved[0].transaction_id)}  # type: ignore[attr-defined]
    for path in (first, other):
        assert "This invoice is paid" in (await api.get(path)).text


async def test_a_lost_reply_is_looked_up_never_charged_twice(served: Served) -> None:
    world, api, operator = served
    path = await issue(api, operator, "CIV-000103")
    world.pt_app.state.faults.script("commit_then_drop", path=PROTECT_SALE)
    lost = await api.post(path, json=await tokenize(world))
    assert lost.status_code == 202, lost.text
    assert "being confirmed" in (await api.get(path)).text
    busy = await api.post(path, json=await tokenize(world))
    assert busy.status_code in (201, 409), busy.text  # looked up, never resent
    await world.drain()  # the charge.resolve message finds it
    assert "This invoice is paid" in (await api.get(path)).text
    (sale,) = sales_of(world, "CIV-000103")
    (line,) = await world.lines(f"PT-{sale.transaction_id}-sale")  # type: ignore[attr-defined]
    assert line["MarkedInvoice"] == "CIV-000103"


async def test_a_decline_lets_the_customer_try_again_under_a_new_key(served: Served) -> None:
    world, api, operator = served
    # Leave 1.12 open on the invoice (PayTrace's sandbox declines that amount).
    path = await issue(api, operator, "CIV-000101")
    await world.profile("SHOP-1", "US-001")
    part = await api.post(
        "/v1/charges", json={"company": "usmf", "invoice_number": "CIV-000101", "amount": "998.88"},
        headers={**operator, "Idempotency-Key": "part-1"},
    )  # fmt: skip
    assert part.status_code == 201, part.text
    assert "1.12 USD" in (await api.get(path)).text
    declined = await api.post(path, json=await tokenize(world))
    assert declined.status_code == 402 and "declined" in declined.json()["error"]["message"]
    retried = await api.post(path, json=await tokenize(world))
    assert retried.status_code == 402  # a second attempt, a second (declined) charge
    keys = {
        r.description.split()[2] for r in sales_of(world, "CIV-000101") if r.status == "declined"
    }  # type: ignore[attr-defined]
    assert len(keys) == 2 and all(k.startswith("paylink.") for k in keys)
    assert 'id="pt_hpf_form"' in (await api.get(path)).text  # still payable


async def test_a_forged_tampered_or_expired_link_charges_nothing(served: Served) -> None:
    world, api, operator = served
    path = await issue(api, operator, "CIV-000105")
    version, payload, signature = path.removeprefix("/pay/").split(".")
    forged = f"/pay/{version}.{payload}.{'A' * len(signature)}"
    page = await api.get(forged)
    assert page.status_code == 404 and "cannot be used" in page.text
    card_link = f"/pay/c1.{payload}.{signature}"  # another kind of link: not a pay link
    assert (await api.get(card_link)).status_code == 404
    refused = await api.post(forged, json=await tokenize(world))
    assert refused.status_code == 404 and refused.json()["error"]["fields"] == {"link": "invalid"}
    unknown = await api.post(
        "/v1/paylinks", json={"company": "usmf", "invoice": "NOPE-1"}, headers=operator
    )
    assert unknown.status_code == 422 and "invoice_number" in unknown.json()["error"]["fields"]
    world.clock.advance(336 * 3600 + 1)
    assert (await api.get(path)).status_code == 410
    late = await api.post(path, json=await tokenize(world))
    assert late.status_code == 410 and late.json()["error"]["fields"] == {"link": "expired"}
    assert sales_of(world, "CIV-000105") == []


async def test_with_pay_links_off_a_link_is_refused_and_none_is_issued(
    make_world: WorldFactory,
) -> None:
    world = await make_world()  # no paylinks.link_secret
    operator = world.engine.security.api_keys.create("operator", label="test").token
    async with asgi_client(build_api(world.engine), BASE) as api:
        issued = await api.post(
            "/v1/paylinks", json={"company": "usmf", "invoice": "CIV-000101"},
            headers={"Authorization": f"Bearer {operator}"},
        )  # fmt: skip
        assert issued.status_code == 500 and "paylinks.link_secret" in issued.text
        page = await api.get("/pay/p1.eyJjIjoidXNtZiJ9.c2lnbmF0dXJl")
        assert page.status_code == 404 and "cannot be used" in page.text
        paid = await api.post("/pay/p1.eyJjIjoidXNtZiJ9.c2lnbmF0dXJl", json=await tokenize(world))
        assert paid.status_code == 404
    assert sales_of(world, "CIV-000101") == []
