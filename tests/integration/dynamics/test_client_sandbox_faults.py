"""DynamicsClient against the D365 sandbox: throttling, scripted faults, in-doubt writes, posting."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paybridge.connectors.dynamics import BatchOperation, EnumValue, Expand, F, Query
from paybridge.errors import DataError, InDoubtError, RetryableError
from paybridge_sandbox.dynamics import ThrottleSettings
from tests.integration.dynamics.test_client_sandbox_support import rig
from tests.integration.dynamics.test_client_sandbox_writes import (
    LINES,
    header_key,
    new_journal,
    payment_line,
)

pytestmark = pytest.mark.anyio
THROTTLE_TEXT = (
    "This request could not be processed at this time due to system experiencing high "
    "resource utilization."
)


async def test_429_pauses_the_shared_limiter_for_retry_after() -> None:
    throttle = ThrottleSettings(requests=2, window_seconds=5, retry_after_seconds=7)
    async with rig(limiter=True, throttle=throttle) as r:
        names = [
            (await r.client.get("Currencies", {"CurrencyCode": code}) or {})["Name"]
            for code in ("USD", "EUR", "CAD")
        ]
    assert names == ["US Dollar", "Euro", "Canadian dollar"]
    assert r.time.sleeps == [7.0]  # the limiter waited exactly Retry-After, then went on
    assert r.limiter is not None
    assert r.limiter.rate == pytest.approx(2.6)  # halved on the 429, +0.1 on the success


async def test_throttle_switched_on_by_admin_is_retried_after_the_hint() -> None:
    async with rig() as r:
        switched = await r.http.post(
            "/_sandbox/throttle",
            json={"requests": 1, "window_seconds": 3, "retry_after_seconds": 4},
        )
        await r.client.count("Currencies")
        count = await r.client.count("Currencies")
    assert switched.json()["throttle"]["requests"] == 1
    assert count == 4
    assert r.time.sleeps == [4.0]


async def test_throttle_that_outlasts_the_retries_is_a_retryable_error() -> None:
    throttle = ThrottleSettings(requests=1, window_seconds=300, retry_after_seconds=9)
    async with rig(retries=2, throttle=throttle) as r:
        await r.client.count("Currencies")
        with pytest.raises(RetryableError) as throttled:
            await r.client.count("Currencies")
    assert throttled.value.status == 429
    assert throttled.value.retry_after == 9.0
    assert THROTTLE_TEXT in str(throttled.value)
    assert r.time.sleeps == [9.0, 9.0]


async def test_5xx_on_a_read_is_retried_with_backoff() -> None:
    async with rig() as r:
        r.sandbox.faults.script("error_json", path="/data/CustomersV3", times=2)
        rows = await r.client.query("CustomersV3", Query(filter=F("CustomerGroupId") == "30"))
    assert {row["CustomerAccount"] for row in rows} == {"US-005", "US-008"}
    assert r.time.sleeps == [0.5, 1.0]
    assert r.sandbox.faults.report()["injected"] == {"error_json": 2}


async def test_html_gateway_pages_exhaust_retries_into_retryable_error() -> None:
    async with rig() as r:
        r.sandbox.faults.script("error_html", path="/data/Currencies", method="GET", times=4)
        with pytest.raises(RetryableError) as failed:
            await r.client.query("Currencies")
    assert failed.value.status == 502
    assert "Bad Gateway" in str(failed.value)
    assert r.time.sleeps == [0.5, 1.0, 2.0]


async def test_commit_then_drop_on_create_is_in_doubt_and_found_once() -> None:
    async with rig() as r:
        batch = await new_journal(r.client)
        r.sandbox.faults.script("commit_then_drop", path=f"/data/{LINES}", method="POST")
        with pytest.raises(InDoubtError) as doubt:
            await r.client.create(
                LINES, payment_line(batch, PaymentReference="pt:77:sale"), reference="pt:77:sale"
            )
        found = await r.client.find_by_reference(
            LINES, "PaymentReference", "pt:77:sale", company="usmf"
        )
    assert doubt.value.reference == "pt:77:sale"
    assert r.time.sleeps == []  # an unconfirmed write is never resent
    assert [(row["JournalBatchNumber"], row["CreditAmount"]) for row in found] == [
        (batch, Decimal(100))
    ]


async def test_commit_then_drop_on_batch_leaves_every_changeset_in_doubt() -> None:
    async with rig() as r:
        batch = await new_journal(r.client)
        r.sandbox.faults.script("commit_then_drop", path="/data/$batch")
        changesets = [
            [
                BatchOperation(
                    "POST",
                    LINES,
                    body=payment_line(batch, LineNumber=n, PaymentReference=f"pt:{n}:sale"),
                    reference=f"pt:{n}:sale",
                )
            ]
            for n in (1, 2)
        ]
        results = await r.client.batch(changesets)
        found = [
            await r.client.find_by_reference(LINES, "PaymentReference", f"pt:{n}:sale")
            for n in (1, 2)
        ]
    assert [type(result.error) for result in results] == [InDoubtError, InDoubtError]
    assert [len(rows) for rows in found] == [1, 1]
    assert [rows[0]["LineNumber"] for rows in found] == [1, 2]


async def test_reset_before_processing_is_in_doubt_and_confirmed_absent() -> None:
    async with rig() as r:
        batch = await new_journal(r.client)
        r.sandbox.faults.script("reset", path=f"/data/{LINES}", method="POST")
        with pytest.raises(InDoubtError):
            await r.client.create(
                LINES, payment_line(batch, PaymentReference="pt:5:sale"), reference="pt:5:sale"
            )
        absent = await r.client.find_by_reference(LINES, "PaymentReference", "pt:5:sale")
        retried = await r.client.create(LINES, payment_line(batch, PaymentReference="pt:5:sale"))
        once = await r.client.find_by_reference(LINES, "PaymentReference", "pt:5:sale")
    assert absent == []
    assert retried["LineNumber"] == 1
    assert len(once) == 1


async def test_posting_service_posts_the_journal_and_settles_the_invoice() -> None:
    async with rig() as r:
        c = r.client
        batch = await new_journal(c)
        for n, amount in ((1, Decimal("400.00")), (2, Decimal("600.00"))):
            await c.create(
                LINES,
                payment_line(
                    batch,
                    LineNumber=n,
                    CreditAmount=amount,
                    MarkedInvoice="CIV-000101",
                    PaymentReference=f"pt:{n}:sale",
                ),
            )
        posted = await c.call_service(
            "PayBridgeSandbox",
            "Journals",
            "post",
            {"dataAreaId": "usmf", "JournalBatchNumber": batch},
        )
        header = await c.get("CustomerPaymentJournalHeaders", header_key(batch))
        [invoice] = await c.query(
            "CustTransactions",
            Query(filter=F("Invoice") == "CIV-000101", expand=[Expand("CustTransOpen")]),
        )
        payments = await c.query(
            "CustTransactions",
            Query(filter=F("TransType") == EnumValue("LedgerTransType", "Payment")),
        )
        with pytest.raises(DataError) as again:
            await c.call_service(
                "PayBridgeSandbox",
                "Journals",
                "post",
                {"dataAreaId": "usmf", "JournalBatchNumber": batch},
            )
    assert posted["IsPosted"] == "Yes"
    assert posted["SettledInvoices"] == [
        {"InvoiceCompany": "usmf", "Invoice": "CIV-000101", "Amount": Decimal(1000)}
    ]
    assert header is not None and header["IsPosted"] == "Yes"
    assert invoice["SettleAmountCur"] == Decimal(1000)
    assert sum((o["AmountCur"] for o in invoice["CustTransOpen"]), Decimal(0)) == 0
    assert sorted(p["AmountCur"] for p in payments) == [Decimal(-600), Decimal(-400)]
    assert {p["AccountNum"] for p in payments} == {"US-001"}
    assert "has already been posted" in str(again.value)
