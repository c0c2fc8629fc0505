"""A period is never charged twice: lost answers, killed runs, two schedulers, PayTrace's own engine."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from paybridge.billing.run import JOB_NAME
from paybridge.billing.subscriptions import ChargeStatus
from paybridge.connectors.paytrace import Recurrence, RecurrenceCreateRequest
from paybridge.keys import BILLING_CHARGE_STEP as CHARGE_STEP
from paybridge.runtime.scheduler import Scheduler
from tests.integration.billing.conftest import SALE_PATH, World


def billing_job(engine: Any) -> Any:
    """The billing job the engine scheduled (billing is enabled in the world's settings)."""
    return next(job for job in engine.scheduler.jobs if job.name == JOB_NAME)


class Killed(BaseException):
    """The process died: nothing after this line ran."""


def one_payment(world: World, key: str) -> dict[str, Any]:
    (txn,) = world.approved(key)
    payments = world.messages("payment")
    assert [p["key"] for p in payments] == [f"paytrace:{txn.transaction_id}:sale"]
    charge = world.subs.charge(key)
    assert charge is not None and charge.status is ChargeStatus.APPROVED
    assert charge.transaction_id == str(txn.transaction_id)
    return payments[0]


@pytest.mark.anyio
async def test_a_lost_answer_is_looked_up_after_a_restart_never_charged_again(
    world: World,
) -> None:
    await world.profile("R-1")
    sub = world.add("R-1", "19.99")
    key = f"sub:{sub.id}:2026-01-31"
    world.pt_app.state.faults.script("commit_then_drop", path=SALE_PATH)
    assert await world.billing.run() == "1 opened, 1 in_doubt"
    assert len(world.approved(key)) == 1  # PayTrace charged; we never heard back
    intent = world.engine.store.intents.get(key, CHARGE_STEP)
    assert intent is not None and intent.status == "sent"
    assert world.messages("payment") == []

    restarted = world.engine_like("after-restart")
    assert await restarted.billing.run() == "1 approved"
    one_payment(world, key)
    assert len(world.sandbox_charges(key)) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("moment", ["before the request", "after the request"])
async def test_a_run_killed_between_intent_and_answer_charges_once_on_rerun(
    world: World, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    await world.profile("R-2")
    sub = world.add("R-2", "42.00")
    key = f"sub:{sub.id}:2026-01-31"
    real_sale = world.engine.paytrace.sale_by_customer

    async def dying_sale(request: Any) -> Any:
        if moment == "after the request":
            await real_sale(request)
        raise Killed

    monkeypatch.setattr(world.engine.paytrace, "sale_by_customer", dying_sale)
    with pytest.raises(Killed):
        await world.billing.run()
    charged = 1 if moment == "after the request" else 0
    assert len(world.approved(key)) == charged

    rerun = world.engine_like("rerun").billing
    if not charged:  # PayTrace shows nothing yet: trusted as absent only after the grace
        assert await rerun.run() == "1 in_doubt"
        assert world.approved(key) == []
        world.advance(minutes=11)
    assert await rerun.run() == "1 approved"
    one_payment(world, key)
    assert await rerun.run() == "nothing due"


@pytest.mark.anyio
async def test_two_schedulers_on_one_store_charge_each_period_once(world: World) -> None:
    subs = []
    for n in range(4):
        await world.profile(f"TWO-{n}")
        subs.append(world.add(f"TWO-{n}", f"1{n}.00", d365=f"usmf/US-00{n + 1}"))
    second = world.engine_like("worker-2")
    first_s = Scheduler(world.engine.store.engine, world.clock, [billing_job(world.engine)],
                        worker="worker-1")  # fmt: skip
    second_s = Scheduler(second.store.engine, world.clock, [billing_job(second)],
                         worker="worker-2")  # fmt: skip
    started = await asyncio.gather(first_s.tick(), second_s.tick())
    assert sorted(name for names in started for name in names) == ["billing.charge"]
    for sub in subs:
        assert len(world.approved(f"sub:{sub.id}:2026-01-31")) == 1


def slow_sales(monkeypatch: pytest.MonkeyPatch, *engines: Any) -> None:
    """In-process HTTP never waits; a sale that yields lets two runs really overlap."""
    for engine in engines:
        real = engine.paytrace.sale_by_customer

        async def yielding(request: Any, real: Any = real) -> Any:
            await asyncio.sleep(0)
            reply = await real(request)
            await asyncio.sleep(0)
            return reply

        monkeypatch.setattr(engine.paytrace, "sale_by_customer", yielding)


@pytest.mark.anyio
async def test_two_overlapping_runs_still_charge_each_period_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs = []
    for n in range(4):
        await world.profile(f"RACE-{n}")
        subs.append(world.add(f"RACE-{n}", f"2{n}.00"))
    second = world.engine_like("worker-2")
    slow_sales(monkeypatch, world.engine, second)
    other = second.billing
    first_pass = await asyncio.gather(world.billing.run(), other.run())
    assert all("approved" in result for result in first_pass)  # both runs charged some
    world.advance(minutes=11)  # anything left in doubt is looked up now
    await asyncio.gather(world.billing.run(), other.run())
    for sub in subs:
        key = f"sub:{sub.id}:2026-01-31"
        assert len(world.sandbox_charges(key)) == 1
        assert world.subs.charge(key).status is ChargeStatus.APPROVED  # type: ignore[union-attr]
    assert len(world.messages("payment")) == len(subs)


@pytest.mark.anyio
async def test_charges_of_paytraces_recurring_engine_are_linked_by_reference(
    world: World,
) -> None:
    await world.profile("PTR-1")
    sub = world.add("PTR-1", "12.00", engine="paytrace", start=date(2026, 2, 1))
    await world.engine.paytrace.create_recurrence(
        RecurrenceCreateRequest(
            customer_id="PTR-1",
            recurrence=Recurrence(
                amount=Decimal("12.00"),
                frequency="3",
                start_date=date(2026, 2, 1),
                description=f"sub:{sub.id}",
            ),
        )
    )
    assert await world.billing.run() == "nothing due"  # PayTrace charges overnight, not us
    world.advance_to(datetime(2026, 2, 1, 18, tzinfo=UTC))
    assert await world.billing.run() == "1 linked"
    (charge,) = world.subs.charges(sub.id)
    assert charge.source == "paytrace_recurring" and charge.status is ChargeStatus.APPROVED
    assert charge.period == date(2026, 2, 1) and charge.amount.amount == Decimal("12.00")
    (payment,) = world.messages("payment")
    assert payment["key"] == f"paytrace:{charge.transaction_id}:sale"
    assert world.sandbox_charges(f"sub:{sub.id}:2026-02-01") == []  # we sent nothing ourselves
    assert await world.billing.run() == "nothing due"
    await world.drain()
    lines = await world.engine.dynamics.query("CustomerPaymentJournalLines")
    assert [r["PaymentReference"] for r in lines] == [charge.transaction_id]
