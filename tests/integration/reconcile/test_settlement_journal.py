"""The settlement general journal: per batch, balanced to the cent, per brand, written exactly once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from paybridge.reconcile import imbalance
from tests.integration.reconcile.conftest import DAY, World, build_day


async def settlement_journals(world: World) -> dict[str, list[dict[str, Any]]]:
    headers = await world.engine.dynamics.query("LedgerJournalHeaders")
    lines = await world.engine.dynamics.query("LedgerJournalLines")
    return {
        h["Description"]: sorted(
            (ln for ln in lines if ln["JournalBatchNumber"] == h["JournalBatchNumber"]),
            key=lambda ln: ln["LineNumber"],
        )
        for h in headers
        if str(h.get("Description", "")).startswith("PayBridge settlement")
    }


@pytest.mark.anyio
async def test_one_balanced_journal_per_batch_moves_the_net_to_the_bank(world: World) -> None:
    await build_day(world)
    report = await world.reconciler.run(DAY, "usmf", journal=True)
    journals = await settlement_journals(world)
    assert sorted(journals) == ["PayBridge settlement batch 1", "PayBridge settlement batch 2"]
    one = journals["PayBridge settlement batch 1"]
    assert [(ln["OffsetAccountDisplayValue"], Decimal(str(ln["DebitAmount"]))) for ln in one] == [
        ("110190", Decimal("145.00")),  # Mastercard: A2, C3, C5
        ("110180", Decimal("220.00")),  # Visa: A1, C1, C2, C4, X
    ]
    assert all(ln["AccountType"] == "Bank" and ln["OffsetAccountType"] == "Ledger" for ln in one)
    assert all(ln["PaymentReference"] == "1" and ln["CurrencyCode"] == "USD" for ln in one)
    assert sum(Decimal(str(ln["DebitAmount"])) for ln in one) == report.batches[0].pt_net.amount
    (refund,) = journals["PayBridge settlement batch 2"]
    assert Decimal(str(refund["CreditAmount"])) == Decimal("15.00")  # money left the bank
    for lines in journals.values():
        assert imbalance(lines) == 0
    assert [(j.batch, j.lines, j.how) for j in report.journals] == [(1, 2, "sent"), (2, 1, "sent")]


@pytest.mark.anyio
async def test_the_journal_posts_in_d365(world: World) -> None:
    await build_day(world)
    report = await world.reconciler.run(DAY, "usmf", journal=True)
    for outcome in report.journals:
        await world.post_journal(outcome.journal)  # F&O's voucher check passes: it balances
    headers = await world.engine.dynamics.query("LedgerJournalHeaders")
    posted = {h["JournalBatchNumber"]: h["IsPosted"] for h in headers}
    assert all(posted[j.journal] == "Yes" for j in report.journals)


@pytest.mark.anyio
async def test_a_rerun_writes_no_second_journal(world: World) -> None:
    await build_day(world)
    await world.reconciler.run(DAY, "usmf", journal=True)
    again = await world.reconciler.run(DAY, "usmf", journal=True)
    assert [j.how for j in again.journals] == ["already", "already"]
    journals = await settlement_journals(world)
    assert [len(lines) for lines in journals.values()] == [2, 1]


@pytest.mark.anyio
async def test_a_lost_reply_is_resolved_by_looking_not_by_resending(world: World) -> None:
    await build_day(world)
    world.d365_app.sandbox.faults.script("commit_then_drop", path="/data/$batch")
    first = await world.reconciler.run(DAY, "usmf", journal=True)
    assert first.exit_code == 2 and "batch 1" in first.errors[0]
    again = await world.reconciler.run(DAY, "usmf", journal=True)
    assert again.errors == () and again.journals[0].how == "found"
    journals = await settlement_journals(world)
    assert [len(lines) for lines in journals.values()] == [2, 1]


@pytest.mark.anyio
async def test_a_run_is_a_report_unless_the_journal_is_asked_for(world: World) -> None:
    """Issue 15 item 7: the first report run wrote a settlement journal (clearing -> bank)."""
    await build_day(world)
    report = await world.reconciler.run(DAY, "usmf", heal=False)
    assert report.journals == () and report.journal_requested is False
    assert await settlement_journals(world) == {}
    assert all(b.journal is None for b in report.batches)
    asked = await world.reconciler.run(DAY, "usmf", journal=True)
    assert asked.journal_requested is True and len(asked.journals) == 2
