"""ACH checks through the engine `paybridge worker` builds, against both sandboxes in-process.

Checks are made on PayTrace's check API (here through PayBridge's PayTrace client, as a
merchant's virtual terminal would); the engine's ``paytrace.poll_checks`` job reads the check
export and o2c posts each state: a sale or a funded hold credits the customer (marked against
the invoice), a void or a refund debits it, and a return (NACHA R-code, the PayTrace sandbox's
emulator-only ``/_sandbox/checks/return``) reverses what D365 holds, once, with its reason.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from paybridge.app.api import build_api
from paybridge.connectors.dynamics import F, Query
from paybridge.connectors.paytrace import (
    Address,
    CheckAccount,
    CheckManageRequest,
    CheckSaleByCustomerRequest,
    CustomerCreateRequest,
)
from paybridge.errors import DeclinedError
from paybridge.o2c.settings import CheckSettings, OrderToCashSettings
from paybridge.runtime.scheduler import PeriodicJob
from tests.conftest import asgi_client
from tests.integration.o2c.conftest import World, WorldFactory

pytestmark = pytest.mark.anyio
ACCOUNT = "000123456789"


async def ach_world(
    make_world: WorldFactory, profile: str, account: str | None, *, post_journals: bool = False,
    reverse_service: str | None = None,
) -> World:  # fmt: skip
    checks = CheckSettings(
        enabled=True, payment_method="ELECTRONIC", reverse_service=reverse_service
    )
    world = await make_world(OrderToCashSettings(post_journals=post_journals), checks=checks)
    await world.engine.paytrace.create_customer(
        CustomerCreateRequest(
            customer_id=profile,
            check=CheckAccount(account_number=SecretStr(ACCOUNT), routing_number="325070760"),
            billing_address=Address(name="ACH Payer", street_address="1 Main St", zip="98101"),
        )
    )
    if account:
        world.engine.store.xref.link("paytrace_customer", profile, f"usmf/{account}")
    return world


async def poll_checks(world: World) -> str:
    """The engine's own job, as its scheduler runs it, then the worker until the queue is empty."""
    (job,) = [j for j in world.engine.scheduler.jobs if j.name == "paytrace.poll_checks"]
    assert isinstance(job, PeriodicJob)
    said = str(await job.run())
    while await world.engine.worker.run_once():
        pass
    return said


async def sale(
    world: World, profile: str, amount: str, invoice: str = "", hold: bool = False
) -> int:
    request = CheckSaleByCustomerRequest(
        customer_id=profile, amount=Decimal(amount), invoice_id=invoice or None
    )
    client = world.engine.paytrace
    reply = await (client.check_hold_by_customer if hold else client.check_sale_by_customer)(
        request
    )
    assert reply.check_transaction_id is not None
    return reply.check_transaction_id


async def admin(world: World, event: str, check: int, **body: Any) -> None:
    reply = await world.pt_http.post(
        f"/_sandbox/checks/{event}", json={"check_transaction_id": check, **body}
    )
    assert reply.status_code == 200, reply.text


async def invoice_settled(world: World, invoice: str) -> Decimal:
    (row,) = await world.engine.dynamics.query(
        "CustTransactions", Query(filter=F("Invoice") == invoice)
    )
    return Decimal(str(row.get("SettleAmountCur") or 0))


def money(row: dict[str, Any], side: str) -> Decimal:
    return Decimal(str(row.get(side) or 0))


