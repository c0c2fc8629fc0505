"""JSON in and out: Decimal both ways, dates at noon UTC, floats refused."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from paybridge.connectors.dynamics import EnumValue
from paybridge.connectors.dynamics.wire import dumps, loads


def test_dumps_writes_exact_numbers_and_f_and_o_dates() -> None:
    body = {
        "CreditAmount": Decimal("80.00"),
        "Big": Decimal("1E+3"),
        "LineNumber": 1,
        "TransactionDate": date(2026, 7, 15),
        "Stamp": datetime(2026, 7, 30, 8, 58, 53, tzinfo=UTC),
        "IsPrepayment": EnumValue("NoYes", "No"),
        "Text": 'quote " and \u00e9 and \\-',
        "Nested": {"List": [True, None, Decimal("-0.01")]},
    }
    text = dumps(body)
    assert '"CreditAmount":80.00' in text
    assert '"Big":1000' in text
    assert json.loads(text) == {
        "CreditAmount": 80.0,
        "Big": 1000,
        "LineNumber": 1,
        "TransactionDate": "2026-07-15T12:00:00Z",
        "Stamp": "2026-07-30T08:58:53Z",
        "IsPrepayment": "No",
        "Text": 'quote " and é and \\-',
        "Nested": {"List": [True, None, -0.01]},
    }


def test_loads_round_trips_amounts_exactly() -> None:
    amounts = loads(dumps({"a": Decimal("0.10"), "b": Decimal("12345678901234567890.12")}))
    assert amounts == {"a": Decimal("0.10"), "b": Decimal("12345678901234567890.12")}
    assert loads(b'\xef\xbb\xbf{"x": 1}') == {"x": Decimal(1)}


@pytest.mark.parametrize("bad", [1.5, Decimal("Infinity"), object()])
def test_dumps_refuses_what_cannot_be_exact(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        dumps({"x": bad})
