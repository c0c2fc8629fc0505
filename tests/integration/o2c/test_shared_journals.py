"""Issue 20, item 5: PayBridge's journals are shared with people who add lines by hand.

D365 numbers a hand-made line one past the journal's highest; PayBridge's next line must neither
collide with it for good nor be dead-lettered, and every payment stays in D365 exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from paybridge.connectors.dynamics import BatchOperation, ChangesetResult
from paybridge.keys import LINE_STEP
from paybridge.runtime.intents import DONE
from tests.integration.o2c.conftest import LINES, World, WorldFactory

pytestmark = pytest.mark.anyio


async def hand_line(world: World, journal: str, amount: str, **extra: Any) -> dict[str, Any]:
    """What an AR clerk keys into the journal: no line number, D365 gives one past the highest."""
    body = {
        "dataAreaId": "usmf",
        "JournalBatchNumber": journal,
        "AccountType": "Cust",
        "AccountDisplayValue": "US\\-002",
        "CreditAmount": Decimal(amount),
        "PaymentReference": "CHECK-881",
        "TransactionText": "Check received by post",
    } | extra
    return await world.engine.dynamics.create(LINES, body)


def assert_clean(world: World) -> None:
    stats = world.engine.store.queue.stats()
    assert stats.dead == 0 and stats.ready == 0
    assert world.engine.store.queue.dead_letters() == []


async def test_a_line_added_by_hand_between_two_postings(make_world: WorldFactory) -> None:
    world = await make_world()
    await world.profile("SHARE-1", "US-001")
    first = await world.sell("SHARE-1", "21.00")
    await world.drain()
    (line1,) = await world.lines(f"PT-{first}-sale")
    journal = line1["JournalBatchNumber"]
    person = await hand_line(world, journal, "5.00")
    assert Decimal(str(person["LineNumber"])) == Decimal(str(line1["LineNumber"])) + 1

    second = await world.sell("SHARE-1", "22.00")
    await world.drain()

    (line2,) = await world.lines(f"PT-{second}-sale")
    assert line2["JournalBatchNumber"] == journal
    assert Decimal(str(line2["LineNumber"])) > Decimal(str(person["LineNumber"]))
    assert len(await world.lines(f"PT-{first}-sale")) == 1
    hand = [r for r in await world.lines() if r["PaymentReference"] == "CHECK-881"]
    assert [Decimal(str(r["CreditAmount"])) for r in hand] == [Decimal("5.00")]
    assert_clean(world)
    (entry,) = [
        e for e in world.engine.store.ledger.entries(f"paytrace:{second}:sale")
        if e.step == LINE_STEP
    ]  # fmt: skip
    assert entry.entity_id == f"usmf/{journal}/{line2['LineNumber']}"


async def test_a_person_takes_the_planned_number_while_the_batch_is_out(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The number is planned, then a person's line takes it before PayBridge's $batch arrives:
    D365 says "The record already exists"; PayBridge looks (its line is not there), re-plans
    with a fresh number and writes it in the same pass: no retry, no dead letter."""
    world = await make_world()
    await world.profile("SHARE-2", "US-001")
    first = await world.sell("SHARE-2", "31.00")
    await world.drain()
    (line1,) = await world.lines(f"PT-{first}-sale")
    journal = line1["JournalBatchNumber"]
    second = await world.sell("SHARE-2", "32.00")
    await world.engine.ingest.poll_once()

    client = world.poster.lines.d365
    real = client.batch
    taken: list[dict[str, Any]] = []

    async def person_first(changesets: Sequence[Sequence[BatchOperation]]) -> list[ChangesetResult]:
        posts = [op for cs in changesets for op in cs if op.method == "POST"]
        if posts and not taken:
            number = posts[0].body["LineNumber"] if posts[0].body else None
            taken.append(await hand_line(world, journal, "7.00", LineNumber=number))
        return await real(changesets)

    monkeypatch.setattr(client, "batch", person_first)
    assert await world.engine.worker.run_once() == 1
    assert taken
    (line2,) = await world.lines(f"PT-{second}-sale")
    assert Decimal(str(line2["LineNumber"])) != Decimal(str(taken[0]["LineNumber"]))
    assert line2["JournalBatchNumber"] == journal
    assert_clean(world)
    assert world.engine.store.queue.stats().done == 2
    intent = world.engine.store.intents.get(f"paytrace:{second}:sale", LINE_STEP)
    assert intent is not None and intent.status == DONE
    assert intent.detail["body"]["LineNumber"] == line2["LineNumber"]


