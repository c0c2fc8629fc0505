"""Issue 13: no payment lost or doubled when stores, workers and messages meet in the wrong order.

Each test reproduces one of the issue's numbered scenarios against both sandboxes in-process and
the engine built by the composition root; each failed on the main branch before the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from paybridge.connectors.dynamics import BatchOperation, ChangesetResult
from paybridge.connectors.paytrace import (
    AdjustRequest,
    CaptureRequest,
    TransactionRefundRequest,
    VoidRequest,
)
from paybridge.errors import DataError, InDoubtError, RetryableError
from paybridge.keys import LINE_STEP
from paybridge.model import Money, Transaction, TransactionKind, TransactionStatus
from paybridge.o2c.facts import envelope_for
from paybridge.o2c.settings import OrderToCashSettings
from paybridge.reconcile import MatchClass
from paybridge.reconcile.heal import enqueue_heals
from paybridge.reconcile.settings import CompanyReconcileSettings, ReconcileSettings
from paybridge.runtime.intents import DONE
from tests.conftest import asgi_client
from tests.integration.o2c.conftest import World, WorldFactory
from tests.sandboxes import D365, PT, sandbox_engine, sandbox_settings

pytestmark = pytest.mark.anyio


async def _fresh_store(world: World, tmp_path: Path, name: str) -> World:
    """Another engine, with an empty store, over the same two sandboxes (a lost or new database)."""
    config = sandbox_settings(tmp_path, db=name, o2c=OrderToCashSettings())
    pt_http, d_http = asgi_client(world.pt_app, PT), asgi_client(world.d365_app, D365)
    engine = sandbox_engine(
        config, clock=world.clock, pt_http=pt_http, d_http=d_http, d365_app=world.d365_app
    )
    return World(engine, world.clock, world.pt_app, world.d365_app, pt_http)


async def test_a_fresh_or_restored_store_posts_nothing_d365_already_holds(
    make_world: WorldFactory, tmp_path: Path
) -> None:
    """Scenario 9: a new database re-reads PayTrace's last days; D365 already has those lines."""
    world = await make_world()
    await world.profile("FRESH-1", "US-001")
    sales = [await world.sell("FRESH-1", amount) for amount in ("12.00", "13.50", "14.25")]
    await world.drain()
    for tid in sales:
        assert len(await world.lines(f"PT-{tid}-sale")) == 1
    before = len(await world.lines())

    again = await _fresh_store(world, tmp_path, "lost.db")
    again.engine.store.xref.link("paytrace_customer", "FRESH-1", "usmf/US-001")
    await again.drain()
    assert again.engine.store.queue.stats().done >= len(sales)  # it did see them all again
    assert len(await again.lines()) == before
    for tid in sales:
        (entry,) = [
            e for e in again.engine.store.ledger.entries(f"paytrace:{tid}:sale")
            if e.step == LINE_STEP
        ]  # fmt: skip
        assert entry.status == "posted" and entry.detail["how"] == "found"


async def test_heal_then_replay_of_the_dead_letter_posts_once(make_world: WorldFactory) -> None:
    """Scenario 5: ``reconcile --heal`` posts the sale, then ``dlq replay`` of its dead letter."""
    world = await make_world()
    await world.profile("LATE-LINK", None)
    tid = await world.sell("LATE-LINK", "77.70")
    await world.drain()
    queue = world.engine.store.queue
    (dead,) = queue.dead_letters()
    assert dead["key"] == f"paytrace:{tid}:sale" and "no D365 customer" in dead["dead_reason"]

    world.engine.store.xref.link("paytrace_customer", "LATE-LINK", "usmf/US-001")
    payload = queue.payload(f"paytrace:{tid}:sale")
    assert payload is not None
    (healed,) = enqueue_heals(queue, [Transaction.model_validate(payload)], "run-1")
    assert healed.enqueued
    await world.drain()
    assert len(await world.lines(f"PT-{tid}-sale")) == 1

    assert queue.replay(dead["id"])
    await world.drain()
    assert len(await world.lines(f"PT-{tid}-sale")) == 1
    assert queue.stats().dead == 0