async def test_an_ach_sale_posts_against_its_invoice_and_its_return_reverses_it_once(
    make_world: WorldFactory,
) -> None:
    world = await ach_world(make_world, "ACH-1", "US-001")
    check = await sale(world, "ACH-1", "400.00", "CIV-000101")
    assert (await poll_checks(world)).startswith("1 seen, 1 new")
    (line,) = await world.lines(f"PT-ACH{check}-sale")
    assert (
        money(line, "CreditAmount") == Decimal("400.00") and line["MarkedInvoice"] == "CIV-000101"
    )
    assert line["PaymentMethodName"] == "ELECTRONIC" and line["PaymentReference"] == f"ACH{check}"

    await admin(world, "settle", check)  # the ACH network funds it
    await admin(world, "return", check, code="R01")  # then the bank sends it back
    assert "1 new" in await poll_checks(world)
    (back,) = await world.lines(f"PT-ACH{check}-return")
    assert money(back, "DebitAmount") == Decimal("400.00") and not back.get("MarkedInvoice")
    assert "R01: insufficient funds" in back["TransactionText"]
    assert back["AccountDisplayValue"] == line["AccountDisplayValue"]

    # Seen again (every poll reads the lookback window): still one line each.
    assert (await poll_checks(world)).endswith("0 new")
    assert len(await world.lines(f"PT-ACH{check}-return")) == 1
    assert len(await world.lines(f"PT-ACH{check}-sale")) == 1


async def test_a_return_after_the_journal_was_posted_reopens_the_customer_balance(
    make_world: WorldFactory,
) -> None:
    world = await ach_world(make_world, "ACH-2", "US-002", post_journals=True)
    check = await sale(world, "ACH-2", "2500.50", "CIV-000102")
    await poll_checks(world)
    (credit,) = await world.lines(f"PT-ACH{check}-sale")
    (job,) = [j for j in world.engine.scheduler.jobs if j.name == "d365.post_journals"]
    assert isinstance(job, PeriodicJob)
    world.clock.advance(9 * 3600)  # past the 18:00 cut-off: the day's journal is posted
    assert str(await job.run()).startswith("posted 1 journal")
    assert await invoice_settled(world, "CIV-000102") == Decimal("2500.50")

    await admin(world, "settle", check)
    await admin(world, "return", check, code="R02")
    await poll_checks(world)
    (debit,) = await world.lines(f"PT-ACH{check}-return")
    assert "R02: account closed" in debit["TransactionText"]
    assert debit["JournalBatchNumber"] != credit["JournalBatchNumber"]  # that one is posted
    assert money(debit, "DebitAmount") == Decimal("2500.50")
    world.clock.advance(24 * 3600)
    assert str(await job.run()).startswith("posted 1 journal")
    opened = await world.engine.dynamics.query(
        "CustTransOpens", Query(filter=(F("AccountNum") == "US-002") & (F("dataAreaId") == "usmf"))
    )
    assert Decimal("2500.50") in [Decimal(str(r["AmountCur"])) for r in opened]


async def test_with_the_reversal_service_a_posted_payment_is_reversed_and_its_invoice_reopened(
    make_world: WorldFactory,
) -> None:
    world = await ach_world(
        make_world, "ACH-6", "US-003", post_journals=True,
        reverse_service="PayBridgeSandbox/Settlements/reverse",
    )  # fmt: skip
    check = await sale(world, "ACH-6", "4199.99", "CIV-000103")
    await poll_checks(world)
    (job,) = [j for j in world.engine.scheduler.jobs if j.name == "d365.post_journals"]
    assert isinstance(job, PeriodicJob)
    world.clock.advance(9 * 3600)
    assert str(await job.run()).startswith("posted 1 journal")
    assert await invoice_settled(world, "CIV-000103") == Decimal("4199.99")

    await admin(world, "settle", check)
    await admin(world, "return", check, code="R01")
    await poll_checks(world)
    assert await world.lines(f"PT-ACH{check}-return") == []  # reversed, not a debit line
    assert await invoice_settled(world, "CIV-000103") == 0  # the invoice is open again
    (opened,) = await world.engine.dynamics.query(
        "CustTransOpens", Query(filter=(F("AccountNum") == "US-003") & (F("dataAreaId") == "usmf"))
    )
    assert Decimal(str(opened["AmountCur"])) == Decimal("4199.99")
    payments = await world.engine.dynamics.query(
        "CustTransactions", Query(filter=F("PaymReference") == f"ACH{check}")
    )
    assert sorted(Decimal(str(p["AmountCur"])) for p in payments) == [
        Decimal("-4199.99"), Decimal("4199.99"),
    ]  # fmt: skip
    assert any("R01: insufficient funds" in str(p["Txt"]) for p in payments)
    notes = [e.status for e in world.engine.store.ledger.entries(f"paytrace:ACH{check}:return")]
    assert "reversed" in notes
    # A lost store's replay of the return calls the service again: it answers, changes nothing.
    queue = world.engine.store.queue
    await world.engine.poster.reversal.reverse(  # type: ignore[union-attr]
        "replayed", "usmf", f"PT-ACH{check}-sale", "R01"
    )
    assert await invoice_settled(world, "CIV-000103") == 0
    assert len(await world.engine.dynamics.query(
        "CustTransactions", Query(filter=F("PaymReference") == f"ACH{check}")
    )) == 2  # fmt: skip
    assert queue.stats().dead == 0


