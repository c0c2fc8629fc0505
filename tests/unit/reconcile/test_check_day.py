"""The day's ACH checks as the reconciler reads them from the check export (``load_checks``):
what settled or came back on the day is a row of batch ACH, the rest a state; field names and
times as tolerant as the client is (spec §13: the export's v1 names are not public)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from paybridge.connectors.paytrace import CheckExportRequest, CheckRecord
from paybridge.reconcile.columns import KIND_CODE, Codes, PayTraceColumns, check_tx
from paybridge.reconcile.load_paytrace import ACH_BATCH, PayTraceDay, load_checks

pytestmark = pytest.mark.anyio
DAY = date(2026, 3, 10)
TZ = "America/Los_Angeles"


class Export:
    """The check export of a PayTrace client: the records given, the request kept."""

    def __init__(self, *records: dict[str, Any]) -> None:
        self.records = [CheckRecord.model_validate(r) for r in records]
        self.asked: list[CheckExportRequest] = []

    async def export_checks(self, request: CheckExportRequest) -> list[CheckRecord]:
        self.asked.append(request)
        return self.records


def check(number: int, kind: str, status: str, **fields: str) -> dict[str, Any]:
    return {"check_transaction_id": number, "transaction_type": kind, "status": status,
            "amount": "100.00", "customer_id": "C1", **fields}  # fmt: skip


async def read(export: Export, *, returns: bool = True) -> PayTraceDay:
    day = PayTraceDay(PayTraceColumns(Codes()), "USD")
    await load_checks(export, DAY, day, lookback_days=7, timezone=TZ, returns=returns)  # type: ignore[arg-type]
    return day


def rows(day: PayTraceDay) -> list[tuple[int, int, int, int]]:
    c = day.columns
    return list(zip(c.tx, c.kind, c.minor, c.batch, strict=True))


async def test_what_settled_or_came_back_on_the_day_is_a_row_and_the_rest_a_state() -> None:
    today, before = "3/10/2026 9:00:00 AM", "3/2/2026 9:00:00 AM"
    export = Export(
        check(1, "SALE", "SETTLED", created=before, settled=today),
        check(2, "HOLD", "SETTLED", created=before, funded=before, settled=today),
        check(3, "REFUND", "SETTLED", created=today, settled=today),
        check(4, "SALE", "RETURNED", created=before, settled=before, returned=today),
        check(5, "SALE", "RETURNED", created=today, settled=today, returned=today),
        check(6, "SALE", "RETURNED", created=today, returned=today),  # never settled
        check(7, "SALE", "PENDING", created=today),
        check(8, "HOLD", "HELD", created=today),
        check(9, "SALE", "VOIDED", created=today, voided=today),
        check(10, "SALE", "DECLINED", created=today),
        check(11, "SALE", "SETTLED", created=before, settled=before),
        check(12, "SALE", "RETURNED", created=before, settled=today, returned="3/11/2026 1:00 AM"),
    )
    day = await read(export)
    (asked,) = export.asked
    assert (asked.start_date, asked.end_date) == (date(2026, 3, 3), date(2026, 3, 11))
    sale, capture, refund, back = (KIND_CODE[k] for k in ("sale", "capture", "refund", "return"))
    assert rows(day) == [
        (check_tx(1), sale, 10000, ACH_BATCH), (check_tx(2), capture, 10000, ACH_BATCH),
        (check_tx(3), refund, 10000, ACH_BATCH), (check_tx(4), back, 10000, ACH_BATCH),
        (check_tx(5), sale, 10000, ACH_BATCH), (check_tx(5), back, 10000, ACH_BATCH),
        (check_tx(12), sale, 10000, ACH_BATCH),
    ]  # fmt: skip
    assert set(day.checks) == {check_tx(n) for n in (1, 2, 3, 4, 5, 12)}
    assert day.statuses == {
        check_tx(4): "settled:other day", check_tx(6): "returned", check_tx(7): "pending",
        check_tx(8): "authorized", check_tx(9): "voided", check_tx(10): "declined",
        check_tx(11): "settled", check_tx(12): "settled:other day",
    }  # fmt: skip


async def test_returns_are_left_to_d365s_reversal_when_it_undoes_them() -> None:
    today = "3/10/2026 9:00:00 AM"
    day = await read(
        Export(check(5, "SALE", "RETURNED", created=today, settled=today, returned=today)),
        returns=False,
    )
    assert rows(day) == [(check_tx(5), KIND_CODE["sale"], 10000, ACH_BATCH)]
    assert day.statuses == {}


async def test_legacy_names_and_an_export_without_a_settlement_time() -> None:
    day = await read(
        Export(
            {
                "check_id": 21,
                "check_type": "Sale",
                "status": "Settled",
                "amount": "12.34",
                "created": "3/9/2026 9:00 AM",
                "funded": "3/10/2026 8:00 AM",
            },
            {"check_id": 22, "check_type": "Sale", "status": "Settled", "amount": "1.00"},
            {
                "check_id": 23,
                "check_type": "Sale",
                "status": "Settled",
                "settled": "not a time",
                "amount": "1.00",
            },
        )
    )
    assert rows(day) == [(check_tx(21), KIND_CODE["sale"], 1234, ACH_BATCH)]
    assert day.statuses == {check_tx(22): "settled", check_tx(23): "settled"}
    assert Decimal(day.columns.minor[0]) / 100 == Decimal("12.34")
