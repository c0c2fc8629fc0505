"""Sales orders as F&O serves them: lines by ``$expand=SalesOrderLines``, and the emulator-only
invoicing service (invoice, credit note, cancel) reaching the states PayBridge reads."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.sandbox.dynamics.support import authorised, make_app

pytestmark = pytest.mark.anyio
SERVICE = "/api/services/PayBridgeSandbox/SalesOrders"


async def new_order(client: httpx.AsyncClient, *quantities: int) -> tuple[str, list[str]]:
    created = await client.post(
        "/data/SalesOrderHeadersV2",
        json={"dataAreaId": "usmf", "OrderingCustomerAccountNumber": "US-001"},
    )
    assert created.status_code == 201, created.text
    number = str(created.json()["SalesOrderNumber"])
    lots = []
    for quantity in quantities:
        line = await client.post("/data/SalesOrderLinesV3", json={
            "dataAreaId": "usmf", "SalesOrderNumber": number, "ItemNumber": "D0001",
            "OrderedSalesQuantity": quantity, "SalesPrice": 12.5,
        })  # fmt: skip
        assert line.status_code == 201, line.text
        lots.append(str(line.json()["InventoryLotId"]))
    return number, lots


async def call(client: httpx.AsyncClient, operation: str, **body: Any) -> httpx.Response:
    return await client.post(f"{SERVICE}/{operation}", json={"dataAreaId": "usmf", **body})


async def header(client: httpx.AsyncClient, number: str) -> dict[str, Any]:
    response = await client.get(
        f"/data/SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='{number}')"
    )
    body: dict[str, Any] = response.json()
    return body


async def test_expand_sales_order_lines_reads_the_v3_lines_through_the_older_entity() -> None:
    async with await authorised(make_app()) as client:
        number, lots = await new_order(client, 2, 3)
        response = await client.get("/data/SalesOrderHeadersV2", params={
            "$filter": f"SalesOrderNumber eq '{number}'",
            "$select": "SalesOrderNumber",
            "$expand": "SalesOrderLines($select=InventoryLotId,LineAmount,SalesOrderNumber)",
        })  # fmt: skip
        direct = await client.get(
            "/data/SalesOrderLines", params={"$filter": f"SalesOrderNumber eq '{number}'"}
        )
        write = await client.post("/data/SalesOrderLines", json={"SalesOrderNumber": number})
    body = response.json()
    assert body["@odata.context"].endswith(
        "#SalesOrderHeadersV2(SalesOrderNumber,SalesOrderLines,"
        "SalesOrderLines(InventoryLotId,LineAmount,SalesOrderNumber))"
    )
    lines = body["value"][0]["SalesOrderLines"]
    assert [line["InventoryLotId"] for line in lines] == lots
    assert [Decimal(str(line["LineAmount"])) for line in lines] == [Decimal("25"), Decimal("37.5")]
    assert len(direct.json()["value"]) == 2
    assert write.status_code >= 400  # the view is read-only here; writes go to SalesOrderLinesV3


async def test_partial_invoices_then_a_credit_note_move_the_order_and_open_amounts() -> None:
    async with await authorised(make_app()) as client:
        number, lots = await new_order(client, 4)
        first = await call(client, "invoice", SalesOrderNumber=number,
                           Lines=[{"InventoryLotId": lots[0], "Quantity": 1}])  # fmt: skip
        partly = await header(client, number)
        second = await call(client, "invoice", SalesOrderNumber=number)
        done = await header(client, number)
        again = await call(client, "invoice", SalesOrderNumber=number)
        credit = await call(client, "creditNote", SalesOrderNumber=number,
                            Lines=[{"InventoryLotId": lots[0], "Quantity": 2}])  # fmt: skip
        too_much = await call(client, "creditNote", SalesOrderNumber=number,
                              Lines=[{"InventoryLotId": lots[0], "Quantity": 3}])  # fmt: skip
        invoices = (await client.get("/data/SalesInvoiceHeadersV2", params={
            "$filter": f"SalesOrderNumber eq '{number}'", "$orderby": "InvoiceNumber"})).json()["value"]  # fmt: skip
        trans = (await client.get("/data/CustTransactions", params={
            "$filter": f"PaymReference eq '{number}'"})).json()["value"]  # fmt: skip
    assert first.status_code == 200, first.text
    assert Decimal(str(first.json()["TotalInvoiceAmount"])) == Decimal("12.50")
    assert (partly["SalesOrderStatus"], partly["SalesOrderProcessingStatus"]) == (
        "Backorder", "PartiallyInvoiced")  # fmt: skip
    assert Decimal(str(second.json()["TotalInvoiceAmount"])) == Decimal("37.50")
    assert done["SalesOrderStatus"] == "Invoiced"
    assert again.status_code == 500 and "Invoiced" in again.json()["Message"]
    assert Decimal(str(credit.json()["TotalInvoiceAmount"])) == Decimal("-25.00")
    assert credit.json()["InvoiceNumber"].startswith("CCN-")
    assert too_much.status_code == 500 and "only 2" in too_much.json()["Message"]
    totals = sorted(Decimal(str(i["TotalInvoiceAmount"])) for i in invoices)
    assert totals == [Decimal("-25.00"), Decimal("12.50"), Decimal("37.50")]
    assert sorted(Decimal(str(t["AmountCur"])) for t in trans) == totals


async def test_cancel_makes_an_untouched_order_canceled_and_a_partly_invoiced_one_invoiced() -> (
    None
):
    async with await authorised(make_app()) as client:
        untouched, _ = await new_order(client, 1)
        partly, lots = await new_order(client, 3)
        await call(client, "invoice", SalesOrderNumber=partly,
                   Lines=[{"InventoryLotId": lots[0], "Quantity": 1}])  # fmt: skip
        first = await call(client, "cancel", SalesOrderNumber=untouched)
        second = await call(client, "cancel", SalesOrderNumber=partly)
        twice = await call(client, "cancel", SalesOrderNumber=untouched)
        missing = await call(client, "invoice", SalesOrderNumber="NOPE")
    assert first.json()["SalesOrderStatus"] == "Canceled"
    assert second.json()["SalesOrderStatus"] == "Invoiced"
    assert twice.status_code == 500
    assert missing.status_code == 500 and "does not exist" in missing.json()["Message"]


async def test_party_numbers_are_global_across_companies() -> None:
    async with await authorised(make_app()) as client:
        numbers = []
        for company in ("usmf", "usrt", "usmf"):
            response = await client.post("/data/CustomersV3", json={
                "dataAreaId": company, "OrganizationName": f"Party in {company}",
                "CustomerGroupId": "10", "SalesCurrencyCode": "USD",
            })  # fmt: skip
            assert response.status_code == 201, response.text
            numbers.append(response.json()["PartyNumber"])
    assert numbers == ["000002401", "000002402", "000002403"]
