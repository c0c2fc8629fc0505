"""Wire types: Decimal amounts, merchant-local dates across DST, hidden card data, lookups."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import (
    CaptureRequest,
    CreditCard,
    ExportByDateRangeRequest,
    KeyedSaleRequest,
    LevelThreeLineItem,
    LevelThreeRequest,
    parse_merchant_time,
)
from paybridge.errors import DataError
from tests.unit.connectors.paytrace.scripted import (
    EXPORT_OK,
    ScriptedPayTrace,
    json_reply,
    make_client,
)

CARD = CreditCard(number="4012000098765439", expiration_month=12, expiration_year=2026)


@pytest.mark.parametrize(
    ("amount", "wire"),
    [(Decimal("12.3"), "12.30"), (5, "5.00"), ("0.29", "0.29"), (Decimal("1.120"), "1.12")],
)
def test_amounts_are_two_place_strings(amount: object, wire: str) -> None:
    request = KeyedSaleRequest.model_validate({"amount": amount, "credit_card": CARD})
    assert json.loads(request.model_dump_json())["amount"] == wire
    assert isinstance(request.amount, Decimal)


@pytest.mark.parametrize("amount", [12.3, Decimal("1.005"), "-1.00", "abc", Decimal("NaN")])
def test_bad_amounts_are_refused(amount: object) -> None:
    with pytest.raises((ValidationError, TypeError)):
        KeyedSaleRequest.model_validate({"amount": amount, "credit_card": CARD})


def test_card_data_hidden_from_repr_and_python_dumps() -> None:
    request = KeyedSaleRequest(amount=Decimal(1), credit_card=CARD, csc="999")
    shown = repr(request) + str(request) + str(request.model_dump())
    assert "4012000098765439" not in shown
    assert "999" not in shown
    assert json.loads(request.model_dump_json())["credit_card"]["number"] == "4012000098765439"


def test_level_three_booleans_stay_json_booleans() -> None:
    item = LevelThreeLineItem(quantity=Decimal("2.5"), unit_cost=Decimal("4"), tax_included=True)
    request = LevelThreeRequest(transaction_id=1, additional_tax_included=False, line_items=[item])
    body = json.loads(request.model_dump_json(exclude_none=True))
    assert body["additional_tax_included"] is False
    assert body["line_items"] == [{"quantity": "2.5", "unit_cost": "4.00", "tax_included": True}]


def test_request_dates_are_us_format() -> None:
    request = ExportByDateRangeRequest(start_date=date(2026, 3, 1), end_date=date(2026, 3, 9))
    body = json.loads(request.model_dump_json(exclude_none=True))
    assert body == {"start_date": "03/01/2026", "end_date": "03/09/2026"}


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("1/5/2026 9:00:00 AM", "2026-01-05T17:00:00+00:00"),  # PST, UTC-8
        ("7/1/2026 12:00:00 PM", "2026-07-01T19:00:00+00:00"),  # PDT, UTC-7
        ("3/8/2026 1:59:59 AM", "2026-03-08T09:59:59+00:00"),  # last second of PST
        ("3/8/2026 3:00:00 AM", "2026-03-08T10:00:00+00:00"),  # first second of PDT
        ("3/8/2026 2:30:00 AM", "2026-03-08T10:30:00+00:00"),  # skipped hour: PST offset
        ("11/1/2026 1:30:00 AM", "2026-11-01T08:30:00+00:00"),  # repeated hour: first (PDT)
        ("11/1/2026 2:30:00 AM", "2026-11-01T10:30:00+00:00"),  # after fall back: PST
        ("12/31/2025 11:59:59 PM", "2026-01-01T07:59:59+00:00"),
        ("4/10/2015  4:06:30 pm", "2015-04-10T23:06:30+00:00"),  # tolerant of case and spaces
    ],
)
def test_merchant_time_to_utc_across_dst(local: str, utc: str) -> None:
    assert parse_merchant_time(local).isoformat() == utc


def test_bad_merchant_time_is_refused() -> None:
    with pytest.raises(ValueError, match="not a PayTrace date"):
        parse_merchant_time("2026-01-05T09:00:00")


def test_capture_without_amount_leaves_it_out() -> None:
    assert json.loads(CaptureRequest(transaction_id=9).model_dump_json(exclude_none=True)) == {
        "transaction_id": 9
    }


BY_ID = "/v1/transactions/export/by_id"
RANGE = "/v1/transactions/export/by_date_range"


def _record(txn: int, invoice: str, description: str = "") -> dict[str, object]:
    return {
        "transaction_id": txn,
        "transaction_type": "SALE",
        "amount": 12.3,
        "invoice_id": invoice,
        "description": description,
        "status_code": "Y",
        "status_message": "Pending Settlement",
        "created": {"through": "API", "at": "1/5/2026 9:00:00 AM", "by": "u", "from_ip": ""},
        "settled": "",
    }


@pytest.mark.anyio
async def test_export_by_id_returns_record_or_none() -> None:
    server = ScriptedPayTrace()
    not_found = {"success": False, "response_code": 1, "errors": {"811": ["not found"]}}
    server.script(
        BY_ID,
        json_reply({**EXPORT_OK, "transactions": [_record(7, "A")]}),
        json_reply(EXPORT_OK),
        json_reply(not_found, 400),
        json_reply({"success": False, "response_code": 1, "errors": {"58": ["bad id"]}}, 400),
    )
    client, http = make_client(server)
    async with http:
        record = await client.export_by_id(7)
        assert record is not None
        assert record.amount == Decimal("12.3")
        assert await client.export_by_id(8) is None
        assert await client.export_by_id(9) is None
        with pytest.raises(DataError):
            await client.export_by_id(10)
    assert [b["transaction_id"] for b in server.bodies(BY_ID)] == [7, 8, 9, 10]


@pytest.mark.anyio
async def test_find_transactions_searches_text_and_filters_exactly() -> None:
    clock = ManualClock(datetime(2026, 1, 6, 7, 30, tzinfo=UTC))  # 1/5 23:30 in Los Angeles
    server = ScriptedPayTrace()
    rows = [_record(1, "INV-1"), _record(2, "INV-10"), _record(3, "", "INV-1"), _record(4, "x")]
    server.script(RANGE, json_reply({**EXPORT_OK, "transactions": rows}))
    client, http = make_client(server, clock=clock)
    async with http:
        found = await client.find_transactions("INV-1", datetime(2026, 1, 5, 18, tzinfo=UTC))
        with pytest.raises(ValueError, match="non-empty"):
            await client.find_transactions("", clock.now())
    assert [r.transaction_id for r in found] == [1, 3]
    (body,) = server.bodies(RANGE)
    # One day early for skew; it is 1/5 23:30 in Los Angeles and an hour ahead is already 1/6.
    assert body["start_date"] == "01/04/2026"
    assert body["end_date"] == "01/06/2026"
    assert body["including_text"] == "INV-1"
