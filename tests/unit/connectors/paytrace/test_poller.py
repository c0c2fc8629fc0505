"""ChangePoller: kinds from records, overlap dedupe, late rows, transitions, batch settlements."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import BatchRecord, ExportByDateRangeRequest, TransactionRecord
from paybridge.connectors.paytrace.poller import (
    ChangePoller,
    PollCursor,
    TransactionChange,
    change_kinds,
)

pytestmark = pytest.mark.anyio
LA = ZoneInfo("America/Los_Angeles")
START = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)  # 9:00 AM in Los Angeles


def record(
    txn: int,
    created: datetime,
    ttype: str = "SALE",
    status: tuple[str, str] = ("Y", "Pending Settlement"),
    settled: datetime | None = None,
    amount: str = "10.00",
) -> TransactionRecord:
    def local(moment: datetime) -> str:
        at = moment.astimezone(LA)
        return f"{at.month}/{at.day}/{at.year} {at.strftime('%I:%M:%S %p').lstrip('0')}"

    body: dict[str, Any] = {
        "transaction_id": txn,
        "transaction_type": ttype,
        "amount": Decimal(amount),
        "invoice_id": f"INV-{txn}",
        "status_code": status[0],
        "status_message": status[1],
        "created": {"through": "API", "at": local(created), "by": "api", "from_ip": ""},
        "settled": local(settled) if settled else "",
    }
    return TransactionRecord.model_validate(body)


class FakePayTrace:
    """What PayTrace shows now: rows by id (replaced as states change) and settled batches."""

    def __init__(self) -> None:
        self.rows: dict[int, TransactionRecord] = {}
        self.batches: dict[int, tuple[date, list[int]]] = {}
        self.requests: list[ExportByDateRangeRequest] = []
        self.opened: list[int] = []

    def put(self, row: TransactionRecord) -> None:
        self.rows[row.transaction_id] = row

    async def export_by_date_range(
        self, request: ExportByDateRangeRequest
    ) -> list[TransactionRecord]:
        self.requests.append(request)
        return [
            r
            for r in self.rows.values()
            if request.start_date <= r.created_at_utc().astimezone(LA).date() <= request.end_date
        ]

    async def export_batches(self, start_date: date, end_date: date) -> list[BatchRecord]:
        return [
            BatchRecord(number=number, when=f"{day.month}/{day.day}/{day.year} 8:00:00 PM")
            for number, (day, _) in sorted(self.batches.items())
            if start_date <= day <= end_date
        ]

    async def batch_transactions(self, batch_number: int) -> list[TransactionRecord]:
        self.opened.append(batch_number)
        return [self.rows[txn] for txn in self.batches[batch_number][1]]

    def settle(self, batch: int, at: datetime, txns: list[int]) -> None:
        for txn in txns:
            row = self.rows[txn]
            settled = row.model_copy(
                update={"status_code": f"GB{batch}", "status_message": f"GB{batch}"}
            )
            self.put(record_settled(settled, at))
        self.batches[batch] = (at.astimezone(LA).date(), txns)


def record_settled(row: TransactionRecord, at: datetime) -> TransactionRecord:
    local = at.astimezone(LA)
    text = f"{local.month}/{local.day}/{local.year} {local.strftime('%I:%M:%S %p').lstrip('0')}"
    return row.model_copy(update={"settled": text})


def keys(changes: list[TransactionChange]) -> list[str]:
    return [c.key for c in changes]


@pytest.mark.parametrize(
    ("ttype", "status", "settled", "expected"),
    [
        ("SALE", ("Y", "Pending Settlement"), False, ["sale"]),
        ("AUTHORIZATION", ("N", "Authorization Only"), False, ["authorization"]),
        ("AUTHORIZATION", ("Y", "Pending Settlement"), False, ["authorization", "capture"]),
        ("AUTHORIZATION", ("GB12", "GB12"), True, ["authorization", "capture", "settlement"]),
        ("AUTHORIZATION", ("N", "Voided"), False, ["authorization", "void"]),
        ("sale", ("n", "voided"), False, ["sale", "void"]),
        ("REFUND", ("Y", "Pending Settlement"), False, ["refund"]),
        ("Refund", ("GB3", "GB3"), True, ["refund", "settlement"]),
        ("SALE", ("GB571", "GB571"), True, ["sale", "settlement"]),
        ("SALE", ("N", "Declined"), False, ["decline"]),
        ("AUTHORIZATION", ("N", "DECLINED"), False, ["decline"]),
    ],
)
def test_change_kinds(
    ttype: str, status: tuple[str, str], settled: bool, expected: list[str]
) -> None:
    row = record(1, START, ttype, status, START + timedelta(hours=3) if settled else None)
    assert change_kinds(row) == expected


async def test_first_poll_reads_lookback_and_orders_changes() -> None:
    clock = ManualClock(START)
    fake = FakePayTrace()
    fake.put(record(3, START - timedelta(hours=1), "AUTHORIZATION", ("Y", "Pending Settlement")))
    fake.put(record(2, START - timedelta(hours=2), status=("N", "Voided")))
    fake.put(record(4, START - timedelta(days=8)))  # outside the 7-day lookback
    poller = ChangePoller(fake, clock=clock)
    changes, cursor = await poller.poll(PollCursor())
    assert keys(changes) == [
        "paytrace:2:sale",
        "paytrace:2:void",
        "paytrace:3:authorization",
        "paytrace:3:capture",
    ]
    assert fake.requests[0].start_date == date(2025, 12, 29)
    assert fake.requests[0].end_date == date(2026, 1, 5)
    assert cursor.watermark == START


async def test_overlap_rereads_are_not_emitted_twice_and_cursor_survives_json() -> None:
    clock = ManualClock(START)
    fake = FakePayTrace()
    fake.put(record(1, START - timedelta(minutes=5)))
    poller = ChangePoller(fake, clock=clock, lookback=timedelta(minutes=30))
    first, cursor = await poller.poll(PollCursor())
    clock.advance(60)
    fake.put(record(2, START + timedelta(seconds=30)))
    second, cursor = await poller.poll(PollCursor.model_validate_json(cursor.model_dump_json()))
    clock.advance(60)
    third, _ = await poller.poll(PollCursor.model_validate_json(cursor.model_dump_json()))
    assert keys(first) == ["paytrace:1:sale"]
    assert keys(second) == ["paytrace:2:sale"]
    assert third == []


async def test_late_rows_behind_the_watermark_are_found() -> None:
    clock = ManualClock(START)
    fake = FakePayTrace()
    poller = ChangePoller(fake, clock=clock, lookback=timedelta(minutes=1))
    _, cursor = await poller.poll(PollCursor())
    clock.advance(120)
    # Created before the watermark, visible only now (PayTrace's clock or indexing lagged).
    fake.put(record(9, START - timedelta(minutes=3)))
    changes, _ = await poller.poll(cursor)
    assert keys(changes) == ["paytrace:9:sale"]


async def test_state_transitions_emit_each_new_state_once() -> None:
    clock = ManualClock(START)
    fake = FakePayTrace()
    created = START - timedelta(minutes=1)
    fake.put(record(5, created, "AUTHORIZATION", ("N", "Authorization Only"), amount="50.00"))
    poller = ChangePoller(fake, clock=clock)
    seen: list[str] = []
    changes, cursor = await poller.poll(PollCursor())
    seen += keys(changes)
    clock.advance(3600)
    fake.put(record(5, created, "AUTHORIZATION", ("Y", "Pending Settlement"), amount="40.00"))
    changes, cursor = await poller.poll(cursor)
    seen += keys(changes)
    assert changes[0].record.amount == Decimal("40.00")  # capture carries the captured amount
    clock.advance(3600)
    changes, cursor = await poller.poll(cursor)
    assert changes == []
    clock.advance(3600)
    fake.settle(77, clock.now(), [5])
    changes, cursor = await poller.poll(cursor)
    seen += keys(changes)
    assert seen == [
        "paytrace:5:authorization",
        "paytrace:5:capture",
        "paytrace:5:settlement",
    ]
    assert fake.opened == [77]


async def test_settlement_of_an_old_transaction_comes_from_batches() -> None:
    clock = ManualClock(START)
    fake = FakePayTrace()
    # No sweep here: it would emit 12's sale again six hours on (for the inbox to drop).
    poller = ChangePoller(fake, clock=clock, lookback=timedelta(days=1), sweep_interval=None)
    fake.put(record(11, START - timedelta(days=5)))  # long before any poll window
    fake.put(record(12, START - timedelta(hours=1)))
    changes, cursor = await poller.poll(PollCursor())
    assert keys(changes) == ["paytrace:12:sale"]
    clock.advance(6 * 3600)
    fake.settle(80, clock.now(), [11, 12])
    changes, cursor = await poller.poll(cursor)
    # The old transaction yields only its settlement; ordered by creation time.
    assert keys(changes) == ["paytrace:11:settlement", "paytrace:12:settlement"]
    assert changes[0].record.batch_number == 80
    clock.advance(3600)
    changes, cursor = await poller.poll(cursor)
    assert changes == []
    assert fake.opened == [80]


class RacingPayTrace(FakePayTrace):
    """A sale made and settled between the poll's export and its read of the batches."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock
        self.race = False

    async def export_batches(self, start_date: date, end_date: date) -> list[BatchRecord]:
        if self.race:
            self.race = False
            self.put(record(31, self.clock.now()))
            self.settle(90, self.clock.now(), [30, 31])
        return await super().export_batches(start_date, end_date)