async def test_a_planned_line_whose_number_a_person_took_meanwhile_is_replayed(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line planned, then refused in doubt (D365 unreachable); a person keys a line with its
    number; the retry finds the number taken, looks, re-plans and posts once."""
    world = await make_world()
    await world.profile("SHARE-3", "US-001")
    first = await world.sell("SHARE-3", "41.00")
    await world.drain()
    (line1,) = await world.lines(f"PT-{first}-sale")
    journal = line1["JournalBatchNumber"]
    second = await world.sell("SHARE-3", "42.00")
    await world.engine.ingest.poll_once()

    client = world.poster.lines.d365
    real = client.batch

    async def unreachable(changesets: Sequence[Sequence[BatchOperation]]) -> list[ChangesetResult]:
        from paybridge.errors import RetryableError

        if any(op.method == "POST" for cs in changesets for op in cs):
            error = RetryableError("service unavailable", system="d365", retry_after=1.0)
            return [ChangesetResult(ok=False, error=error) for _ in changesets]
        return await real(changesets)

    monkeypatch.setattr(client, "batch", unreachable)
    assert await world.engine.worker.run_once() == 1
    assert await world.lines(f"PT-{second}-sale") == []
    intent = world.engine.store.intents.get(f"paytrace:{second}:sale", LINE_STEP)
    assert intent is not None
    planned = intent.detail["body"]["LineNumber"]
    monkeypatch.setattr(client, "batch", real)
    await hand_line(world, journal, "8.00", LineNumber=planned)

    world.clock.advance(60)
    await world.drain()
    (line2,) = await world.lines(f"PT-{second}-sale")
    assert Decimal(str(line2["LineNumber"])) > Decimal(str(planned))
    assert_clean(world)


async def test_a_re_plan_whose_read_fails_waits_for_the_next_attempt(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The number is taken and the read of the journal's highest line fails: nothing was
    written, the line is planned again and the next attempt writes it once."""
    world = await make_world()
    await world.profile("SHARE-4", "US-001")
    first = await world.sell("SHARE-4", "51.00")
    await world.drain()
    (line1,) = await world.lines(f"PT-{first}-sale")
    journal = line1["JournalBatchNumber"]
    second = await world.sell("SHARE-4", "52.00")
    await world.engine.ingest.poll_once()
    client = world.poster.lines.d365
    real_batch, real_page = client.batch, client.page
    refused: list[int] = []

    async def person_first(changesets: Sequence[Sequence[BatchOperation]]) -> list[ChangesetResult]:
        posts = [op for cs in changesets for op in cs if op.method == "POST"]
        if posts and not refused:
            refused.append(1)
            number = posts[0].body["LineNumber"] if posts[0].body else None
            await hand_line(world, journal, "7.00", LineNumber=number)

            async def unreachable(*args: Any, **kwargs: Any) -> Any:
                from paybridge.errors import RetryableError

                raise RetryableError("service unavailable", system="d365", retry_after=1.0)

            monkeypatch.setattr(client, "page", unreachable)
        return await real_batch(changesets)

    monkeypatch.setattr(client, "batch", person_first)
    assert await world.engine.worker.run_once() == 1
    assert await world.lines(f"PT-{second}-sale") == []
    intent = world.engine.store.intents.get(f"paytrace:{second}:sale", LINE_STEP)
    assert intent is not None and intent.status == "planned"

    monkeypatch.setattr(client, "page", real_page)
    world.clock.advance(60)
    await world.drain()
    assert len(await world.lines(f"PT-{second}-sale")) == 1
    assert_clean(world)