async def test_a_worker_whose_lease_ran_out_mid_batch_changes_nothing(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario 4: while the first worker's ``$batch`` is out, its lease runs out and a second
    worker takes the message, finds nothing in D365 and posts it. D365 refuses the first's copy
    (same journal line); the first must neither reset the intent nor dead-letter the message."""
    world = await make_world()
    await world.profile("RACE-1", "US-001")
    tid = await world.sell("RACE-1", "40.00")
    await world.engine.ingest.poll_once()
    first = world.engine.worker
    second = first.sibling("worker-2")
    client = world.poster.lines.d365
    real = client.batch
    raced: list[int] = []

    async def slow_first(changesets: Sequence[Sequence[BatchOperation]]) -> list[ChangesetResult]:
        posts = any(op.method == "POST" for cs in changesets for op in cs)
        if posts and not raced:
            raced.append(1)
            world.clock.advance(first.lease_seconds + 1)
            assert await second.run_once() == 1
        return await real(changesets)

    monkeypatch.setattr(client, "batch", slow_first)
    assert await first.run_once() == 1
    assert raced
    assert len(await world.lines(f"PT-{tid}-sale")) == 1
    intent = world.engine.store.intents.get(f"paytrace:{tid}:sale", LINE_STEP)
    assert intent is not None and intent.status == DONE
    stats = world.engine.store.queue.stats()
    assert (stats.done, stats.dead, stats.ready) == (1, 0, 0)
    assert first.stats.fenced == 1 and second.stats.processed == 1
    posted = [
        e for e in world.engine.store.ledger.entries(f"paytrace:{tid}:sale") if e.step == LINE_STEP
    ]
    assert len(posted) == 1  # one lineage row, by the worker that held the line


async def test_one_failed_read_holds_up_its_own_payment_only(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario 10: one failed document look-up neither retries nor dead-letters the batch, and
    each dead letter carries its own reason."""
    world = await make_world()
    await world.profile("BATCH-1", "US-001")
    good = [await world.sell("BATCH-1", f"{20 + n}.00", f"SHOP-{n}") for n in range(3)]
    bad = await world.sell("BATCH-1", "31.00", "BROKEN-REF")
    client = world.poster.d365
    real = client.batch

    async def one_read_fails(
        changesets: Sequence[Sequence[BatchOperation]],
    ) -> list[ChangesetResult]:
        results = await real(changesets)
        return [
            ChangesetResult(ok=False, error=DataError("the read of BROKEN-REF was refused"))
            if any("BROKEN-REF" in op.entity_set for op in cs)
            else result
            for cs, result in zip(changesets, results, strict=True)
        ]

    monkeypatch.setattr(client, "batch", one_read_fails)
    await world.drain()
    for tid in good:
        assert len(await world.lines(f"PT-{tid}-sale")) == 1
    assert await world.lines(f"PT-{bad}-sale") == []
    dead = world.engine.store.queue.dead_letters()
    assert [(d["key"], d["dead_reason"]) for d in dead] == [
        (f"paytrace:{bad}:sale", "paybridge: the read of BROKEN-REF was refused")
    ]


async def _dead_letters_until(world: World, key: str) -> dict[str, object]:
    for _ in range(12):  # the default eight attempts, each after its back-off
        world.clock.advance(400)
        await world.drain()
        dead = [d for d in world.engine.store.queue.dead_letters() if d["key"] == key]
        if dead:
            return dead[0]
    raise AssertionError(f"{key} was never dead-lettered")


async def test_a_void_reverses_a_sale_written_but_dead_lettered(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenario 3a: the sale's line is written but the reply is lost, D365 is then unavailable
    until the sale is dead-lettered; the void must still reverse what D365 holds."""
    world = await make_world()
    await world.profile("LOST-REPLY", "US-001")
    tid = await world.sell("LOST-REPLY", "61.00")
    client = world.poster.lines.d365
    real = client.batch
    written: list[object] = []

    async def reply_lost_then_down(
        changesets: Sequence[Sequence[BatchOperation]],
    ) -> list[ChangesetResult]:
        if not written and any(op.method == "POST" for cs in changesets for op in cs):
            written.append(await real(changesets))  # written in D365 ...
            lost = InDoubtError("the reply was lost", reference=f"PT-{tid}-sale")
            return [ChangesetResult(ok=False, error=lost) for _ in changesets]  # ... unanswered
        if not written:
            return await real(changesets)
        down = RetryableError("D365 is unavailable (503)")
        return [ChangesetResult(ok=False, error=down) for _ in changesets]

    monkeypatch.setattr(client, "batch", reply_lost_then_down)
    await world.drain()
    await _dead_letters_until(world, f"paytrace:{tid}:sale")
    monkeypatch.setattr(client, "batch", real)

    await world.engine.paytrace.void(VoidRequest(transaction_id=int(tid)))
    world.clock.advance(60)
    await world.drain()
    (sale,) = await world.lines(f"PT-{tid}-sale")
    (void,) = await world.lines(f"PT-{tid}-void")
    assert Decimal(str(sale["CreditAmount"])) == Decimal("61.00")
    assert Decimal(str(void["DebitAmount"])) == Decimal("61.00")
    assert void["AccountDisplayValue"] == sale["AccountDisplayValue"]


async def test_a_void_before_its_dead_lettered_sale_is_replayed_credits_nothing(
    make_world: WorldFactory,
) -> None:
    """Scenario 3b: the sale waits in the dead letters for a customer link, the void arrives,
    then the documented fix (``xref link`` + ``dlq replay``) must not credit the voided sale."""
    world = await make_world()
    await world.profile("UNLINKED", None)
    tid = await world.sell("UNLINKED", "19.99")
    await world.drain()
    queue = world.engine.store.queue
    (dead,) = queue.dead_letters()
    await world.engine.paytrace.void(VoidRequest(transaction_id=int(tid)))
    world.clock.advance(60)
    await world.drain()
    assert [d["key"] for d in queue.dead_letters()] == [f"paytrace:{tid}:sale"]

    world.engine.store.xref.link("paytrace_customer", "UNLINKED", "usmf/US-001")
    assert queue.replay(dead["id"])
    await world.drain()
    assert await world.lines(f"PT-{tid}-sale") == []
    assert await world.lines(f"PT-{tid}-void") == []
    assert queue.stats().dead == 0
    notes = [e.status for e in world.engine.store.ledger.entries(f"paytrace:{tid}:")]
    assert "voided_first" in notes and "skipped" in notes


async def test_a_voided_refund_is_credited_back(make_world: WorldFactory) -> None:
    """Scenario 6: a refund voided in PayTrace must not stay a debit in D365."""
    world = await make_world()
    await world.profile("REFUNDED", "US-002")
    sale = await world.sell("REFUNDED", "80.00")
    await world.drain()
    await world.engine.paytrace.settle()
    refund = await world.engine.paytrace.refund_for_transaction(
        TransactionRefundRequest(transaction_id=int(sale), amount=Decimal("30.00"))
    )
    world.clock.advance(60)
    await world.drain()
    (debit,) = await world.lines(f"PT-{refund.transaction_id}-refund")
    await world.engine.paytrace.void(VoidRequest(transaction_id=int(refund.transaction_id)))
    world.clock.advance(60)
    await world.drain()
    (credit,) = await world.lines(f"PT-{refund.transaction_id}-void")
    assert Decimal(str(debit["DebitAmount"])) == Decimal("30.00")
    assert Decimal(str(credit["CreditAmount"])) == Decimal("30.00")
    assert not credit.get("DebitAmount")
    assert credit["AccountDisplayValue"] == debit["AccountDisplayValue"]
    assert len(await world.lines(f"PT-{sale}-sale")) == 1


async def test_an_adjusted_sale_settles_at_its_new_amount_in_d365(make_world: WorldFactory) -> None:
    """Scenario 8: 100.00 sold and posted, adjusted to 120.00 in PayTrace before settlement:
    D365 must end at 120.00 (and a downward adjust at the lower amount)."""
    world = await make_world()
    await world.profile("ADJUSTED", "US-003")
    up = await world.sell("ADJUSTED", "100.00")
    down = await world.sell("ADJUSTED", "50.00")
    await world.drain()
    await world.engine.paytrace.adjust(AdjustRequest(transaction_id=int(up), amount=Decimal("120")))
    await world.engine.paytrace.adjust(AdjustRequest(transaction_id=int(down), amount=Decimal(45)))
    await world.engine.paytrace.settle()
    world.clock.advance(60)
    await world.drain()
    await world.drain()
    for tid, total in ((up, Decimal("120.00")), (down, Decimal("45.00"))):
        rows = [*await world.lines(f"PT-{tid}-sale"), *await world.lines(f"PT-{tid}-adjust")]
        assert len(rows) == 2
        net = sum(
            (Decimal(str(r.get("CreditAmount") or 0)) - Decimal(str(r.get("DebitAmount") or 0)))
            for r in rows
        )
        assert net == total
    (gap,) = await world.lines(f"PT-{down}-adjust")
    assert Decimal(str(gap["DebitAmount"])) == Decimal("5.00") and not gap.get("MarkedInvoice")

    # The reconciliation compares the settled 120.00 / 45.00 with sale + adjust: no mismatch.
    settings = ReconcileSettings(
        companies={"usmf": CompanyReconcileSettings(bank_account="USMF OPER")}
    )
    report = await world.engine.reconciler(settings, lambda: "run-1").run(date(2026, 3, 10), "usmf")
    classes = {e.transaction_id: (e.match_class, e.reason) for e in report.exceptions}
    for tid in (up, down):
        assert classes.get(tid, (MatchClass.UNPOSTED_IN_D365, "unposted")) == (
            MatchClass.UNPOSTED_IN_D365,
            "unposted",
        )


async def test_nothing_from_before_the_cut_over_is_posted(make_world: WorldFactory) -> None:
    """Scenario 9, go-live: payments D365 has from before PayBridge (keyed by hand) stay out."""
    go_live = datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    world = await make_world(OrderToCashSettings(cut_over=go_live))
    await world.profile("BEFORE", "US-001")
    tid = await world.sell("BEFORE", "55.00")
    await world.drain()
    assert await world.lines(f"PT-{tid}-sale") == []
    (note,) = world.engine.store.ledger.entries(f"paytrace:{tid}:sale")
    assert note.status == "skipped" and "cut-over" in note.detail["why"]
    assert world.engine.store.queue.stats().dead == 0


def test_a_cut_over_without_its_offset_is_refused() -> None:
    with pytest.raises(ValidationError, match="cut_over"):
        OrderToCashSettings.model_validate({"cut_over": "2026-12-01T00:00:00"})


async def test_a_refund_that_overtakes_its_sale_moves_the_same_money(
    make_world: WorldFactory,
) -> None:
    """Scenario 11: a refund is a PayTrace transaction of its own (its own partition), so it can
    be posted before its sale (the sale was retrying). The money comes out the same either way:
    a refund is its own debit line, never a reversal of the sale's; and the order keeps the
    status of the newer fact, not of whichever came last."""
    world = await make_world(
        OrderToCashSettings(order_status_field="CustomersOrderReference", order_hold=False)
    )
    await world.profile("OVERTAKEN", "US-002")
    order = await world.new_order("US-002")
    at = world.clock.now()
    sale = Transaction(
        transaction_id="900001", kind=TransactionKind.SALE, status=TransactionStatus.APPROVED,
        amount=Money.of(Decimal("75.25"), "USD"), occurred_at=at, customer_id="OVERTAKEN",
        order_id=order,
    )  # fmt: skip
    refund = sale.model_copy(
        update={"transaction_id": "900002", "kind": TransactionKind.REFUND,
                "amount": Money.of(Decimal("10.00"), "USD"), "occurred_at": at + timedelta(days=1)}
    )  # fmt: skip
    queue = world.engine.store.queue
    for tx in (refund, sale):  # the refund first
        queue.enqueue([envelope_for(tx, "test")])
        while await world.engine.worker.run_once():
            pass
    (credit,) = await world.lines("PT-900001-sale")
    (debit,) = await world.lines("PT-900002-refund")
    assert Decimal(str(credit["CreditAmount"])) == Decimal("75.25")
    assert Decimal(str(debit["DebitAmount"])) == Decimal("10.00")
    assert credit["AccountDisplayValue"] == debit["AccountDisplayValue"]
    assert (await world.order(order))["CustomersOrderReference"] == "Refunded"


async def test_an_adjust_settled_before_its_dead_lettered_sale_is_replayed(
    make_world: WorldFactory,
) -> None:
    """Found by chaos: the sale waits in the dead letters, the transaction is adjusted and
    settles; the settlement must wait for the sale's line rather than find nothing to adjust."""
    world = await make_world()
    await world.profile("LATE-ADJ", None)
    tid = await world.sell("LATE-ADJ", "80.00")
    await world.drain()
    await world.engine.paytrace.adjust(AdjustRequest(transaction_id=int(tid), amount=Decimal(75)))
    await world.engine.paytrace.settle()
    await _dead_letters_until(world, f"paytrace:{tid}:settlement")
    world.engine.store.xref.link("paytrace_customer", "LATE-ADJ", "usmf/US-001")
    queue = world.engine.store.queue
    for letter in queue.dead_letters():
        assert queue.replay(letter["id"])
    await world.drain()
    world.clock.advance(120)
    await world.drain()
    rows = [*await world.lines(f"PT-{tid}-sale"), *await world.lines(f"PT-{tid}-adjust")]
    net = sum(
        Decimal(str(r.get("CreditAmount") or 0)) - Decimal(str(r.get("DebitAmount") or 0))
        for r in rows
    )
    assert net == Decimal("75.00") and len(rows) == 2


async def test_a_restored_store_records_the_line_of_a_capture_voided_since(
    make_world: WorldFactory, tmp_path: Path
) -> None:
    """A capture posted, then the store restored from a copy older than it, then the capture
    voided in PayTrace: PayTrace's export now shows an authorization and its void, never the
    capture again. The void reverses the capture line D365 holds, and the lineage names that
    line too (found in D365), so an auditor sees every line PayBridge wrote."""
    world = await make_world()
    await world.profile("CAPT-1", "US-001")
    again = await _fresh_store(world, tmp_path, "restored.db")  # the copy: before the capture
    again.engine.store.xref.link("paytrace_customer", "CAPT-1", "usmf/US-001")
    auth = await world.sell("CAPT-1", "59.57", auth=True)
    await world.engine.paytrace.capture(CaptureRequest(transaction_id=int(auth)))
    await world.drain()
    assert len(await world.lines(f"PT-{auth}-capture")) == 1

    await world.engine.paytrace.void(VoidRequest(transaction_id=int(auth)))
    await again.drain()  # the restored store takes over
    (void,) = await again.lines(f"PT-{auth}-void")
    assert Decimal(str(void["DebitAmount"])) == Decimal("59.57")
    store = again.engine.store
    assert store.queue.payload(f"paytrace:{auth}:capture") is None  # never seen by this store
    (entry,) = [
        e for e in store.ledger.entries(f"paytrace:{auth}:capture") if e.step == LINE_STEP
    ]  # fmt: skip
    assert entry.status == "posted" and entry.detail["how"] == "found in D365, not in the store"
    intent = store.intents.get(f"paytrace:{auth}:capture", LINE_STEP)
    assert intent is not None and intent.status == DONE
