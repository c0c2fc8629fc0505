"""A day with every class built in the sandboxes: classified, totalled, healed, journals written once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paybridge.reconcile import MatchClass, ReconciliationReport
from tests.integration.reconcile.conftest import DAY, World, build_day


def by_tx(report: ReconciliationReport, world: World) -> dict[str, tuple[MatchClass, str]]:
    names = {tx: name for name, tx in world.tx.items()}
    return {
        names.get(e.transaction_id, e.transaction_id): (e.match_class, e.reason)
        for e in report.exceptions
    }


@pytest.mark.anyio
async def test_every_exception_class_is_found(world: World) -> None:
    await build_day(world)
    report = await world.reconciler.run(DAY, "usmf")
    assert by_tx(report, world) == {
        "C1": (MatchClass.UNPOSTED_IN_D365, "unposted"),
        "C2": (MatchClass.MISSING_IN_D365, "deleted"),
        "C3": (MatchClass.AMOUNT_MISMATCH, "amount"),
        "C4": (MatchClass.DUPLICATED_IN_D365, "duplicate"),
        "C5": (MatchClass.WRONG_PARTY, "customer"),
        "X": (MatchClass.MISSING_IN_D365, "never_posted"),
        "R": (MatchClass.UNPOSTED_IN_D365, "unposted"),
        "424242": (MatchClass.NOT_IN_PAYTRACE, "unknown_transaction"),
    }
    assert report.counts[MatchClass.MATCHED] == 2  # A1 and A2, in the posted journal
    skipped = {s.transaction_id: s.reason for s in report.skipped}
    assert skipped == {
        world.tx["V"]: "voided in PayTrace and reversed in D365",
        world.tx["P"]: "not settled yet in PayTrace",
    }
    assert report.exit_code == 1


@pytest.mark.anyio
async def test_batch_totals_on_both_sides(world: World) -> None:
    await build_day(world)
    report = await world.reconciler.run(DAY, "usmf")
    one, two = report.batches
    assert (one.pt_count, one.pt_sales.amount, one.pt_refunds.amount) == (
        8,
        Decimal("365.00"),
        Decimal(0),
    )
    assert (one.d365_count, one.d365_net.amount) == (7, Decimal("359.00"))
    assert one.difference.amount == Decimal("6.00") and not one.ok
    assert (two.pt_count, two.pt_net.amount, two.d365_net.amount) == (
        1,
        Decimal("-15.00"),
        Decimal("-15.00"),
    )
    assert two.ok and two.problems == ()


@pytest.mark.anyio
async def test_heal_re_drives_the_missing_through_the_queue(world: World) -> None:
    await build_day(world)
    report = await world.reconciler.run(DAY, "usmf", heal=True)
    healed = {(h.transaction_id, h.kind, h.enqueued) for h in report.heals}
    assert healed == {(world.tx["C2"], "sale", True), (world.tx["X"], "sale", True)}
    assert all(h.key.endswith(":heal:2026-03-10-run-1") for h in report.heals)
    await world.drain()
    assert len(await world.lines_of("C2")) == 1  # posted again, once
    assert await world.lines_of("X") == []  # still no D365 customer: a person must link one
    again = await world.reconciler.run(DAY, "usmf")
    classes = by_tx(again, world)
    assert classes["C2"] == (MatchClass.UNPOSTED_IN_D365, "unposted")
    assert classes["X"] == (MatchClass.MISSING_IN_D365, "never_posted")
    assert again.heals == ()


@pytest.mark.anyio
async def test_healing_twice_never_duplicates(world: World) -> None:
    await build_day(world)
    await world.reconciler.run(DAY, "usmf", heal=True)
    await world.reconciler.run(DAY, "usmf", heal=True)  # a second run before the worker ran
    await world.drain()
    assert len(await world.lines_of("C2")) == 1


@pytest.mark.anyio
async def test_mismatches_and_duplicates_are_never_fixed(world: World) -> None:
    await build_day(world)
    report = await world.reconciler.run(DAY, "usmf", heal=True)
    await world.drain()
    assert len(await world.lines_of("C4")) == 2
    (c3,) = await world.lines_of("C3")
    assert Decimal(str(c3["CreditAmount"])) == Decimal("39.00")
    c4 = next(e for e in report.exceptions if e.transaction_id == world.tx["C4"])
    assert c4.heal is None and "delete" in c4.action
