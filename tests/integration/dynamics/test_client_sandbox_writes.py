"""DynamicsClient writes against the D365 sandbox: numbers, ETags, refusals, $batch changesets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from paybridge.connectors.dynamics import (
    BatchOperation,
    ConcurrencyConflictError,
    DynamicsClient,
    F,
    NotFoundError,
    Query,
)
from paybridge.errors import DataError
from tests.integration.dynamics.test_client_sandbox_support import rig

pytestmark = pytest.mark.anyio
HEADERS = "CustomerPaymentJournalHeaders"
LINES = "CustomerPaymentJournalLines"


def payment_line(batch: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dataAreaId": "usmf",
        "JournalBatchNumber": batch,
        "AccountType": "Cust",
        "AccountDisplayValue": "US\\-001",
        "CurrencyCode": "USD",
        "CreditAmount": Decimal("100.00"),
        "OffsetAccountType": "Bank",
        "OffsetAccountDisplayValue": "USMF OPER",
    }
    body.update(changes)
    return body


async def new_journal(client: DynamicsClient) -> str:
    header = await client.create(HEADERS, {"dataAreaId": "usmf", "JournalName": "CustPay"})
    batch: str = header["JournalBatchNumber"]
    return batch


def header_key(batch: str) -> dict[str, object]:
    return {"dataAreaId": "usmf", "JournalBatchNumber": batch}


async def test_create_returns_server_generated_numbers() -> None:
    async with rig() as r:
        c = r.client
        first, second = await new_journal(c), await new_journal(c)
        line = await c.create(LINES, payment_line(first, PaymentReference="pt:9:sale"))
        order = await c.create(
            "SalesOrderHeadersV2",
            {"dataAreaId": "usmf", "OrderingCustomerAccountNumber": "US-004"},
        )
        customer = await c.create(
            "CustomersV3",
            {
                "dataAreaId": "usmf",
                "OrganizationName": "Heron Supplies",
                "CustomerGroupId": "30",
                "SalesCurrencyCode": "USD",
            },
        )
    assert (first, second) == ("USMF-000001", "USMF-000002")
    assert line["Voucher"] == "ARP-000001"
    assert line["LineNumber"] == 1
    assert line["CustomerName"] == "Contoso Retail San Diego"
    assert line["CreditAmount"] == Decimal("100")
    assert order["SalesOrderNumber"] == "000701"
    assert order["SalesOrderName"] == "Cave Wholesales"
    assert customer["CustomerAccount"] == "US-011"


async def test_update_changes_etag_and_a_stale_if_match_is_a_conflict() -> None:
    async with rig() as r:
        c = r.client
        batch = await new_journal(c)
        before = await c.get(HEADERS, header_key(batch))
        assert before is not None
        await c.update(
            HEADERS, header_key(batch), {"Description": "PayTrace"}, if_match=before["@odata.etag"]
        )
        after = await c.get(HEADERS, header_key(batch))
        with pytest.raises(ConcurrencyConflictError) as stale:
            await c.update(
                HEADERS, header_key(batch), {"Description": "lost"}, if_match=before["@odata.etag"]
            )
        await c.update(HEADERS, header_key(batch), {"Description": "no etag"})
        final = await c.get(HEADERS, header_key(batch))
        with pytest.raises(NotFoundError):
            await c.update(HEADERS, header_key("USMF-999999"), {"Description": "ghost"})
    assert after is not None and after["Description"] == "PayTrace"
    assert after["@odata.etag"] != before["@odata.etag"]
    assert stale.value.status == 412
    assert stale.value.reaction == "reread"
    assert final is not None and final["Description"] == "no etag"


async def test_delete_line_then_header() -> None:
    async with rig() as r:
        c = r.client
        batch = await new_journal(c)
        await c.create(LINES, payment_line(batch, LineNumber=1))
        with pytest.raises(DataError) as refused:
            await c.delete(HEADERS, header_key(batch))
        await c.delete(LINES, {**header_key(batch), "LineNumber": 1})
        await c.delete(HEADERS, header_key(batch))
        gone = await c.get(HEADERS, header_key(batch))
    assert "Ledger journal table cannot be deleted while dependent Journal lines exist." in str(
        refused.value
    )
    assert refused.value.status == 400
    assert gone is None


async def test_business_refusals_are_data_errors_with_the_infolog_text() -> None:
    async with rig() as r:
        c = r.client
        with pytest.raises(DataError) as journal_name:
            await c.create(HEADERS, {"dataAreaId": "usmf", "JournalName": "NoSuchName"})
        batch = await new_journal(c)
        with pytest.raises(DataError) as customer:
            await c.create(LINES, payment_line(batch, AccountDisplayValue="US\\-999"))
        await c.create(
            LINES, payment_line(batch, CreditAmount=Decimal(600), MarkedInvoice="CIV-000101")
        )
        with pytest.raises(DataError) as over:
            await c.create(
                LINES, payment_line(batch, CreditAmount=Decimal(500), MarkedInvoice="CIV-000101")
            )
        lines = await c.query(LINES, Query(filter=F("JournalBatchNumber") == batch))
    assert "Infolog:" in str(journal_name.value)
    assert "'NoSuchName'" in str(journal_name.value)
    assert "JournalName" in journal_name.value.fields
    assert "Account US\\-999 does not exist for account type Customer" in str(customer.value)
    assert "The amount of the invoice 500.00 is greater than the remaining amount 400.00." in str(
        over.value
    )
    assert [line["CreditAmount"] for line in lines] == [Decimal(600)]


async def test_batch_changesets_commit_or_roll_back_independently() -> None:
    async with rig() as r:
        c = r.client
        batch = await new_journal(c)

        def line(n: int, account: str) -> BatchOperation:
            body = payment_line(batch, LineNumber=n, AccountDisplayValue=account)
            return BatchOperation("POST", LINES, body=body, reference=f"pt:{n}:sale")

        rename = BatchOperation(
            "PATCH", HEADERS, key=header_key(batch), body={"Description": "batched"}
        )
        results = await c.batch(
            [
                [line(1, "US\\-001"), line(2, "US\\-002")],
                [line(3, "US\\-003"), line(4, "US\\-999")],  # one bad line spoils its changeset
                [line(5, "US\\-005"), rename],
            ]
        )
        lines = await c.query(LINES, Query(filter=F("JournalBatchNumber") == batch))
        header = await c.get(HEADERS, header_key(batch))
    first, failed, third = results
    assert first.ok and third.ok and not failed.ok
    assert [(res.status, res.body["LineNumber"]) for res in first.results] == [(201, 1), (201, 2)]
    assert [res.status for res in third.results] == [201, 204]
    assert third.results[0].body["AccountDisplayValue"] == "US\\-005"
    assert isinstance(failed.error, DataError)
    assert "US\\-999 does not exist" in str(failed.error)
    assert failed.error.status == 500
    assert sorted(int(line["LineNumber"]) for line in lines) == [1, 2, 5]
    assert header is not None and header["Description"] == "batched"