async def test_a_sale_settled_between_the_export_and_the_batches_comes_before_its_settlement() -> (
    None
):
    clock = ManualClock(START)
    fake = RacingPayTrace(clock)
    poller = ChangePoller(fake, clock=clock, lookback=timedelta(days=1), sweep_interval=None)
    fake.put(record(30, START - timedelta(minutes=1)))
    changes, cursor = await poller.poll(PollCursor())
    assert keys(changes) == ["paytrace:30:sale"]
    clock.advance(5)
    fake.race = True
    changes, cursor = await poller.poll(cursor)
    # 31 was not in the export this poll read, only in the batch: its sale comes from the
    # batch, ahead of its settlement (a settlement first would wait behind itself for the sale).
    assert keys(changes) == [
        "paytrace:30:settlement", "paytrace:31:sale", "paytrace:31:settlement"
    ]  # fmt: skip
    clock.advance(5)
    changes, cursor = await poller.poll(cursor)
    assert changes == []  # the next export's row of 31 is remembered, not emitted again


async def test_declines_are_only_declines() -> None:
    clock = ManualClock(START)
    fake = FakePayTrace()
    fake.put(record(21, START - timedelta(minutes=2), status=("N", "Declined"), amount="0.29"))
    changes, _ = await ChangePoller(fake, clock=clock).poll(PollCursor())
    assert keys(changes) == ["paytrace:21:decline"]


