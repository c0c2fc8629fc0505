"""Throttling, the emulator-only posting service, SQLite state, faults and admin endpoints."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from paybridge_sandbox.dynamics import ThrottleSettings
from tests.conftest import asgi_client
from tests.sandbox.dynamics.support import BASE, authorised, make_app
from tests.sandbox.dynamics.test_entities import LINES, new_journal, payment_line

POST = "/api/services/PayBridgeSandbox/Journals/post"


@pytest.mark.anyio
async def test_throttling_answers_429_with_retry_after_and_message() -> None:
    app = make_app(throttle=ThrottleSettings(requests=2, window_seconds=60, retry_after_seconds=7))
    async with await authorised(app) as client:
        statuses = [(await client.get("/data/Currencies")).status_code for _ in range(2)]
        throttled = await client.get("/data/Currencies")
        app.state.sandbox.clock.advance(61)
        after_window = await client.get("/data/Currencies")
    assert statuses == [200, 200]
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "7"
    assert throttled.json()["error"]["innererror"]["message"] == (
        "This request could not be processed at this time due to system experiencing high "
        "resource utilization."
    )
    assert after_window.status_code == 200


@pytest.mark.anyio
async def test_admin_switches_throttling_and_advances_clock() -> None:
    app = make_app()
    async with await authorised(app) as client:
        on = await client.post("/_sandbox/throttle", json={"requests": 1})
        await client.get("/data/Currencies")
        limited = await client.get("/data/Currencies")
        await client.post("/_sandbox/throttle", json={"off": True})
        free = await client.get("/data/Currencies")
        clock = await client.post("/_sandbox/clock/advance", json={"seconds": 86400})
        bad = await client.post("/_sandbox/clock/advance", json={"seconds": -1})
        state = await client.get("/_sandbox/state")
    assert on.json()["throttle"]["requests"] == 1
    assert limited.status_code == 429 and free.status_code == 200
    assert clock.json()["now"] == "2026-07-16T09:30:00Z"
    assert bad.status_code == 400
    assert state.json()["entity_sets"]["CustomersV3"] == 13


async def post_journal(client: httpx.AsyncClient, batch: str) -> httpx.Response:
    return await client.post(POST, json={"dataAreaId": "usmf", "JournalBatchNumber": batch})


async def open_amount(client: httpx.AsyncClient, invoice: str) -> Decimal:
    trans = (
        await client.get(
            "/data/CustTransactions",
            params={"$filter": f"Invoice eq '{invoice}'", "$expand": "CustTransOpen"},
        )
    ).json()["value"][0]
    return sum((Decimal(str(o["AmountCur"])) for o in trans["CustTransOpen"]), Decimal(0))


@pytest.mark.anyio
async def test_posting_settles_marked_invoices_and_locks_the_journal() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        await client.post(
            LINES, json=payment_line(batch, CreditAmount=400, MarkedInvoice="CIV-000101")
        )
        await client.post(
            LINES,
            json=payment_line(batch, LineNumber=2, CreditAmount=600, MarkedInvoice="CIV-000101"),
        )
        posted = await post_journal(client, batch)
        remaining = await open_amount(client, "CIV-000101")
        header = (await client.get("/data/CustomerPaymentJournalHeaders")).json()["value"][0]
        locked = await client.post(LINES, json=payment_line(batch, LineNumber=3))
        again = await post_journal(client, batch)
        payments = await client.get(
            "/data/CustTransactions",
            params={
                "$filter": "TransType eq Microsoft.Dynamics.DataEntities.LedgerTransType'Payment'"
            },
        )
    assert posted.status_code == 200, posted.text
    assert json.loads(posted.content, parse_float=Decimal)["SettledInvoices"] == [
        {"InvoiceCompany": "usmf", "Invoice": "CIV-000101", "Amount": Decimal(1000)}
    ]
    assert remaining == 0
    assert header["IsPosted"] == "Yes"
    assert locked.status_code == 400 and "has been posted" in locked.text
    assert again.status_code == 500 and again.json()["ExceptionType"] == "XppServicesException"
    assert [p["PaymReference"] for p in payments.json()["value"]] == ["PT-000887", "PT-000887"]


@pytest.mark.anyio
async def test_posting_closes_a_fully_settled_invoice() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        await client.post(
            LINES,
            json=payment_line(
                batch, AccountDisplayValue="US\\-005", CreditAmount=5000, MarkedInvoice="CIV-000105"
            ),
        )
        await post_journal(client, batch)
        trans = (
            await client.get(
                "/data/CustTransactions", params={"$filter": "Invoice eq 'CIV-000105'"}
            )
        ).json()["value"][0]
        remaining = await open_amount(client, "CIV-000105")
    assert remaining == 0
    assert trans["SettleAmountCur"] == 5000
    assert trans["Closed"] == "2026-07-15T12:00:00Z"


@pytest.mark.anyio
async def test_posting_refuses_unbalanced_and_over_settled_journals() -> None:
    async with await authorised(make_app()) as client:
        ledger = (
            await client.post("/data/LedgerJournalHeaders", json={"JournalName": "GenJrn"})
        ).json()["JournalBatchNumber"]
        await client.post(
            "/data/LedgerJournalLines",
            json={
                "JournalBatchNumber": ledger,
                "AccountType": "Ledger",
                "AccountDisplayValue": "601500",
                "DebitAmount": 50,
                "Voucher": "V1",
            },
        )
        unbalanced = await post_journal(client, ledger)
        batch = await new_journal(client)
        await client.post(LINES, json=payment_line(batch, CreditAmount=3000))
        await client.post(
            "/data/PaymentJournalLineSettledInvoices",
            json={
                "JournalLineCompany": "usmf",
                "JournalBatchNumber": batch,
                "JournalLineNumber": 1,
                "InvoiceNumber": "CIV-000104",
                "SettlementAmountInInvoiceCurrency": 2005,
            },
        )
        other = await new_journal(client)
        await client.post(
            LINES,
            json=payment_line(
                other, CreditAmount=10, AccountDisplayValue="US\\-004", MarkedInvoice="CIV-000104"
            ),
        )
        over = await post_journal(client, batch)
        missing = await post_journal(client, "USMF-999999")
    assert unbalanced.status_code == 500
    assert "do not balance" in unbalanced.json()["Message"]
    assert over.status_code == 500
    assert over.json()["Message"] == (
        "The amount of the invoice 2005.00 is greater than the remaining amount 1995.00."
    )
    assert missing.status_code == 500


@pytest.mark.anyio
async def test_state_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "dynamics.sqlite"
    async with await authorised(make_app(state_path=path)) as client:
        batch = await new_journal(client)
        await client.post(LINES, json=payment_line(batch, CreditAmount="12.34"))
        etag = (await client.get(LINES)).json()["value"][0]["@odata.etag"]
    async with await authorised(make_app(state_path=path)) as client:
        lines = (await client.get(LINES)).json()["value"]
        following = await new_journal(client)
    assert [(line["JournalBatchNumber"], line["CreditAmount"]) for line in lines] == [
        (batch, 12.34)
    ]
    assert lines[0]["@odata.etag"] == etag
    assert lines[0]["TransactionDate"] == "2026-07-15T12:00:00Z"
    assert following == "USMF-000002"


@pytest.mark.anyio
async def test_commit_then_drop_fault_keeps_the_write() -> None:
    app = make_app()
    async with await authorised(app) as client:
        scripted = await client.post(
            "/_sandbox/faults",
            json={
                "script": [
                    {
                        "fault": "commit_then_drop",
                        "path": "/data/CustomerPaymentJournalHeaders",
                        "method": "POST",
                    }
                ]
            },
        )
        with pytest.raises(httpx.ReadTimeout):
            await client.post(
                "/data/CustomerPaymentJournalHeaders", json={"JournalName": "CustPay"}
            )
        found = await client.get("/data/CustomerPaymentJournalHeaders")
        report = await client.get("/_sandbox/faults")
    assert scripted.status_code == 200
    assert [h["JournalBatchNumber"] for h in found.json()["value"]] == ["USMF-000001"]
    assert report.json()["injected"] == {"commit_then_drop": 1}


@pytest.mark.anyio
async def test_fault_profile_from_settings() -> None:
    app = make_app(fault_profile="chaos")
    async with asgi_client(app, BASE) as client:
        statuses = [(await client.get("/_sandbox/state")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]  # admin paths are exempt
    assert app.state.sandbox.faults.profile == "chaos"