async def test_a_return_before_its_sale_was_posted_credits_nothing(
    make_world: WorldFactory,
) -> None:
    """The sale waits in the dead letters (no D365 customer yet), the return comes, then the
    documented fix (link + replay) must not credit the returned payment."""
    world = await ach_world(make_world, "ACH-UNLINKED", None)
    check = await sale(world, "ACH-UNLINKED", "19.99")
    await poll_checks(world)
    queue = world.engine.store.queue
    (dead,) = queue.dead_letters()
    assert dead["key"] == f"paytrace:ACH{check}:sale"
    await admin(world, "return", check, code="R03")
    await poll_checks(world)
    world.engine.store.xref.link("paytrace_customer", "ACH-UNLINKED", "usmf/US-003")
    assert queue.replay(dead["id"])
    while await world.engine.worker.run_once():
        pass
    assert await world.lines(f"PT-ACH{check}-sale") == []
    assert await world.lines(f"PT-ACH{check}-return") == []
    notes = [e.status for e in world.engine.store.ledger.entries(f"paytrace:ACH{check}:")]
    assert "voided_first" in notes and "skipped" in notes


async def test_a_sale_and_its_return_first_seen_in_one_poll_net_to_zero(
    make_world: WorldFactory,
) -> None:
    world = await ach_world(make_world, "ACH-3", "US-003")
    check = await sale(world, "ACH-3", "75.00")
    await admin(world, "return", check, code="R09")
    assert (await poll_checks(world)).startswith("2 seen, 2 new")
    (credit,) = await world.lines(f"PT-ACH{check}-sale")
    (debit,) = await world.lines(f"PT-ACH{check}-return")
    assert money(credit, "CreditAmount") == money(debit, "DebitAmount") == Decimal("75.00")


async def test_hold_fund_void_refund_and_decline_each_post_what_they_did(
    make_world: WorldFactory,
) -> None:
    world = await ach_world(make_world, "ACH-4", "US-004")
    client = world.engine.paytrace
    held = await sale(world, "ACH-4", "120.00", hold=True)
    await poll_checks(world)
    assert await world.lines(f"PT-ACH{held}-authorization") == []  # a hold moves no money
    await client.check_fund(CheckManageRequest(check_transaction_id=held, amount=Decimal("100.00")))
    await poll_checks(world)
    (funded,) = await world.lines(f"PT-ACH{held}-capture")
    assert money(funded, "CreditAmount") == Decimal("100.00")

    voided = await sale(world, "ACH-4", "30.00")
    await poll_checks(world)
    await client.check_void(voided)
    await poll_checks(world)
    (void_line,) = await world.lines(f"PT-ACH{voided}-void")
    assert money(void_line, "DebitAmount") == Decimal("30.00")

    await admin(world, "settle", held)
    refund = await client.check_refund(
        CheckManageRequest(check_transaction_id=held, amount=Decimal("40.00"))
    )
    assert refund.check_transaction_id is not None
    await poll_checks(world)
    (refund_line,) = await world.lines(f"PT-ACH{refund.check_transaction_id}-refund")
    assert money(refund_line, "DebitAmount") == Decimal("40.00")
    assert refund_line["AccountDisplayValue"] == funded["AccountDisplayValue"]

    with pytest.raises(DeclinedError):
        await sale(world, "ACH-4", "1.12")  # PayTrace's sandbox declines this amount
    assert "1 new" in await poll_checks(world)
    declined = [
        r for r in await world.engine.dynamics.query(
            "CustomerPaymentJournalLines", Query(filter=F("PaymentMethodName") == "ELECTRONIC")
        )
        if money(r, "CreditAmount") == Decimal("1.12")
    ]  # fmt: skip
    assert declined == []