async def test_memory_is_pruned_beyond_the_window() -> None:
    clock = ManualClock(START)
    fake = FakePayTrace()
    fake.put(record(31, START - timedelta(minutes=1)))
    poller = ChangePoller(fake, clock=clock, lookback=timedelta(hours=1))
    _, cursor = await poller.poll(PollCursor())
    assert set(cursor.seen) == {31}
    clock.advance(3 * 86400)
    _, cursor = await poller.poll(cursor)
    assert cursor.seen == {}


async def test_a_sale_in_the_hour_repeated_when_dst_ends_is_not_lost() -> None:
    """1 November 2026: 01:00-02:00 happens twice in Los Angeles; the export says only "1:30 AM"."""
    first_pass = datetime(2026, 11, 1, 9, 20, tzinfo=UTC)  # 01:20 PST, the second 01:20
    clock = ManualClock(first_pass)
    fake = FakePayTrace()
    poller = ChangePoller(fake, clock=clock, sweep_interval=None)  # the window alone must do it
    _, cursor = await poller.poll(PollCursor())
    fake.put(record(77, datetime(2026, 11, 1, 9, 30, tzinfo=UTC)))  # 01:30 PST, the second one
    assert fake.rows[77].created.at == "11/1/2026 1:30:00 AM"
    clock.advance(20 * 60)
    changes, cursor = await poller.poll(cursor)
    assert keys(changes) == ["paytrace:77:sale"]
    clock.advance(20 * 60)
    again, _ = await poller.poll(cursor)
    assert again == []  # remembered, not emitted twice


async def test_a_row_that_appears_long_after_its_time_is_found_by_the_sweep() -> None:
    clock = ManualClock(START)
    fake = FakePayTrace()
    poller = ChangePoller(fake, clock=clock, sweep_interval=timedelta(minutes=30))
    _, cursor = await poller.poll(PollCursor())
    clock.advance(20 * 60)
    _, cursor = await poller.poll(cursor)
    # Created 15 minutes ago, beyond the 10-minute overlap, visible in the export only now.
    fake.put(record(88, START + timedelta(minutes=5)))
    clock.advance(20 * 60)
    changes, cursor = await poller.poll(cursor)  # 40 minutes on: the sweep is due
    assert keys(changes) == ["paytrace:88:sale"]
    clock.advance(60)
    changes, _ = await poller.poll(cursor)
    assert changes == []  # the next sweep is 30 minutes away
