"""Level 2/3 data through the API `paybridge serve` builds, against both sandboxes in-process.

An invoice sale is checked before it is planned (PO, lines adding up to the amount, tax
plausible); under ``block`` an error refuses it (422, nothing sent), under ``warn`` the findings
go with the charge. After approval the Level 3 call (spec §5.9) goes to PayTrace once, to the
card's brand. The invoices with Level 2/3 data are put into the D365 sandbox as F&O's invoice
posting would leave them (header, lines, customer transaction, open item).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from paybridge.app.api import build_api
from paybridge.charging.settings import Level3Settings, PayLinkSettings
from paybridge.connectors.paytrace import Address, CreditCard, CustomerCreateRequest
from paybridge_sandbox.dynamics.seed import load_seed
from tests.conftest import asgi_client
from tests.integration.console.test_console_http import sign_in
from tests.integration.o2c.conftest import World, WorldFactory

pytestmark = pytest.mark.anyio
BASE = "http://paybridge.test"
MASTERCARD = "5499740000000057"
AMEX = "371449635392376"
Served = tuple[World, httpx.AsyncClient, dict[str, str]]
LINES = [("D0001", "Mid-Range Speaker", "4", "250", "1000.00"),
         ("L0001", "Laptop", "1", "1100", "1100.00")]  # fmt: skip


def add_invoice(
    world: World, number: str, account: str, *, po: str | None = "PO-4471",
    tax: str | None = "168.00", freight: str | None = "25.00", lines: list[Any] = LINES,
) -> Decimal:  # fmt: skip
    """An invoice as F&O's posting leaves it; returns its total."""
    total = sum((Decimal(line[4]) for line in lines), Decimal(0))
    total += Decimal(tax or 0) + Decimal(freight or 0)
    day = "2026-03-01T12:00:00Z"
    head = {"dataAreaId": "usmf", "InvoiceNumber": number, "InvoiceDate": day,
            "LedgerVoucher": f"ARI-{number}", "InvoiceCustomerAccountNumber": account,
            "CurrencyCode": "USD", "TotalInvoiceAmount": str(total),
            "CustomersOrderReference": po, "TotalTaxAmount": tax, "TotalChargeAmount": freight}  # fmt: skip
    rows = [
        {"dataAreaId": "usmf", "InvoiceNumber": number, "LineCreationSequenceNumber": n,
         "InvoiceDate": day, "LedgerVoucher": f"ARI-{number}", "ProductNumber": item,
         "ProductName": name, "InvoicedQuantity": qty, "SalesPrice": price,
         "SalesUnitSymbol": "ea", "LineAmount": amount, "CurrencyCode": "USD"}
        for n, (item, name, qty, price, amount) in enumerate(lines, start=1)
    ]  # fmt: skip
    trans = {"dataAreaId": "usmf", "AccountNum": account, "Invoice": number,
             "Voucher": f"ARI-{number}", "TransDate": day, "AmountCur": str(total),
             "AmountMST": str(total), "CurrencyCode": "USD", "TransType": "Sales",
             "SysDataAreaId": "usmf"}  # fmt: skip
    opened = {"dataAreaId": "usmf", "AccountNum": account, "_refInvoice": number,
              "TransDate": day, "AmountCur": str(total), "AmountMST": str(total),
              "SysDataAreaId": "usmf"}  # fmt: skip
    sandbox = world.d365_app.state.sandbox
    seed = {"sequences": {}, "rows": {"SalesInvoiceHeadersV2": [{k: v for k, v in head.items()
            if v is not None}], "SalesInvoiceV2Lines": rows, "CustTransactions": [trans],
            "CustTransOpens": [opened]}}  # fmt: skip
    load_seed(sandbox.store, sandbox.schema, seed)
    return total


async def card_profile(world: World, profile: str, account: str, number: str) -> None:
    await world.engine.paytrace.create_customer(
        CustomerCreateRequest(
            customer_id=profile,
            credit_card=CreditCard(number=SecretStr(number), expiration_month=12,
                                   expiration_year=2030),
            billing_address=Address(name="L3 Buyer", street_address="1 Main St", zip="98101"),
        )
    )  # fmt: skip
    world.engine.store.xref.link("paytrace_customer", profile, f"usmf/{account}")