async def test_an_invoice_charged_by_ach_through_the_api_is_one_check_even_with_a_lost_reply(
    make_world: WorldFactory,
) -> None:
    world = await ach_world(make_world, "ACH-5", "US-005")
    operator = world.engine.security.api_keys.create("operator", label="test").token
    headers = {"Authorization": f"Bearer {operator}", "Idempotency-Key": "ach-1"}
    body = {"company": "usmf", "invoice_number": "CIV-000105", "amount": "250.00", "tender": "ach"}
    world.pt_app.state.faults.script("commit_then_drop", path="/v1/checks/sale/by_customer")
    async with asgi_client(build_api(world.engine), "http://paybridge.test") as api:
        lost = await api.post("/v1/charges", json=body, headers=headers)
        assert lost.status_code == 202, lost.text  # PayTrace made the check; the answer was lost
        again = await api.post("/v1/charges", json=body, headers=headers)
        assert again.status_code == 201, again.text  # looked up in the check export, not resent
        assert again.json()["tender"] == "ach" and again.json()["transaction_id"].startswith("ACH")
        checks = world.pt_app.state.sandbox.state.checks.values()
        (made,) = [c for c in checks if c.invoice_id == "CIV-000105"]
        assert again.json()["transaction_id"] == f"ACH{made.check_transaction_id}"
        assert made.amount == Decimal("250.00") and made.customer_id == "ACH-5"
        over = await api.post(
            "/v1/charges", json={**body, "amount": "4800.00"},
            headers={**headers, "Idempotency-Key": "ach-2"},
        )  # fmt: skip
        assert over.status_code == 422  # 250 of 5000 is PayBridge's already
    await poll_checks(world)  # the poller's sighting of the same check is the same fact
    (line,) = await world.lines(f"PT-ACH{made.check_transaction_id}-sale")
    assert line["MarkedInvoice"] == "CIV-000105" and line["PaymentMethodName"] == "ELECTRONIC"
    assert money(line, "CreditAmount") == Decimal("250.00")


async def test_a_declined_ach_charge_answers_402_and_moves_nothing(
    make_world: WorldFactory,
) -> None:
    world = await ach_world(make_world, "ACH-7", "US-001")
    operator = world.engine.security.api_keys.create("operator", label="test").token
    headers = {"Authorization": f"Bearer {operator}", "Idempotency-Key": "ach-declined"}
    body = {"company": "usmf", "invoice_number": "CIV-000101", "amount": "1.12", "tender": "ach"}
    async with asgi_client(build_api(world.engine), "http://paybridge.test") as api:
        declined = await api.post("/v1/charges", json=body, headers=headers)
        assert declined.status_code == 402, declined.text
        assert declined.json()["status"] == "declined" and declined.json()["tender"] == "ach"
        again = await api.post("/v1/charges", json=body, headers=headers)
        assert again.status_code == 402 and again.json()["replayed"] is True
    checks = list(world.pt_app.state.sandbox.state.checks.values())
    assert [c.status for c in checks] == ["declined"]  # one check, never resent
    await poll_checks(world)
    assert await world.lines() == []
