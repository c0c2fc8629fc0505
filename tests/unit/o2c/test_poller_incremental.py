"""The incremental poller: a narrow window for new rows, narrow exports for older state changes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import ExportByDateRangeRequest, TransactionRecord
from paybridge.connectors.paytrace.poller import ChangePoller, PollCursor
from tests.unit.connectors.paytrace.test_poller import LA, START, FakePayTrace, keys, record

pytestmark = pytest.mark.anyio


class TypedFake(FakePayTrace):
    """Also honours ``transaction_type`` the way the spec lists it (type or status)."""

    async def export_by_date_range(
        self, request: ExportByDateRangeRequest
    ) -> list[TransactionRecord]:
        rows = await super().export_by_date_range(request)
        wanted = (request.transaction_type or "").upper()
        if wanted == "VOID":
            return [r for r in rows if "void" in r.status_message.lower()]
        if wanted:
            return [r for r in rows if r.transaction_type.upper() == wanted]
        return rows


def poller(fake: FakePayTrace, clock: ManualClock) -> ChangePoller:
    """No late-row sweep: these tests count the narrow reads (the sweep has its own tests)."""
    return ChangePoller(
        fake, clock=clock, overlap=timedelta(minutes=2), state_interval=timedelta(minutes=1),
        sweep_interval=None,
    )  # fmt: skip


async def test_later_polls_read_only_the_overlap_and_remember_only_recent_rows() -> None:
    clock = ManualClock(START)
    fake = TypedFake()
    for n in range(50):
        fake.put(record(100 + n, START - timedelta(hours=3, minutes=n)))
    p = poller(fake, clock)
    first, cursor = await p.poll(PollCursor())
    assert len(first) == 50 and cursor.seen == {}  # plain sales hours old: nothing to remember
    clock.advance(60)
    fake.put(record(500, START + timedelta(seconds=30)))
    second, cursor = await p.poll(PollCursor.model_validate_json(cursor.model_dump_json()))
    assert keys(second) == ["paytrace:500:sale"]
    assert set(cursor.seen) == {500}
    plain = [r for r in fake.requests[1:] if r.transaction_type is None]
    assert plain[-1].start_date == (START - timedelta(minutes=2)).astimezone(LA).date()


async def test_an_old_authorization_captured_later_is_found_by_the_narrow_export() -> None:
    clock = ManualClock(START)
    fake = TypedFake()
    created = START - timedelta(hours=5)
    fake.put(record(7, created, "AUTHORIZATION", ("N", "Authorization Only")))
    fake.put(record(8, created, "SALE"))
    p = poller(fake, clock)
    first, cursor = await p.poll(PollCursor())
    assert keys(first) == ["paytrace:7:authorization", "paytrace:8:sale"]
    assert set(cursor.seen) == {7}  # an open hold is watched for the whole lookback
    clock.advance(3600)
    fake.put(record(7, created, "AUTHORIZATION", ("Y", "Pending Settlement"), amount="8.00"))
    fake.put(record(8, created, "SALE", ("N", "Voided")))
    second, cursor = await p.poll(cursor)
    assert keys(second) == ["paytrace:7:capture", "paytrace:8:void"]
    assert {r.transaction_type for r in fake.requests[-2:]} == {"AUTHORIZATION", "VOID"}
    clock.advance(3600)
    third, cursor = await p.poll(cursor)
    assert third == []


async def test_state_exports_run_at_most_every_state_interval() -> None:
    clock = ManualClock(START)
    fake = TypedFake()
    p = poller(fake, clock)
    _, cursor = await p.poll(PollCursor())
    for _ in range(4):
        clock.advance(20)
        _, cursor = await p.poll(cursor)
    typed = [r for r in fake.requests if r.transaction_type]
    assert len(typed) == 2 * 1  # one round at 80 s (first poll reads everything anyway)


async def test_a_late_row_inside_the_overlap_is_emitted_once_and_one_outside_is_not() -> None:
    clock = ManualClock(START)
    fake = TypedFake()
    p = poller(fake, clock)
    _, cursor = await p.poll(PollCursor())
    clock.advance(30)
    fake.put(record(41, START - timedelta(seconds=60)))  # late, within the 2-minute overlap
    fake.put(record(42, START - timedelta(minutes=30)))  # later than any overlap: not a sale now
    changes, cursor = await p.poll(cursor)
    assert keys(changes) == ["paytrace:41:sale"]
    clock.advance(30)
    again, _ = await p.poll(cursor)
    assert again == []
