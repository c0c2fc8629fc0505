"""Transaction export by date range and by id: record schema, exact amounts, local dates, filters."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import conformance_dir
from tests.sandbox.paytrace.conftest import BILLING, MASTERCARD, Harness, parse

pytestmark = pytest.mark.anyio
PATH = "/v1/transactions/export/by_date_range"


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively (int and float both count as a number)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


async def test_record_has_exactly_the_doc_example_schema(pt: Harness) -> None:
    folder = conformance_dir("paytrace")
    doc = json.loads((folder / "transactions_export_by_date_range.response.json").read_text())
    shipping = {"name": "", "zip": "85284", "country": "US"}
    await pt.sale(
        "110",
        invoice_id="inv1234",
        customer_reference_id="PO123456",
        tax_amount="8.10",
        shipping_address=shipping,
    )
    await pt.ok("/v1/transactions/settle")
    response = await pt.post(PATH, {"start_date": "01/15/2026", "end_date": "01/15/2026"})
    mine = json.loads(response.text)
    assert shape(mine) == shape(doc)
    assert mine["status_message"] == doc["status_message"]
    assert mine["response_code"] == 1
    assert mine["success"] is True


async def test_amounts_are_exact_json_numbers(pt: Harness) -> None:
    for amount in ("110.00", "10.50", "0.10", "1234567.89"):
        await pt.sale(amount)
    response = await pt.post(PATH, {"start_date": "01/15/2026", "end_date": "01/15/2026"})
    for text in ('"amount":110,', '"amount":10.5,', '"amount":0.1,', '"amount":1234567.89,'):
        assert text in response.text


async def test_declines_are_exported_with_their_status(pt: Harness) -> None:
    await pt.sale("0.29")
    [record] = await pt.export()
    assert record["amount"] == Decimal("0.29")
    assert (record["status_code"], record["status_message"]) == ("N", "Declined")
    assert record["approval_code"] == ""


async def test_record_values_for_a_pending_sale(pt: Harness) -> None:
    sale = await pt.sale("12.34", invoice_id="INV-1", tax_amount="1.00")
    [record] = await pt.export()
    assert record["transaction_id"] == sale["transaction_id"]
    assert record["transaction_type"] == "SALE"
    assert (record["status_code"], record["status_message"]) == ("Y", "Pending Settlement")
    assert record["credit_card"] == {
        "masked_number": "************5439",
        "expiration_month": 12,
        "expiration_year": 27,
    }
    assert record["created"]["at"] == "1/15/2026 10:00:00 AM"
    assert record["created"]["through"] == "API"
    assert record["created"]["by"] == "sandbox"
    assert record["settled"] == ""
    assert record["tax_amount"] == "1.00"
    assert record["billing_address"]["name"] == BILLING["name"]
    assert record["billing_address"]["country"] == "US"


async def test_range_is_inclusive_in_merchant_local_time(pt: Harness) -> None:
    pt.clock.advance(13.5 * 3600)  # 23:30 Los Angeles on 1/15, already 1/16 in UTC
    late = await pt.sale()
    pt.clock.advance(3600)  # 00:30 on 1/16 local
    next_day = await pt.sale()
    ids_15 = [r["transaction_id"] for r in await pt.export("01/15/2026", "01/15/2026")]
    ids_16 = [r["transaction_id"] for r in await pt.export("01/16/2026", "01/16/2026")]
    ids_both = [r["transaction_id"] for r in await pt.export("01/15/2026", "01/16/2026")]
    assert ids_15 == [late["transaction_id"]]
    assert ids_16 == [next_day["transaction_id"]]
    assert ids_both == [late["transaction_id"], next_day["transaction_id"]]
    assert await pt.export("01/17/2026", "12/31/2026") == []


async def test_filters(pt: Harness) -> None:
    await pt.customer("C1")
    sale = await pt.sale("5.00", invoice_id="Order 77", description="Blue widget")
    auth = await pt.authorize("6.00")
    declined = await pt.sale("1.12")
    vault = await pt.ok("/v1/transactions/sale/by_customer", {"customer_id": "C1", "amount": 7})
    void_me = await pt.sale("8.00")
    await pt.ok("/v1/transactions/void", {"transaction_id": void_me["transaction_id"]})

    async def ids(**filters: Any) -> list[int]:
        return [r["transaction_id"] for r in await pt.export(**filters)]

    assert await ids(transaction_id=sale["transaction_id"]) == [sale["transaction_id"]]
    assert await ids(transaction_type="authorization") == [auth["transaction_id"]]
    assert await ids(transaction_type="DECLINED") == [declined["transaction_id"]]
    assert await ids(transaction_type="VOID") == [void_me["transaction_id"]]
    assert await ids(transaction_type="PENDING") == [
        sale["transaction_id"],
        vault["transaction_id"],
    ]
    assert await ids(transaction_type="STR/FWD") == []
    assert await ids(customer_id="C1") == [vault["transaction_id"]]
    assert await ids(including_text="order 77") == [sale["transaction_id"]]
    assert await ids(including_text="WIDGET") == [sale["transaction_id"]]


async def test_include_bin_shows_first_six(pt: Harness) -> None:
    await pt.post("/v1/transactions/sale/keyed", {"amount": 3, "credit_card": MASTERCARD})
    [record] = await pt.export(include_bin=True)
    assert record["credit_card"]["masked_number"] == "549974******0057"
    [plain] = await pt.export()
    assert plain["credit_card"]["masked_number"] == "************0057"


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [("2026-01-15", "01/15/2026", "48"), ("01/15/2026", "13/01/2026", "49")],
)
async def test_bad_dates_are_refused(pt: Harness, start: str, end: str, code: str) -> None:
    response = await pt.post(PATH, {"start_date": start, "end_date": end})
    assert response.status_code == 400
    assert list(parse(response)["errors"]) == [code]


async def test_export_by_id(pt: Harness) -> None:
    sale = await pt.sale("9.99")
    data = await pt.ok(
        "/v1/transactions/export/by_id", {"transaction_id": str(sale["transaction_id"])}
    )
    assert [r["transaction_id"] for r in data["transactions"]] == [sale["transaction_id"]]
    missing = parse(await pt.post("/v1/transactions/export/by_id", {"transaction_id": 1}))
    assert list(missing["errors"]) == ["811"]


async def test_record_cache_follows_state_changes(pt: Harness) -> None:
    sale = await pt.sale("4.00")
    assert (await pt.export())[0]["status_code"] == "Y"
    await pt.ok("/v1/transactions/void", {"transaction_id": sale["transaction_id"]})
    assert (await pt.export())[0]["status_message"] == "Voided"


async def test_large_exports_only_read_their_own_days(pt: Harness) -> None:
    for _ in range(3):
        await pt.sale()
        pt.clock.advance(timedelta(days=1).total_seconds())
    assert len(await pt.export("01/16/2026", "01/16/2026")) == 1
    assert len(await pt.export("01/01/2026", "01/31/2026")) == 3


async def test_discretionary_data_is_echoed_in_exports(pt: Harness) -> None:
    """PayTrace echoes a transaction's discretionary data (spec §6); none, no key (doc example)."""
    data = {"Region": "West", "Store": "17"}
    with_data = await pt.sale("12.00", discretionary_data=data)
    without = await pt.sale("13.00")
    records = {r["transaction_id"]: r for r in await pt.export()}
    assert records[with_data["transaction_id"]]["discretionary_data"] == data
    assert "discretionary_data" not in records[without["transaction_id"]]
    by_id = await pt.ok(
        "/v1/transactions/export/by_id", {"transaction_id": str(with_data["transaction_id"])}
    )
    assert by_id["transactions"][0]["discretionary_data"] == data
