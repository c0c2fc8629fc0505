"""DynamicsClient reads against the D365 sandbox: every set, keys, companies, filters, paging."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from paybridge.connectors.dynamics import (
    DynamicsClient,
    EnumValue,
    Expand,
    F,
    Query,
    Raw,
    parse_edm_datetime,
)
from paybridge.errors import DataError
from tests.integration.dynamics.test_client_sandbox_auth import ISSUE_SETS
from tests.integration.dynamics.test_client_sandbox_support import BASE, rig

pytestmark = pytest.mark.anyio


async def _fill_journals(client: DynamicsClient) -> None:
    """One row in each journal set, so every set of the issue has something to read back."""
    pay = await client.create(
        "CustomerPaymentJournalHeaders", {"dataAreaId": "usmf", "JournalName": "CustPay"}
    )
    await client.create(
        "CustomerPaymentJournalLines",
        {
            "dataAreaId": "usmf",
            "JournalBatchNumber": pay["JournalBatchNumber"],
            "LineNumber": 1,
            "AccountType": "Cust",
            "AccountDisplayValue": "US\\-002",
            "CurrencyCode": "USD",
            "CreditAmount": Decimal("2500.50"),
        },
    )
    await client.create(
        "PaymentJournalLineSettledInvoices",
        {
            "JournalLineCompany": "usmf",
            "JournalBatchNumber": pay["JournalBatchNumber"],
            "JournalLineNumber": 1,
            "InvoiceNumber": "CIV-000102",
            "InvoiceCompany": "usmf",
            "SettlementAmountInInvoiceCurrency": Decimal("2500.50"),
        },
    )
    ledger = await client.create(
        "LedgerJournalHeaders", {"dataAreaId": "usmf", "JournalName": "GenJrn"}
    )
    await client.create(
        "LedgerJournalLines",
        {
            "dataAreaId": "usmf",
            "JournalBatchNumber": ledger["JournalBatchNumber"],
            "AccountType": "Ledger",
            "AccountDisplayValue": "601500",
            "DebitAmount": Decimal("12.50"),
            "OffsetAccountType": "Bank",
            "OffsetAccountDisplayValue": "USMF OPER",
        },
    )


def _typed(edm_type: str, value: Any) -> Any:
    # JSON brings dates as strings; a key literal for a date must be an unquoted datetime.
    return parse_edm_datetime(value) if edm_type == "Edm.DateTimeOffset" else value


def _without_context(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k != "@odata.context"}


async def test_every_issue_set_reads_through_query_stream_count_and_get() -> None:
    async with rig() as r:
        await _fill_journals(r.client)
        model = await r.client.metadata()
        for entity_set in sorted(ISSUE_SETS):
            rows = await r.client.query(entity_set)
            streamed = [row async for row in r.client.stream(entity_set)]
            assert rows, entity_set
            assert streamed == rows, entity_set
            assert await r.client.count(entity_set) == len(rows), entity_set
            entity_type = model.entity_type_of(entity_set)
            first = rows[0]
            key = {k: _typed(entity_type.properties[k].type, first[k]) for k in entity_type.keys}
            got = await r.client.get(entity_set, key)
            assert got is not None, entity_set
            assert _without_context(got) == first, entity_set
            assert got["@odata.etag"].startswith('W/"'), entity_set


async def test_keys_with_quotes_ampersands_and_spaces_round_trip() -> None:
    async with rig() as r:
        for account in ("O'Hara & Sons", " LEAD-SPACE"):
            await r.client.create(
                "CustomersV3",
                {
                    "dataAreaId": "usmf",
                    "CustomerAccount": account,
                    "OrganizationName": f"Name of {account}",
                    "CustomerGroupId": "10",
                    "SalesCurrencyCode": "USD",
                },
            )
        quoted = await r.client.get(
            "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "O'Hara & Sons"}
        )
        spaced = await r.client.get(
            "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": " LEAD-SPACE"}
        )
        trimmed = await r.client.get(
            "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "LEAD-SPACE"}
        )
        by_filter = await r.client.query(
            "CustomersV3", Query(filter=F("CustomerAccount") == "O'Hara & Sons")
        )
    assert quoted is not None and quoted["OrganizationName"] == "Name of O'Hara & Sons"
    assert spaced is not None and spaced["CustomerAccount"] == " LEAD-SPACE"
    assert trimmed is None
    assert [row["CustomerAccount"] for row in by_filter] == ["O'Hara & Sons"]


async def test_default_company_versus_cross_company() -> None:
    async with rig() as r:
        c = r.client
        usrt_key = {"dataAreaId": "usrt", "CustomerAccount": "USRT-002"}
        own = await c.count("CustomersV3")
        every = await c.count("CustomersV3", Query(cross_company=True))
        hidden = await c.get("CustomersV3", usrt_key)
        shown = await c.get("CustomersV3", usrt_key, cross_company=True)
        usrt = await c.query(
            "CustomersV3",
            Query(
                filter=F("dataAreaId") == "usrt",
                select=["CustomerAccount"],
                orderby=["CustomerAccount"],
                cross_company=True,
            ),
        )
        usrt_without_flag = await c.query("CustomersV3", Query(filter=F("dataAreaId") == "usrt"))
    assert (own, every) == (10, 13)
    assert hidden is None
    assert shown is not None and shown["dataAreaId"] == "usrt"
    assert [row["CustomerAccount"] for row in usrt] == ["USRT-001", "USRT-002", "USRT-003"]
    assert usrt_without_flag == []


async def _accounts(client: DynamicsClient, condition: Any) -> set[str]:
    rows = await client.query("CustomersV3", Query(filter=condition, select=["CustomerAccount"]))
    return {row["CustomerAccount"] for row in rows}


async def test_filter_forms_built_with_f() -> None:
    async with rig() as r:
        c = r.client
        group_10_not_ca = await _accounts(
            c, (F("CustomerGroupId") == "10") & ~(F("AddressState") == "CA")
        )
        fl_or_ma = await _accounts(c, (F("AddressState") == "FL") | (F("AddressState") == "MA"))
        wholesale = await _accounts(c, F("OrganizationName").wildcard("*wholesales*"))
        not_10 = await _accounts(c, F("CustomerGroupId") != "10")
        big = await c.query(
            "SalesInvoiceHeadersV2", Query(filter=F("TotalInvoiceAmount") >= Decimal("2500.50"))
        )
        june_5_to_14 = await c.query(
            "SalesInvoiceHeadersV2",
            Query(
                filter=(F("InvoiceDate") >= date(2026, 6, 5))
                & (F("InvoiceDate") < datetime(2026, 6, 15, tzinfo=UTC))
            ),
        )
        model = await c.metadata()
        status_enum = model.entity_type_of("SalesOrderHeadersV2").properties["SalesOrderStatus"]
        invoiced = await c.count(
            "SalesOrderHeadersV2",
            Query(
                filter=F("SalesOrderStatus")
                == EnumValue(status_enum.type.split(".")[-1], "Invoiced")
            ),
        )
        sales_trans = await c.count(
            "CustTransactions",
            Query(filter=F("TransType") == EnumValue("LedgerTransType", "Sales")),
        )
        with pytest.raises(DataError) as refused:
            await c.query("CustomersV3", Query(filter=Raw("CustomerGroupId in ('10','20')")))
    assert group_10_not_ca == {"US-003", "US-006"}
    assert fl_or_ma == {"US-009", "US-010"}
    assert wholesale == {"US-003", "US-004", "US-006", "US-007", "US-009"}
    assert not_10 == {"US-004", "US-005", "US-007", "US-008", "US-009", "US-010"}
    assert {i["InvoiceNumber"] for i in big} == {"CIV-000102", "CIV-000103", "CIV-000105"}
    assert {i["InvoiceNumber"] for i in june_5_to_14} == {"CIV-000103", "CIV-000104"}
    assert (invoiced, sales_trans) == (5, 5)
    assert refused.value.status == 400


async def test_select_orderby_top_skip_and_count() -> None:
    async with rig() as r:
        query = Query(
            select=["CustomerAccount", "OrganizationName"],
            orderby=["OrganizationName desc"],
            top=3,
            skip=2,
            count=True,
        )
        page = await r.client.page("CustomersV3", query)
        two_keys = await r.client.query(
            "SalesOrderLinesV3", Query(orderby=["SalesOrderNumber desc", "LineNumber asc"], top=3)
        )
    assert page.count == 10
    assert page.next_link is None
    assert [row["CustomerAccount"] for row in page.value] == ["US-009", "US-010", "US-003"]
    assert set(page.value[0]) == {"@odata.etag", "CustomerAccount", "OrganizationName"}
    assert [(row["SalesOrderNumber"], row["LineNumber"]) for row in two_keys] == [
        ("000605", 1),
        ("000604", 1),
        ("000603", 1),
    ]


async def test_one_level_expand_with_nested_select() -> None:
    async with rig() as r:
        rows = await r.client.query(
            "SalesInvoiceHeadersV2",
            Query(
                filter=F("InvoiceNumber") == "CIV-000103",
                select=["InvoiceNumber", "TotalInvoiceAmount"],
                expand=[Expand("SalesInvoiceLinesV2", ["ProductNumber", "LineAmount"])],
            ),
        )
        with pytest.raises(DataError):
            await r.client.query("SalesInvoiceHeadersV2", Query(expand=["NoSuchNavigation"]))
    [invoice] = rows
    assert invoice["TotalInvoiceAmount"] == Decimal("4199.99")
    lines = sorted(invoice["SalesInvoiceLinesV2"], key=lambda line: line["ProductNumber"])
    assert [(line["ProductNumber"], line["LineAmount"]) for line in lines] == [
        ("L0001", Decimal("3300")),
        ("P0001", Decimal("899.99")),
    ]
    assert {k for k in lines[0] if not k.startswith("@")} == {"ProductNumber", "LineAmount"}


async def test_paging_follows_absolute_next_links() -> None:
    async with rig(page_size=3) as r:
        first = await r.client.page("CustomersV3", Query(orderby=["CustomerAccount"], count=True))
        ordered = await r.client.query("CustomersV3", Query(orderby=["CustomerAccount"]))
        every = await r.client.query("CustomersV3", Query(cross_company=True))
        topped = await r.client.query("CustomersV3", Query(orderby=["CustomerAccount"], top=5))
    assert first.count == 10 and len(first.value) == 3
    assert first.next_link is not None and first.next_link.startswith(f"{BASE}/data/CustomersV3?")
    assert "$skip=3" in first.next_link
    assert [row["CustomerAccount"] for row in ordered] == [f"US-{n:03d}" for n in range(1, 11)]
    assert len(every) == 13 and len({(c["dataAreaId"], c["CustomerAccount"]) for c in every}) == 13
    assert [row["CustomerAccount"] for row in topped] == [f"US-{n:03d}" for n in range(1, 6)]
