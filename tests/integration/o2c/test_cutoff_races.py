"""The cut-off and the lines still on their way: found by the 2,000-payment PostgreSQL chaos
run, where late lines of a past day chased journals the cut-off opened and posted every few
seconds (289 generations of one day) until they were dead-lettered, a void and an adjust among
them (D365 kept the voided sale's credit).

Now a journal that has no line stays open, a journal PayBridge still has lines headed to is
posted once they have landed, and a line that reaches a posted journal is re-planned into the
next one and sent again in the same attempt."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paybridge.keys import LINE_STEP
from paybridge.o2c.settings import OrderToCashSettings
from paybridge.runtime.scheduler import PeriodicJob
from tests.integration.o2c.conftest import World, WorldFactory

pytestmark = pytest.mark.anyio
# A cut-off at midnight: every journal of the day is due as soon as it exists, as in the demo
# and the chaos run.
AT_ONCE = OrderToCashSettings(post_journals=True, post_at="00:00")


def cutoff(world: World) -> PeriodicJob:
    (job,) = [j for j in world.engine.scheduler.jobs if j.name == "d365.post_journals"]
    assert isinstance(job, PeriodicJob)
    return job


async def header(world: World, journal: str) -> dict[str, object]:
    row = await world.engine.dynamics.get(
        "CustomerPaymentJournalHeaders", {"dataAreaId": "usmf", "JournalBatchNumber": journal}
    )
    assert row is not None
    return row


async def test_a_journal_is_posted_once_the_lines_headed_to_it_have_landed(
    make_world: WorldFactory,
) -> None:
    world = await make_world(AT_ONCE)
    await world.profile("SHOP-1", "US-001")
    job = cutoff(world)
    assert await job.run() == "nothing to post"
    first = await world.sell("SHOP-1", "10.00")
    await world.drain()
    (line,) = await world.lines(f"PT-{first}-sale")
    journal = str(line["JournalBatchNumber"])
    # Another worker has planned a line into the same journal and is sending it now.
    body = {**{k: line[k] for k in ("dataAreaId", "AccountDisplayValue", "AccountType")},
            "JournalBatchNumber": journal, "LineNumber": 2, "PaymentId": "PT-1-sale"}  # fmt: skip
    world.engine.store.intents.plan("paytrace:1:sale", LINE_STEP, "d365", "PT-1-sale",
                                    {"body": body})  # fmt: skip
    said = await job.run()
    assert said == f"nothing to post; waiting for lines headed to usmf/{journal}"
    assert (await header(world, journal))["IsPosted"] == "No"
    # New lines of the day go to the next journal meanwhile (the generation is closed).
    second = await world.sell("SHOP-1", "20.00")
    await world.drain()
    (later,) = await world.lines(f"PT-{second}-sale")
    assert later["JournalBatchNumber"] != journal
    # A line that has not moved for a worker's lease is not on its way any more.
    world.clock.advance(world.engine.settings.worker.lease_seconds + 1)
    said = await job.run()
    assert said.startswith("posted 2 journal(s)") and f"usmf/{journal}" in said, said
    assert (await header(world, journal))["IsPosted"] == "Yes"


async def test_an_empty_journal_of_a_past_cut_off_stays_open(make_world: WorldFactory) -> None:
    world = await make_world(AT_ONCE)
    await world.profile("SHOP-2", "US-002")
    book = world.poster.book
    day = world.clock.now().date()
    empty = await book.journal("usmf", day)  # opened for a line that then went elsewhere
    assert await cutoff(world).run() == "nothing to post"
    assert await book.journal("usmf", day) == empty  # still the day's journal, not closed
    sale = await world.sell("SHOP-2", "30.00")
    await world.drain()
    (line,) = await world.lines(f"PT-{sale}-sale")
    assert line["JournalBatchNumber"] == empty


async def test_a_line_that_reaches_a_posted_journal_lands_in_the_next_at_once(
    make_world: WorldFactory,
) -> None:
    world = await make_world(OrderToCashSettings())  # no cut-off job: the accountant posts
    await world.profile("SHOP-3", "US-003")
    first = await world.sell("SHOP-3", "40.00")
    await world.drain()
    (line,) = await world.lines(f"PT-{first}-sale")
    posted = str(line["JournalBatchNumber"])
    await world.engine.dynamics.call_service(
        "PayBridgeSandbox", "Journals", "post", {"dataAreaId": "usmf", "JournalBatchNumber": posted}
    )  # the accountant posts the day's journal in D365; PayBridge still has it open
    late = await world.sell("SHOP-3", "50.00")
    await world.engine.ingest.poll_once()
    assert await world.engine.worker.run_once()  # one attempt
    (moved,) = await world.lines(f"PT-{late}-sale")
    assert moved["JournalBatchNumber"] != posted
    assert Decimal(str(moved["CreditAmount"])) == Decimal("50.00")
    assert world.engine.store.queue.stats().ready == 0  # done, not waiting for a retry
