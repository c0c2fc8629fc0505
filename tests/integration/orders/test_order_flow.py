"""An order authorized at entry, invoiced in two parts, its remainder cancelled, then credited:
against both sandboxes, through the engine app/ builds (job orders.watch, handler order.payment)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.orders.world import World, open_world

pytestmark = pytest.mark.anyio


def card_transactions(world: World) -> list[object]:
    return sorted(world.paytrace().transactions.values(), key=lambda t: t.transaction_id)


async def test_authorize_capture_twice_cancel_and_refund(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        order, lots = await world.order("US-001", (4, "25"))
        await world.step()
        auths = [
            (t.transaction_type, t.amount, t.customer_id, t.transaction_id)  # type: ignore[attr-defined]
            for t in card_transactions(world)
        ]
        header = await world.header(order)
        await world.invoice(order, lots[0], 1)
        await world.step()
        await world.invoice(order, lots[0], 1)
        await world.step()
        await world.cancel(order)
        await world.step()
        txns = card_transactions(world)
        kinds = [(t.transaction_type, t.status, t.amount) for t in txns]  # type: ignore[attr-defined]
        authorized = [t.authorized_amount for t in txns]  # type: ignore[attr-defined]
        book = world.engine.orders.book.get("usmf", order)
        # A credit note for both invoiced units (50 > the 40 threshold): approved, then refunded
        # in two parts, one per capture, each within what its capture has left.
        world.settle()
        note = await world.credit(order, lots[0], 2)
        await world.step()
        rid = f"d365:usmf:{note['InvoiceNumber']}:refund"
        waiting = world.engine.orders.book.refund(rid)
        world.engine.orders.refunds.approve(rid, "key:checker")
        await world.step()
        refunds = [
            (t.parent_id, t.amount)
            for t in card_transactions(world)
            if t.transaction_type == "REFUND"
        ]  # type: ignore[attr-defined]
    assert waiting is not None and waiting.status == "awaiting_approval"
    assert sorted(refunds) == [
        (txns[0].transaction_id, Decimal("25.00")),  # type: ignore[attr-defined]
        (txns[1].transaction_id, Decimal("25.00")),
    ]  # type: ignore[attr-defined]
    assert [a[:3] for a in auths] == [("AUTHORIZATION", Decimal("100.00"), "C-1001")]
    assert header["CustomerRequisitionNumber"] == str(auths[0][3])
    assert kinds == [
        ("AUTHORIZATION", "pending", Decimal("25.00")),  # captured 25 of 100
        ("AUTHORIZATION", "pending", Decimal("25.00")),  # the remainder 75, captured 25
        ("AUTHORIZATION", "voided", Decimal("50.00")),  # the remainder 50, voided at cancel
    ]
    assert authorized == [
        Decimal("100.00"),
        Decimal("75.00"),
        Decimal("50.00"),
    ]
    assert book is not None and book.state == "closed" and book.captured == Decimal("50.00")


async def test_credit_note_refunds_the_capture_once_settled(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        order, lots = await world.order("US-001", (2, "15"))
        await world.step()
        invoice = await world.invoice(order)
        await world.step()
        credit = await world.credit(order, lots[0], 1)
        await world.step()
        before = world.engine.orders.book.refunds()
        world.settle()
        world.clock.advance(timedelta(hours=2).total_seconds())
        await world.step()
        after = world.engine.orders.book.refunds()
        refunds = [t for t in card_transactions(world) if t.transaction_type == "REFUND"]
    assert invoice["TotalInvoiceAmount"] == Decimal("30.00")
    assert credit["TotalInvoiceAmount"] == Decimal("-15.00")
    assert [(r.status, r.amount) for r in before] == [("refunding", Decimal("15.00"))]
    assert [(r.status, r.decided_by) for r in after] == [("refunded", "policy")]
    assert [(t.amount, t.parent_id) for t in refunds] == [
        (Decimal("15.00"), int(after[0].parts[0][0]))  # type: ignore[index]
    ]


async def test_each_capture_is_posted_once_against_its_own_invoice(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        order, lots = await world.order("US-001", (3, "20"))
        await world.step()
        first = await world.invoice(order, lots[0], 1)
        await world.step()
        second = await world.invoice(order)
        await world.step()
        for _ in range(2):  # o2c's poller sees the captures; a second poll sees nothing new
            await world.engine.ingest.poll_once()
            while await world.engine.worker.run_once():
                pass
        lines = await world.engine.dynamics.query("CustomerPaymentJournalLines")
        held = await world.header(order)
    captures = {
        (line["PaymentId"].rsplit("-", 1)[1], line["MarkedInvoice"], line["CreditAmount"])
        for line in lines
    }
    assert len(lines) == 2
    assert captures == {
        ("capture", first["InvoiceNumber"], Decimal("20")),
        ("capture", second["InvoiceNumber"], Decimal("40")),
    }
    assert held["IsSalesProcessingStopped"] != "Yes"  # o2c left the order's status alone
