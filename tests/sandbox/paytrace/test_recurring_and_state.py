"""Recurring payments on the sandbox clock, the admin API, and state surviving a restart."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from paybridge_sandbox.paytrace import PayTraceSandboxSettings
from paybridge_sandbox.paytrace.recurring import occurrence
from paybridge_sandbox.paytrace.state import Recurrence
from tests.sandbox.paytrace.conftest import Harness, parse

pytestmark = pytest.mark.anyio
# 10:00 Los Angeles on 31 January 2026.
JAN_31 = datetime(2026, 1, 31, 18, 0, tzinfo=UTC)


def rec(frequency: str, start: date) -> Recurrence:
    return Recurrence(1, "C", Decimal("1.00"), frequency, start, None, 999)


@pytest.mark.parametrize(
    ("frequency", "start", "dates"),
    [
        ("3", date(2026, 1, 31), [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]),
        ("9", date(2026, 1, 31), [date(2026, 1, 31), date(2026, 3, 31), date(2026, 5, 31)]),
        ("2", date(2026, 11, 30), [date(2026, 11, 30), date(2027, 2, 28), date(2027, 5, 30)]),
        ("A", date(2026, 1, 1), [date(2026, 1, 1), date(2026, 5, 1), date(2026, 9, 1)]),
        ("8", date(2026, 8, 31), [date(2026, 8, 31), date(2027, 2, 28), date(2027, 8, 31)]),
        ("1", date(2028, 2, 29), [date(2028, 2, 29), date(2029, 2, 28), date(2030, 2, 28)]),
        ("4", date(2026, 1, 30), [date(2026, 1, 30), date(2026, 2, 13), date(2026, 2, 27)]),
        ("5", date(2026, 12, 29), [date(2026, 12, 29), date(2027, 1, 5), date(2027, 1, 12)]),
        ("6", date(2026, 2, 27), [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)]),
        ("7", date(2026, 1, 20), [date(2026, 2, 1), date(2026, 2, 15), date(2026, 3, 1)]),
        ("7", date(2026, 1, 15), [date(2026, 1, 15), date(2026, 2, 1), date(2026, 2, 15)]),
    ],
)
def test_frequencies(frequency: str, start: date, dates: list[date]) -> None:
    assert [occurrence(rec(frequency, start), n) for n in range(3)] == dates


async def test_monthly_recurrence_runs_across_month_ends() -> None:
    pt = Harness(start=JAN_31)
    await pt.customer("R1")
    body = {
        "customer_id": "R1",
        "recurrence": {
            "amount": 9.99,
            "frequency": "3",
            "start_date": "02/01/2026",
            "total_count": 3,
            "transaction_type": "Sale",
            "description": "Plan",
        },
    }
    created = await pt.ok("/v1/recurrence/create", body)
    assert created["response_code"] == 150
    rid = created["recurrence"]["id"]
    assert created["recurrence"]["next_date"] == "02/01/2026"
    await pt.client.post("/_sandbox/clock/advance", json={"seconds": 100 * 86400})
    records = await pt.export("01/01/2026", "12/31/2026", customer_id="R1")
    assert [r["created"]["at"] for r in records] == [
        "2/1/2026 12:30:00 AM",
        "3/1/2026 12:30:00 AM",
        "4/1/2026 12:30:00 AM",
    ]
    assert {r["amount"] for r in records} == {Decimal("9.99")}
    assert {r["status_code"] for r in records} == {"GB1", "GB2", "GB3"}
    approved = await pt.ok("/v1/recurrence/export_approved", {"customer_id": "R1"})
    assert len(approved["transactions"]) == 3
    scheduled = await pt.ok("/v1/recurrence/export_scheduled", {"customer_id": "R1"})
    assert scheduled["recurrences"][0]["id"] == rid
    assert scheduled["recurrences"][0]["next_date"] == ""


async def test_recurrence_update_delete_and_errors() -> None:
    pt = Harness(start=JAN_31)
    await pt.customer("R2")
    spec = {"amount": "5.00", "frequency": "5", "start_date": "02/02/2026"}
    rid = (await pt.ok("/v1/recurrence/create", {"customer_id": "R2", "recurrence": spec}))[
        "recurrence"
    ]["id"]
    changed = {"id": rid, "amount": "6.00", "frequency": "6"}
    updated = await pt.ok("/v1/recurrence/update", {"recurrence": changed})
    assert updated["response_code"] == 151
    assert updated["recurrence"]["amount"] == Decimal("6")
    assert (await pt.ok("/v1/recurrence/delete", {"recurrence": {"id": rid}}))[
        "response_code"
    ] == 152
    gone = parse(await pt.post("/v1/recurrence/delete", {"recurrence": {"id": rid}}))
    assert list(gone["errors"]) == ["52"]
    unknown = parse(
        await pt.post("/v1/recurrence/create", {"customer_id": "x", "recurrence": spec})
    )
    assert list(unknown["errors"]) == ["30"]
    bad = {"amount": "0", "frequency": "Z", "start_date": "01/01/2020"}
    errors = parse(await pt.post("/v1/recurrence/create", {"customer_id": "R2", "recurrence": bad}))
    assert sorted(errors["errors"]) == ["39", "48", "53"]


async def test_declined_recurring_run_is_not_in_export_approved() -> None:
    pt = Harness(start=JAN_31)
    await pt.customer("R3")
    spec = {"amount": "1.12", "frequency": "6", "start_date": "02/01/2026", "total_count": 2}
    await pt.ok("/v1/recurrence/create", {"customer_id": "R3", "recurrence": spec})
    await pt.client.post("/_sandbox/clock/advance", json={"seconds": 5 * 86400})
    assert len(await pt.export("02/01/2026", "02/28/2026", transaction_type="DECLINED")) == 2
    assert (await pt.ok("/v1/recurrence/export_approved", {}))["transactions"] == []


async def test_admin_summary_and_clock(pt: Harness) -> None:
    await pt.sale()
    await pt.authorize()
    summary = (await pt.client.get("/_sandbox/state/summary")).json()
    assert summary["transactions"] == 2
    assert summary["by_type_and_status"] == {"AUTHORIZATION:auth_only": 1, "SALE:pending": 1}
    assert summary["pending_settlement"] == 1
    moved = await pt.client.post("/_sandbox/clock/set", json={"now": "2026-01-16T05:00:00+00:00"})
    assert moved.json()["now"] == "2026-01-16T05:00:00+00:00"
    after = (await pt.client.get("/_sandbox/state/summary")).json()
    assert after["batches"] == 1  # 20:00 Los Angeles passed: the nightly close ran
    assert (
        await pt.client.post("/_sandbox/clock/advance", json={"seconds": -1})
    ).status_code == 400


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    settings = PayTraceSandboxSettings(state_path=tmp_path / "paytrace.sqlite")
    first = Harness(settings)
    token = await first.token()
    await first.customer("S1")
    sale = await first.sale("10.50", invoice_id="persist-me")
    auth = await first.authorize("4.00")
    await first.ok("/v1/transactions/settle")
    await first.ok(
        "/v1/checks/sale/by_account",
        {"amount": 3, "check": {"account_number": "123456", "routing_number": "325070760"}},
    )
    first.sandbox.close()

    second = Harness(settings, start=first.clock.now())
    second._token = token  # tokens survive too
    records = await second.export()
    assert [r["transaction_id"] for r in records] == [
        sale["transaction_id"],
        auth["transaction_id"],
    ]
    assert records[0]["amount"] == Decimal("10.5")
    assert records[0]["status_code"] == "GB1"
    refund = await second.ok(
        "/v1/transactions/refund/for_transaction", {"transaction_id": sale["transaction_id"]}
    )
    assert refund["transaction_id"] == auth["transaction_id"] + 1
    assert (
        await second.ok("/v1/transactions/sale/by_customer", {"customer_id": "S1", "amount": 1})
    )["success"]
    assert len(second.sandbox.state.checks) == 1
    second.sandbox.close()
