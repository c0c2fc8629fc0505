"""The emulator-only "Reverse transaction" service: a posted payment reversed, its invoice open
again, once (a second call answers what the first did), and refusals like F&O services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.sandbox.dynamics.support import authorised, make_app
from tests.sandbox.dynamics.test_entities import LINES, new_journal, payment_line
from tests.sandbox.dynamics.test_operations import open_amount, post_journal

REVERSE = "/api/services/PayBridgeSandbox/Settlements/reverse"
pytestmark = pytest.mark.anyio


async def test_a_posted_payment_is_reversed_once_and_its_invoice_reopened() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        line = payment_line(batch, AccountDisplayValue="US\\-005", CreditAmount=5000,
                            MarkedInvoice="CIV-000105", PaymentId="PT-1-sale")  # fmt: skip
        assert (await client.post(LINES, json=line)).status_code == 201
        body = {"dataAreaId": "usmf", "PaymentId": "PT-1-sale", "Reason": "R01: funds"}
        early = await client.post(REVERSE, json=body)
        assert early.status_code == 500 and "No posted payment" in early.json()["Message"]
        assert (await post_journal(client, batch)).status_code == 200
        assert await open_amount(client, "CIV-000105") == 0

        first = await client.post(REVERSE, json=body)
        assert first.status_code == 200, first.text
        assert first.json()["Reversed"] is True and first.json()["ReopenedInvoice"] == "CIV-000105"
        assert await open_amount(client, "CIV-000105") == Decimal("5000")
        again = await client.post(REVERSE, json=body)
        assert again.json()["Reversed"] is False and again.json()["ReopenedInvoice"] == "CIV-000105"
        assert await open_amount(client, "CIV-000105") == Decimal("5000")
        payments = (await client.get(
            "/data/CustTransactions", params={"$filter": "PaymReference eq 'PT-000887'"}
        )).json()["value"]  # fmt: skip
        assert sorted(Decimal(str(p["AmountCur"])) for p in payments) == [-5000, 5000]
        assert any(p["Txt"].startswith("Reversal of PT-1-sale: R01") for p in payments)
        listing = await client.get("/api/services/PayBridgeSandbox")
        assert {"Name": "Settlements"} in listing.json()["Services"]
