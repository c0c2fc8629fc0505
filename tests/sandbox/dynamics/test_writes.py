"""PATCH/PUT/DELETE, ETags and If-Match, read-only sets, journal rules and settlement marking."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.sandbox.dynamics.support import authorised, inner_message, make_app
from tests.sandbox.dynamics.test_entities import HEADERS, LINES, new_journal, payment_line


def header_url(batch: str, table: str = HEADERS) -> str:
    return f"{table}(dataAreaId='usmf',JournalBatchNumber='{batch}')"


@pytest.mark.anyio
async def test_patch_changes_etag_and_if_match_is_checked() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        before = (await client.get(header_url(batch))).json()["@odata.etag"]
        patched = await client.patch(
            header_url(batch), json={"Description": "renamed"}, headers={"If-Match": before}
        )
        after = (await client.get(header_url(batch))).json()
        stale = await client.patch(
            header_url(batch), json={"Description": "again"}, headers={"If-Match": before}
        )
        star = await client.patch(
            header_url(batch), json={"Description": "star"}, headers={"If-Match": "*"}
        )
        put = await client.put(header_url(batch), json={"Description": "put"})
    assert patched.status_code == 204 and patched.content == b""
    assert after["Description"] == "renamed" and after["@odata.etag"] != before
    assert stale.status_code == 412
    assert star.status_code == 204 and put.status_code == 204


@pytest.mark.anyio
async def test_if_match_required_setting() -> None:
    async with await authorised(make_app(if_match="require")) as client:
        batch = await new_journal(client)
        response = await client.patch(header_url(batch), json={"Description": "x"})
    assert response.status_code == 428


@pytest.mark.anyio
async def test_key_change_and_read_only_sets_are_refused() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        key_change = await client.patch(header_url(batch), json={"JournalBatchNumber": "X"})
        invoice = await client.post("/data/SalesInvoiceHeadersV2", json={"InvoiceNumber": "X"})
    assert key_change.status_code == 400
    assert invoice.status_code == 400
    assert "read-only" in inner_message(invoice)


@pytest.mark.anyio
async def test_delete_header_with_lines_is_refused_then_allowed() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        await client.post(LINES, json=payment_line(batch))
        refused = await client.delete(header_url(batch))
        line = f"{LINES}(dataAreaId='usmf',JournalBatchNumber='{batch}',LineNumber=1)"
        removed_line = await client.delete(line)
        removed = await client.delete(header_url(batch))
        gone = await client.get(header_url(batch))
    assert refused.status_code == 400
    assert "Ledger journal table cannot be deleted while dependent Journal lines exist." in (
        inner_message(refused)
    )
    assert removed_line.status_code == 204 and removed.status_code == 204
    assert gone.status_code == 404


@pytest.mark.anyio
async def test_line_numbers_are_assigned_when_omitted() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        first = payment_line(batch)
        del first["LineNumber"]
        numbers = [(await client.post(LINES, json=first)).json()["LineNumber"] for _ in range(3)]
    assert numbers == [1, 2, 3]


@pytest.mark.anyio
async def test_marked_invoice_cannot_exceed_remaining_amount() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        ok = await client.post(
            LINES, json=payment_line(batch, CreditAmount=600, MarkedInvoice="CIV-000101")
        )
        over = await client.post(
            LINES,
            json=payment_line(batch, LineNumber=2, CreditAmount=500, MarkedInvoice="CIV-000101"),
        )
        unknown = await client.post(
            LINES, json=payment_line(batch, LineNumber=3, MarkedInvoice="CIV-999999")
        )
    assert ok.status_code == 201
    assert ok.json()["SettleVoucher"] == "SelectedTransact"
    assert ok.json()["MarkedInvoiceCompany"] == "usmf"
    assert over.status_code == 400
    assert (
        "The amount of the invoice 500.00 is greater than the remaining amount 400.00."
        in inner_message(over)
    )
    assert unknown.status_code == 400


@pytest.mark.anyio
async def test_settled_invoices_rows_and_navigation() -> None:
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        await client.post(LINES, json=payment_line(batch, CreditAmount=1500))
        settled = await client.post(
            "/data/PaymentJournalLineSettledInvoices",
            json={
                "JournalLineCompany": "usmf",
                "JournalBatchNumber": batch,
                "JournalLineNumber": 1,
                "InvoiceNumber": "CIV-000101",
                "InvoiceCompany": "usmf",
                "SettlementAmountInInvoiceCurrency": 1000,
            },
        )
        too_much = await client.post(
            "/data/PaymentJournalLineSettledInvoices",
            json={
                "JournalLineCompany": "usmf",
                "JournalBatchNumber": batch,
                "JournalLineNumber": 1,
                "InvoiceNumber": "CIV-000102",
                "InvoiceCompany": "usmf",
                "SettlementAmountInInvoiceCurrency": 9000,
            },
        )
        nav = await client.get(header_url(batch) + "/CustomerPaymentJournalLineHeaderEntity")
    assert settled.status_code == 201, settled.text
    assert settled.json()["invoiceAccount"] == "US-001"
    assert settled.json()["InvoiceDueDate"] == "2026-07-01T12:00:00Z"
    assert too_much.status_code == 400
    assert [r["LineNumber"] for r in nav.json()["value"]] == [1]


@pytest.mark.anyio
async def test_ledger_journal_totals_and_sales_order_defaults() -> None:
    async with await authorised(make_app()) as client:
        header = await client.post("/data/LedgerJournalHeaders", json={"JournalName": "GenJrn"})
        batch = header.json()["JournalBatchNumber"]
        for amount in (50, 25):
            await client.post(
                "/data/LedgerJournalLines",
                json={
                    "JournalBatchNumber": batch,
                    "AccountType": "Ledger",
                    "AccountDisplayValue": "601500",
                    "DebitAmount": amount,
                    "OffsetAccountType": "Bank",
                    "OffsetAccountDisplayValue": "USMF OPER",
                },
            )
        totals = (await client.get(header_url(batch, "/data/LedgerJournalHeaders"))).json()
        order = await client.post(
            "/data/SalesOrderHeadersV2", json={"OrderingCustomerAccountNumber": "US-003"}
        )
        number = order.json()["SalesOrderNumber"]
        line = await client.post(
            "/data/SalesOrderLinesV3",
            json={
                "SalesOrderNumber": number,
                "ItemNumber": "D0001",
                "OrderedSalesQuantity": 3,
                "SalesPrice": "19.99",
            },
        )
    assert header.json()["Description"] == "General journal"
    assert header.json()["PostingLayer"] == "Current"
    assert totals["JournalTotalDebit"] == 75 and totals["JournalTotalCredit"] == 0
    assert number == "000701"
    assert order.json()["SalesOrderName"] == "Forest Wholesales"
    assert order.json()["CurrencyCode"] == "USD" and order.json()["SalesOrderStatus"] == "None"
    assert order.json()["OrderCreationDateTime"] == "2026-07-15T09:30:00Z"
    assert line.json()["InventoryLotId"] == "001501"
    assert json.loads(line.content, parse_float=Decimal)["LineAmount"] == Decimal("59.97")
    assert line.json()["LineNumber"] == 1


@pytest.mark.anyio
async def test_lenient_mode_escapes_whole_account_display_values() -> None:
    async with await authorised(make_app(unescaped_display_values="accept")) as client:
        batch = await new_journal(client)
        created = await client.post(LINES, json=payment_line(batch, AccountDisplayValue="US-001"))
    assert created.status_code == 201, created.text
    assert created.json()["AccountDisplayValue"] == "US\\-001"
    assert created.json()["CustomerName"] == "Contoso Retail San Diego"


@pytest.mark.anyio
async def test_a_line_without_a_number_is_numbered_past_the_highest_or_refused() -> None:
    without = {"LineNumber": 0}
    async with await authorised(make_app()) as client:
        batch = await new_journal(client)
        await client.post(LINES, json=payment_line(batch, LineNumber=7, PaymentReference="A"))
        assigned = await client.post(
            LINES, json=payment_line(batch, PaymentReference="B") | without
        )
        taken = await client.post(LINES, json=payment_line(batch, LineNumber=8))
    assert assigned.status_code == 201, assigned.text
    assert assigned.json()["LineNumber"] == 8
    assert taken.status_code == 400 and "The record already exists." in inner_message(taken)
    async with await authorised(make_app(journal_line_numbers="require")) as client:
        batch = await new_journal(client)
        refused = await client.post(LINES, json=payment_line(batch) | without)
        numbered = await client.post(LINES, json=payment_line(batch, LineNumber=3))
    assert refused.status_code == 400
    assert "Field 'Line Number' must be filled in." in inner_message(refused)
    assert numbered.status_code == 201 and numbered.json()["LineNumber"] == 3
