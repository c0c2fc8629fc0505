"""Recurring payments (run by the sandbox clock) and ACH checks through PayTraceClient."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import pytest

from paybridge.connectors.paytrace import (
    CheckAccount,
    CheckManageRequest,
    CheckSaleByAccountRequest,
    CheckSaleByCustomerRequest,
    CustomerCreateRequest,
    ExportByDateRangeRequest,
    Recurrence,
    RecurrenceChange,
    RecurrenceCreateRequest,
    RecurrenceExportRequest,
    RecurrenceUpdateRequest,
)
from paybridge.errors import DataError, DeclinedError
from paybridge_sandbox.paytrace.state import Check
from tests.integration.paytrace.test_client_sandbox_cards import (
    ADDRESS,
    Rig,
    add_customer,
    open_rig,
)

pytestmark = pytest.mark.anyio
DAY = 86400
ACCOUNT = CheckAccount(account_number="123456", routing_number="325070760")
TOMORROW = date(2026, 1, 6)  # START is 9:00 on Jan 5 in Los Angeles


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with open_rig() as opened:
        yield opened


def weekly(amount: str, count: int = 3, kind: str = "Sale") -> Recurrence:
    return Recurrence(
        amount=Decimal(amount),
        frequency="5",
        start_date=TOMORROW,
        total_count=count,
        transaction_type="Authorization" if kind == "Authorization" else "Sale",
        description="Weekly box",
    )


async def test_recurrence_lifecycle_runs_on_the_sandbox_clock(rig: Rig) -> None:
    await add_customer(rig, "R1")
    created = await rig.client.create_recurrence(
        RecurrenceCreateRequest(customer_id="R1", recurrence=weekly("9.99"))
    )
    assert created.response_code == 150 and created.recurrence is not None
    rid = created.recurrence.id
    assert (created.recurrence.amount, created.recurrence.start_date) == (
        Decimal("9.99"),
        "01/06/2026",
    )
    updated = await rig.client.update_recurrence(
        RecurrenceUpdateRequest(recurrence=RecurrenceChange(id=rid, amount=Decimal("12.50")))
    )
    assert updated.response_code == 151
    await rig.advance(8 * DAY)  # runs at 00:30 on Jan 6 and Jan 13
    charged = await rig.client.export_approved_recurring("R1")
    assert [(r.amount, r.transaction_type, r.description) for r in charged] == [
        (Decimal("12.50"), "SALE", "Weekly box")
    ] * 2
    assert [r.created.at for r in charged] == ["1/6/2026 12:30:00 AM", "1/13/2026 12:30:00 AM"]
    assert charged[0].batch_number == 1  # settled the same evening at 20:00
    [scheduled] = await rig.client.export_recurrences(RecurrenceExportRequest(customer_id="R1"))
    assert scheduled.id == rid
    assert scheduled.model_extra is not None
    assert (scheduled.model_extra["next_date"], scheduled.model_extra["current_count"]) == (
        "01/20/2026",
        2,
    )
    deleted = await rig.client.delete_recurrence(rid)
    assert deleted.response_code == 152
    assert await rig.client.export_recurrences(RecurrenceExportRequest(customer_id="R1")) == []
    await rig.advance(14 * DAY)
    assert len(await rig.client.export_approved_recurring("R1")) == 2


async def test_recurring_runs_stop_at_total_count_and_show_in_exports(rig: Rig) -> None:
    await add_customer(rig, "R2")
    await rig.client.create_recurrence(
        RecurrenceCreateRequest(customer_id="R2", recurrence=weekly("5", count=2))
    )
    await rig.advance(30 * DAY)
    records = await rig.client.export_by_date_range(
        ExportByDateRangeRequest(
            start_date=date(2026, 1, 1), end_date=date(2026, 2, 28), customer_id="R2"
        )
    )
    assert [(r.amount, r.created.at) for r in records] == [
        (Decimal("5.00"), "1/6/2026 12:30:00 AM"),
        (Decimal("5.00"), "1/13/2026 12:30:00 AM"),
    ]
    assert {r.created.by for r in records} == {"Recurring"}


async def test_recurring_authorizations_and_declines(rig: Rig) -> None:
    await add_customer(rig, "R3")
    for recurrence in (weekly("7", count=1, kind="Authorization"), weekly("1.12", count=1)):
        await rig.client.create_recurrence(
            RecurrenceCreateRequest(customer_id="R3", recurrence=recurrence)
        )
    await rig.advance(2 * DAY)
    approved = await rig.client.export_approved_recurring("R3")
    assert [(r.transaction_type, r.amount, r.status_message) for r in approved] == [
        ("AUTHORIZATION", Decimal("7.00"), "Authorization Only")
    ]
    declined = await rig.client.export_by_date_range(
        ExportByDateRangeRequest(
            start_date=TOMORROW, end_date=TOMORROW, transaction_type="DECLINED"
        )
    )
    assert [(r.amount, r.customer_id) for r in declined] == [(Decimal("1.12"), "R3")]


async def test_recurrence_refusals(rig: Rig) -> None:
    with pytest.raises(DataError) as unknown_customer:
        await rig.client.create_recurrence(
            RecurrenceCreateRequest(customer_id="ghost", recurrence=weekly("1"))
        )
    assert set(unknown_customer.value.fields) == {"30"}
    await add_customer(rig, "R4")
    past = weekly("1").model_copy(update={"start_date": date(2026, 1, 1)})
    with pytest.raises(DataError) as in_the_past:
        await rig.client.create_recurrence(
            RecurrenceCreateRequest(customer_id="R4", recurrence=past)
        )
    assert set(in_the_past.value.fields) == {"48"}
    with pytest.raises(DataError) as unknown_id:
        await rig.client.update_recurrence(
            RecurrenceUpdateRequest(recurrence=RecurrenceChange(id=42, amount=Decimal("1")))
        )
    with pytest.raises(DataError) as unknown_delete:
        await rig.client.delete_recurrence(42)
    assert set(unknown_id.value.fields) == set(unknown_delete.value.fields) == {"52"}
    assert await rig.client.export_recurrences(RecurrenceExportRequest()) == []


def check_of(rig: Rig, check_transaction_id: int | None) -> Check:
    assert check_transaction_id is not None
    return rig.sandbox.state.checks[check_transaction_id]


async def test_check_sale_refund_and_settlement(rig: Rig) -> None:
    sale = await rig.client.check_sale_by_account(
        CheckSaleByAccountRequest(
            amount=Decimal("25"), check=ACCOUNT, billing_address=ADDRESS, invoice_id="ACH-1"
        )
    )
    assert (sale.response_code, sale.check_transaction_id) == (120, 900001)
    refund = await rig.client.check_refund(
        CheckManageRequest(check_transaction_id=900001, amount=Decimal("5"))
    )
    assert refund.response_code == 122 and refund.check_transaction_id == 900002
    stored = check_of(rig, refund.check_transaction_id)
    assert (stored.kind, stored.amount, stored.parent_id) == ("refund", Decimal("5.00"), 900001)
    assert check_of(rig, 900001).account_last4 == "3456"
    await rig.client.settle()
    assert check_of(rig, 900001).status == "settled"
    rest = await rig.client.check_refund(CheckManageRequest(check_transaction_id=900001))
    assert check_of(rig, rest.check_transaction_id).amount == Decimal("20.00")
    with pytest.raises(DataError) as settled:
        await rig.client.check_void(900001)
    assert set(settled.value.fields) == {"80"}


async def test_check_hold_fund_and_void(rig: Rig) -> None:
    hold = await rig.client.check_hold_by_account(
        CheckSaleByAccountRequest(amount=Decimal("40"), check=ACCOUNT)
    )
    other = await rig.client.check_hold_by_account(
        CheckSaleByAccountRequest(amount=Decimal("3"), check=ACCOUNT)
    )
    assert check_of(rig, hold.check_transaction_id).status == "held"
    assert hold.check_transaction_id is not None and other.check_transaction_id is not None
    funded = await rig.client.check_fund(
        CheckManageRequest(check_transaction_id=hold.check_transaction_id, amount=Decimal("30"))
    )
    assert funded.response_code == 124
    held = check_of(rig, hold.check_transaction_id)
    assert (held.status, held.amount) == ("pending", Decimal("30.00"))
    voided = await rig.client.check_void(other.check_transaction_id)
    assert (voided.response_code, check_of(rig, other.check_transaction_id).status) == (
        124,
        "voided",
    )
    with pytest.raises(DataError) as twice:
        await rig.client.check_void(other.check_transaction_id)
    with pytest.raises(DataError) as fund_voided:
        await rig.client.check_fund(
            CheckManageRequest(check_transaction_id=other.check_transaction_id)
        )
    with pytest.raises(DataError) as unknown:
        await rig.client.check_refund(CheckManageRequest(check_transaction_id=123))
    assert all(set(e.value.fields) == {"80"} for e in (twice, fund_voided, unknown))
    assert "may already be voided or settled" in unknown.value.fields["80"]


async def test_checks_by_customer(rig: Rig) -> None:
    await rig.client.create_customer(CustomerCreateRequest(customer_id="B1", check=ACCOUNT))
    sale = await rig.client.check_sale_by_customer(
        CheckSaleByCustomerRequest(amount=Decimal("11"), customer_id="B1")
    )
    hold = await rig.client.check_hold_by_customer(
        CheckSaleByCustomerRequest(amount=Decimal("12"), customer_id="B1")
    )
    assert sale.response_code == hold.response_code == 120
    stored = [check_of(rig, r.check_transaction_id) for r in (sale, hold)]
    assert [(c.kind, c.status, c.customer_id, c.routing) for c in stored] == [
        ("sale", "pending", "B1", "325070760"),
        ("hold", "held", "B1", "325070760"),
    ]
    await add_customer(rig, "CARD-ONLY")
    with pytest.raises(DataError) as no_account:
        await rig.client.check_sale_by_customer(
            CheckSaleByCustomerRequest(amount=Decimal("1"), customer_id="CARD-ONLY")
        )
    assert set(no_account.value.fields) == {"30"}


async def test_check_validation_and_decline(rig: Rig) -> None:
    bad = CheckAccount(account_number="12", routing_number="123456789")
    with pytest.raises(DataError) as invalid:
        await rig.client.check_sale_by_account(CheckSaleByAccountRequest(amount="5", check=bad))
    assert invalid.value.fields == {
        "45": "Please provide a valid Checking Account Number.",
        "46": "Please provide a valid Transit Routing Number.",
    }
    assert rig.sandbox.state.checks == {}
    with pytest.raises(DeclinedError) as declined:
        await rig.client.check_sale_by_account(
            CheckSaleByAccountRequest(amount="1.12", check=ACCOUNT)
        )
    assert declined.value.response_code == 125
    assert declined.value.reason == "The check was not processed."
    assert declined.value.transaction_id == "900001"
    assert check_of(rig, 900001).status == "declined"
