"""``$filter``/``$select``/``$orderby``/``$top``/``$skip``/``$count``/``$expand``, paging, full metadata."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sandbox.dynamics.support import BASE, authorised, inner_message, make_app

CUSTOMERS = "/data/CustomersV3"


async def accounts(client: httpx.AsyncClient, **params: str) -> list[str]:
    response = await client.get(CUSTOMERS, params={"$select": "CustomerAccount", **params})
    assert response.status_code == 200, response.text
    return [row["CustomerAccount"] for row in response.json()["value"]]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("CustomerGroupId eq '20'", ["US-004", "US-007"]),
        (
            "CustomerGroupId ne '10' and CustomerGroupId ne '30'",
            ["US-004", "US-007", "US-009", "US-010"],
        ),
        ("CustomerAccount gt 'US-008'", ["US-009", "US-010"]),
        ("CustomerAccount le 'US-002'", ["US-001", "US-002"]),
        ("AddressCity eq 'seattle' or AddressCity eq 'MIAMI'", ["US-004", "US-005", "US-010"]),
        ("not (CustomerGroupId eq '10') and AddressState eq 'AZ'", ["US-007"]),
        ("OrganizationName eq '*Wholesales*' and AddressState eq 'OR'", ["US-003"]),
        ("OrganizationName eq 'Contoso*'", ["US-001", "US-002", "US-005"]),
        ("OrganizationName ne '*Retail*' and CustomerGroupId eq '20'", ["US-004", "US-007"]),
        (
            "OnHoldStatus eq Microsoft.Dynamics.DataEntities.CustVendorBlocked'No' and "
            "CustomerGroupId eq '80'",
            ["US-009"],
        ),
        (
            "CreditLimit ge 50000 and CreditLimit sub 1 lt 50000 and CustomerGroupId eq '90'",
            ["US-010"],
        ),
        (
            "(CustomerGroupId eq '90' or CustomerGroupId eq '80') and CreditLimit eq 50000.00",
            ["US-009", "US-010"],
        ),
    ],
)
async def test_filter_expressions(expression: str, expected: list[str]) -> None:
    async with await authorised(make_app()) as client:
        found = await accounts(client, **{"$filter": expression})
    assert found == expected


@pytest.mark.anyio
async def test_dates_are_unquoted_literals_and_compare_by_day() -> None:
    async with await authorised(make_app()) as client:
        response = await client.get(
            "/data/CustTransactions",
            params={
                "$filter": "TransDate ge 2026-06-05T00:00:00Z and DueDate lt 2026-07-12",
                "$select": "Invoice",
            },
        )
        quoted = await client.get(
            "/data/CustTransactions", params={"$filter": "TransDate eq '2026-06-05'"}
        )
    assert [r["Invoice"] for r in response.json()["value"]] == ["CIV-000103", "CIV-000104"]
    assert quoted.status_code == 400
    assert "incompatible types" in inner_message(quoted)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("CustomerGroupId in ('10','20')", "'in' operator is not supported"),
        (
            "OnHoldStatus has Microsoft.Dynamics.DataEntities.CustVendorBlocked'No'",
            "'has' operator is not supported",
        ),
        (
            "OnHoldStatus gt Microsoft.Dynamics.DataEntities.CustVendorBlocked'No'",
            "only 'eq' and 'ne'",
        ),
        ("contains(OrganizationName,'Retail')", "Query function 'contains' is not supported"),
        ("Nope eq 1", "Could not find a property named 'Nope'"),
        (
            "OnHoldStatus eq Microsoft.Dynamics.DataEntities.CustVendorBlocked'Maybe'",
            "not a valid enumeration type constant",
        ),
        ("CreditLimit eq 'x'", "incompatible types"),
    ],
)
async def test_unsupported_filters_are_400(expression: str, fragment: str) -> None:
    async with await authorised(make_app()) as client:
        response = await client.get(CUSTOMERS, params={"$filter": expression})
    assert response.status_code == 400
    assert fragment in inner_message(response)


@pytest.mark.anyio
async def test_orderby_top_skip_count() -> None:
    async with await authorised(make_app()) as client:
        ordered = await accounts(
            client, **{"$orderby": "CustomerGroupId desc,CustomerAccount asc", "$top": "3"}
        )
        skipped = await accounts(client, **{"$orderby": "CustomerAccount", "$skip": "8"})
        counted = await client.get(
            CUSTOMERS, params={"$count": "true", "$top": "2", "$select": "CustomerAccount"}
        )
        bare = await client.get(
            f"{CUSTOMERS}/$count", params={"$filter": "CustomerGroupId eq '10'"}
        )
    assert ordered == ["US-010", "US-009", "US-005"]
    assert skipped == ["US-009", "US-010"]
    assert counted.json()["@odata.count"] == 10 and len(counted.json()["value"]) == 2
    assert bare.text == "4"


@pytest.mark.anyio
async def test_server_paging_next_link_repeats_query_with_skip() -> None:
    async with await authorised(make_app(page_size=4)) as client:
        first = await client.get(
            CUSTOMERS, params={"$select": "CustomerAccount", "$filter": "dataAreaId eq 'usmf'"}
        )
        link = first.json()["@odata.nextLink"]
        second = await client.get(link)
        third = await client.get(second.json()["@odata.nextLink"])
        topped = await client.get(CUSTOMERS, params={"$top": "3", "$select": "CustomerAccount"})
    assert link.startswith(f"{BASE}/data/CustomersV3?")
    assert "%24skip=4" in link or "$skip=4" in link
    assert [r["CustomerAccount"] for r in second.json()["value"]] == [
        "US-005",
        "US-006",
        "US-007",
        "US-008",
    ]
    assert "@odata.nextLink" not in third.json() and len(third.json()["value"]) == 2
    assert "@odata.nextLink" not in topped.json()


@pytest.mark.anyio
async def test_expand_with_nested_select_and_context() -> None:
    async with await authorised(make_app()) as client:
        response = await client.get(
            "/data/SalesInvoiceHeadersV2",
            params={
                "$select": "InvoiceNumber",
                "$expand": "SalesInvoiceLinesV2($select=ProductNumber,LineAmount)",
                "$filter": "InvoiceNumber eq 'CIV-000103'",
            },
        )
        too_deep = await client.get(
            "/data/SalesInvoiceHeadersV2",
            params={"$expand": "SalesInvoiceLinesV2($expand=SalesInvoiceHeaderV2)"},
        )
    body = response.json()
    assert body["@odata.context"].endswith(
        "#SalesInvoiceHeadersV2(InvoiceNumber,SalesInvoiceLinesV2,"
        "SalesInvoiceLinesV2(ProductNumber,LineAmount))"
    )
    lines = body["value"][0]["SalesInvoiceLinesV2"]
    assert [sorted(k for k in line if not k.startswith("@")) for line in lines] == [
        ["LineAmount", "ProductNumber"]
    ] * 2
    assert all(line["@odata.etag"].startswith('W/"') for line in lines)
    assert too_deep.status_code == 400


@pytest.mark.anyio
async def test_full_metadata_annotations() -> None:
    async with await authorised(make_app()) as client:
        response = await client.get(
            "/data/CustomerPaymentJournalHeaders",
            params={"cross-company": "true"},
            headers={"Accept": "application/json;odata.metadata=full"},
        )
        await client.post("/data/CustomerPaymentJournalHeaders", json={"JournalName": "CustPay"})
        row: dict[str, Any] = (
            await client.get(
                "/data/CustomerPaymentJournalHeaders",
                headers={"Accept": "application/json;odata.metadata=full"},
            )
        ).json()["value"][0]
    assert response.headers["content-type"].startswith("application/json; odata.metadata=full")
    assert row["@odata.type"] == "#Microsoft.Dynamics.DataEntities.CustomerPaymentJournalHeader"
    assert row["@odata.id"] == (
        f"{BASE}/data/CustomerPaymentJournalHeaders(dataAreaId='usmf',"
        "JournalBatchNumber='USMF-000001')"
    )
    assert row["@odata.editLink"].startswith("CustomerPaymentJournalHeaders(")
    assert row["IsPosted@odata.type"] == "#Microsoft.Dynamics.DataEntities.NoYes"
    assert row["CustomerPaymentJournalLineHeaderEntity@odata.navigationLink"].endswith(
        "/CustomerPaymentJournalLineHeaderEntity"
    )


@pytest.mark.anyio
async def test_payment_reference_filter_over_100k_lines() -> None:

    app = make_app()
    engine = app.state.sandbox.engine
    entity = engine.entity("CustomerPaymentJournalLines")
    header = engine.create(
        engine.entity("CustomerPaymentJournalHeaders"), {"JournalName": "CustPay"}, "usmf"
    )
    batch = header.values["JournalBatchNumber"]
    store = app.state.sandbox.store
    template = engine.create(
        entity,
        {
            "JournalBatchNumber": batch,
            "AccountType": "Cust",
            "AccountDisplayValue": "US\\-001",
            "CreditAmount": 1,
        },
        "usmf",
    )
    table = store.table("CustomerPaymentJournalLines")
    for n in range(2, 100_001):
        values = dict(template.values, LineNumber=n, PaymentReference=f"PT-{n}")
        table.put(table.key_of(values), type(template)(values, template.rec_id + n, 1))
    async with await authorised(app) as client:
        for n in (5, 50_000, 99_999):
            found = await client.get(
                "/data/CustomerPaymentJournalLines",
                params={
                    "$filter": f"dataAreaId eq 'usmf' and PaymentReference eq 'PT-{n}'",
                    "$select": "LineNumber",
                },
            )
            assert [r["LineNumber"] for r in found.json()["value"]] == [n]