@pytest.fixture
async def served(make_world: WorldFactory) -> AsyncIterator[Callable[..., Any]]:
    clients: list[httpx.AsyncClient] = []

    async def serve(on_failure: str = "warn") -> Served:
        world = await make_world(level3=Level3Settings(enabled=True, on_failure=on_failure))
        operator = world.engine.security.api_keys.create("operator", label="test").token
        api = asgi_client(build_api(world.engine), BASE)
        clients.append(api)
        return world, api, {"Authorization": f"Bearer {operator}"}

    yield serve
    for client in clients:
        await client.aclose()


def sale_of(world: World, invoice: str) -> Any:
    state = world.pt_app.state.sandbox.state
    (txn,) = [t for t in state.transactions.values() if t.invoice_id == invoice]
    return txn


async def charge(api: httpx.AsyncClient, headers: dict[str, str], key: str, **body: Any) -> Any:
    body = {"company": "usmf", **body}
    return await api.post("/v1/charges", json=body, headers={**headers, "Idempotency-Key": key})


async def test_a_clean_invoice_is_charged_with_level_2_and_its_lines_as_level_3(
    served: Callable[..., Any],
) -> None:
    world, api, operator = await served()
    total = add_invoice(world, "L3-0001", "US-006")
    await card_profile(world, "L3-VISA", "US-006", "4012000098765439")
    preview = await api.post(
        "/v1/level3/check", json={"company": "usmf", "invoice_number": "L3-0001"}, headers=operator
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["status"] == "ok", preview.json()
    assert preview.json()["line_items"] == 2
    assert preview.json()["amount"] == format(total, "f") == "2293.00"

    answer = await charge(api, operator, "l3-1", invoice_number="L3-0001")
    assert answer.status_code == 201, answer.text
    assert answer.json()["level3"] == {"status": "ok", "findings": [], "sent": "sent (visa)"}
    txn = sale_of(world, "L3-0001")
    assert txn.level3_line_items == 2
    assert txn.customer_reference_id == "PO4471" and txn.tax_amount == Decimal("168.00")
    state = await api.get("/v1/charges/l3-1", headers=operator)
    assert state.json()["level3"]["status"] == "ok"  # the findings are kept with the charge
    notes = {e.step: e.status for e in world.engine.store.ledger.entries("charge:l3-1")}
    assert notes["level3.preflight"] == "ok" and notes["paytrace.level3"] == "sent"


async def test_the_findings_show_on_the_payments_page_of_the_console(
    served: Callable[..., Any],
) -> None:
    world, api, operator = await served()
    add_invoice(world, "L3-0009", "US-004", po=None)
    await card_profile(world, "L3-C", "US-004", "4012000098765439")
    answer = await charge(api, operator, "l3-console", invoice_number="L3-0009")
    assert answer.status_code == 201, answer.text
    key = operator["Authorization"].removeprefix("Bearer ")
    async with asgi_client(build_api(world.engine), BASE) as web:  # a browser: a session cookie
        assert (await sign_in(web, api_key=key)).status_code == 303
        page = await web.get(f"/payments/{answer.json()['transaction_id']}")
    assert page.status_code == 200, page.text[:300]
    assert "level3" in page.text and "po_missing" not in page.text  # words, not codes
    assert "error CustomersOrderReference: no PO number" in page.text
    assert "sent (visa)" in page.text


async def test_mastercard_and_amex_go_to_their_own_brand_or_none(
    served: Callable[..., Any],
) -> None:
    world, api, operator = await served()
    add_invoice(world, "L3-0002", "US-007")
    add_invoice(world, "L3-0003", "US-008")
    await card_profile(world, "L3-MC", "US-007", MASTERCARD)
    await card_profile(world, "L3-AMEX", "US-008", AMEX)
    mc = await charge(api, operator, "l3-mc", invoice_number="L3-0002")
    assert mc.json()["level3"]["sent"] == "sent (mastercard)"
    assert sale_of(world, "L3-0002").level3_line_items == 2
    amex = await charge(api, operator, "l3-amex", invoice_number="L3-0003")
    assert amex.status_code == 201 and amex.json()["level3"]["sent"].startswith("not applicable")


async def test_findings_block_the_charge_under_block_and_name_their_fields(
    served: Callable[..., Any],
) -> None:
    world, api, operator = await served("block")
    add_invoice(world, "L3-0004", "US-009", po=None, tax="900.00")
    await card_profile(world, "L3-B", "US-009", "4012000098765439")
    refused = await charge(api, operator, "l3-b", invoice_number="L3-0004")
    assert refused.status_code == 422, refused.text
    fields = refused.json()["error"]["fields"]
    assert "CustomersOrderReference" in fields and "TotalTaxAmount" in fields
    assert world.pt_app.state.sandbox.state.transactions == {}  # nothing was sent
    partial = await charge(api, operator, "l3-p", invoice_number="L3-0004", amount="100.00")
    assert partial.status_code == 422 and "amount" in partial.json()["error"]["fields"]


async def test_findings_go_with_the_charge_under_warn(served: Callable[..., Any]) -> None:
    world, api, operator = await served("warn")
    # A line whose amount is not its quantity times its price, no PO, no tax, and less charged.
    bad_line = [("D0001", "Mid-Range Speaker", "4", "250", "990.00")]
    add_invoice(world, "L3-0005", "US-010", po=None, tax=None, freight=None, lines=bad_line)
    await card_profile(world, "L3-W", "US-010", "4012000098765439")
    answer = await charge(api, operator, "l3-w", invoice_number="L3-0005", amount="500.00")
    assert answer.status_code == 201, answer.text
    level3 = answer.json()["level3"]
    codes = {(f["code"], f["severity"]) for f in level3["findings"]}
    assert codes == {("po_missing", "error"), ("line_math", "warning"),
                     ("totals_differ", "error"), ("tax_missing", "warning")}  # fmt: skip
    assert level3["status"] == "errors" and level3["sent"] == "sent (visa)"


async def test_a_lost_level_3_answer_is_not_sent_twice(served: Callable[..., Any]) -> None:
    world, api, operator = await served()
    add_invoice(world, "L3-0006", "US-001")
    await card_profile(world, "L3-LOST", "US-001", "4012000098765439")
    world.pt_app.state.faults.script("commit_then_drop", path="/v1/level_three/visa")
    answer = await charge(api, operator, "l3-lost", invoice_number="L3-0006")
    assert answer.status_code == 201 and answer.json()["level3"]["sent"].startswith("failed")
    again = await charge(api, operator, "l3-lost", invoice_number="L3-0006")
    assert again.status_code == 201 and again.json()["replayed"] is True
    assert sale_of(world, "L3-0006").level3_line_items == 2  # PayTrace kept the first, once


async def test_under_block_no_pay_link_is_issued_for_an_invoice_that_would_be_refused(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PB_PAY_LINK_SECRET", "a long random secret for pay links")
    world = await make_world(
        level3=Level3Settings(enabled=True, on_failure="block"),
        paylinks=PayLinkSettings(link_secret=SecretStr("env:PB_PAY_LINK_SECRET"), public_url=BASE),
    )
    add_invoice(world, "L3-0007", "US-002", po=None)
    add_invoice(world, "L3-0008", "US-003")
    operator = world.engine.security.api_keys.create("operator", label="test").token
    headers = {"Authorization": f"Bearer {operator}"}
    async with asgi_client(build_api(world.engine), BASE) as api:
        refused = await api.post(
            "/v1/paylinks", json={"company": "usmf", "invoice": "L3-0007"}, headers=headers
        )
        assert refused.status_code == 422 and "CustomersOrderReference" in refused.text
        issued = await api.post(
            "/v1/paylinks", json={"company": "usmf", "invoice": "L3-0008"}, headers=headers
        )
        assert issued.status_code == 201, issued.text
