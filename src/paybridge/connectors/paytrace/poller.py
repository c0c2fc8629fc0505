"""ChangePoller: PayTrace exports and batches -> each (transaction, state) change exactly once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from paybridge.clock import Clock
from paybridge.connectors.paytrace.requests import ExportByDateRangeRequest
from paybridge.connectors.paytrace.responses import MERCHANT_TZ, BatchRecord, TransactionRecord
from paybridge.keys import paytrace_fact

ChangeKind = Literal["sale", "authorization", "capture", "refund", "void", "settlement", "decline"]
# Within one transaction: it exists, then is captured, then voided, then settled.
_RANK: dict[str, int] = {
    "sale": 0, "authorization": 0, "refund": 0, "decline": 0,
    "capture": 1, "void": 2, "settlement": 3,
}  # fmt: skip
# A batch is listed by its settle day; days are merchant-local, so allow a day of slack.
_BATCH_MEMORY = timedelta(days=3)
# Exports that show what happens to older transactions: captures/voided holds, and voids.
_STATE_TYPES = ("AUTHORIZATION", "VOID")
# Kinds a transaction has from birth; later states (capture, void, settlement) come after.
_BASE_KINDS = frozenset({"sale", "authorization", "refund", "decline"})
# Rows remembered for the whole lookback: their later states are still to come or to dedupe.
_WATCHED = frozenset({"authorization", "void"})
_SLACK = timedelta(minutes=5)


class ChangeSource(Protocol):
    """What the poller needs from PayTraceClient (a fake in tests)."""

    async def export_by_date_range(
        self, request: ExportByDateRangeRequest
    ) -> list[TransactionRecord]: ...

    async def export_batches(self, start_date: date, end_date: date) -> list[BatchRecord]: ...

    async def batch_transactions(self, batch_number: int) -> list[TransactionRecord]: ...


class TransactionChange(BaseModel):
    """One fact about a PayTrace transaction; ``key`` is its exactly-once identity."""

    model_config = ConfigDict(frozen=True)

    key: str
    transaction_id: int
    kind: ChangeKind
    record: TransactionRecord


class SeenTransaction(BaseModel):
    kinds: list[ChangeKind] = Field(default_factory=list)
    created: datetime


class PollCursor(BaseModel):
    """What the runtime stores between polls (JSON): a watermark and what was already emitted."""

    watermark: datetime | None = None
    seen: dict[int, SeenTransaction] = Field(default_factory=dict)
    batches: dict[int, datetime] = Field(default_factory=dict)
    # When the narrow state exports last ran (they need not run on every poll).
    state_checked: datetime | None = None
    # When the whole recent days were last read again for rows that appeared late.
    swept: datetime | None = None


def change_kinds(record: TransactionRecord) -> list[ChangeKind]:
    """The states a record shows, read tolerantly (case-insensitive, by substring)."""
    ttype = record.transaction_type.lower()
    status = record.status_code.strip().upper()
    message = record.status_message.lower()
    if "declin" in message or "declin" in ttype:
        return ["decline"]
    settled = bool(record.settled.strip()) or status.startswith("GB") or "settled" in message
    kinds: list[ChangeKind] = []
    if "refund" in ttype:
        kinds.append("refund")
    elif "auth" in ttype:
        kinds.append("authorization")
        if status == "Y" or settled:
            kinds.append("capture")
    else:
        kinds.append("sale")
    if "void" in message or "void" in ttype:
        kinds.append("void")
    if settled:
        kinds.append("settlement")
    return kinds


class ChangePoller:
    """Reads PayTrace's exports and settlement batches and emits each state change once.

    Incremental: each poll reads the days from ``overlap`` behind the last watermark and keeps
    the rows created since then (late rows included); rows created earlier were handled by an
    earlier poll. What can still happen to older transactions inside ``lookback`` is found by
    narrow exports: ``transaction_type`` AUTHORIZATION (captures, voided holds) and VOID (voided
    sales and refunds), at most every ``state_interval``; settlements come from the batches
    settled since the watermark. The first poll reads the whole lookback.

    "Created since" is judged by the latest instant a merchant-local time can mean, so a row
    in the hour repeated when DST ends is never read an hour early and dropped. A row that shows
    up in PayTrace's export later than ``overlap`` after its own time is found by the sweep:
    at most every ``sweep_interval`` the last ``sweep_days`` days are read whole, and every row
    not in memory is emitted again (the inbox drops what it has already taken, by key).
    """

    def __init__(
        self,
        client: ChangeSource,
        *,
        clock: Clock,
        overlap: timedelta = timedelta(minutes=10),
        lookback: timedelta = timedelta(days=7),
        state_interval: timedelta = timedelta(seconds=30),
        sweep_interval: timedelta | None = timedelta(minutes=30),
        sweep_days: int = 1,
        merchant_tz: str = MERCHANT_TZ,
    ) -> None:
        self._client = client
        self._clock = clock
        self._overlap = overlap
        self._lookback = lookback
        self._state_interval = state_interval
        self._sweep_interval = sweep_interval
        self._sweep_days = sweep_days
        self._tz = merchant_tz
        self._zone = ZoneInfo(merchant_tz)

    async def poll(self, cursor: PollCursor) -> tuple[list[TransactionChange], PollCursor]:
        """New changes in order, and the cursor to store once they are safely enqueued."""
        now = self._clock.now()
        oldest = now - self._lookback
        # A poller that was away catches up from its watermark, however long ago.
        since = oldest if cursor.watermark is None else cursor.watermark - self._overlap
        # A copy: the stored cursor stays as it was until the caller stores the new one. Its
        # kinds are the only mutable part (a deep model copy was a fifth of a poll's CPU).
        seen = {
            txn: SeenTransaction.model_construct(kinds=list(entry.kinds), created=entry.created)
            for txn, entry in cursor.seen.items()
        }
        request = ExportByDateRangeRequest(start_date=self._day(since), end_date=self._day(now))
        records = [r for r in await self._client.export_by_date_range(request)
                   if self._created(r) >= since]  # fmt: skip
        changes = self._new_changes(records, seen, skip=("settlement",))
        # Before the state exports: a late row they met first would count as emitted already.
        swept = cursor.swept
        if since <= oldest:
            swept = now
        elif self._sweep_interval is not None and (
            swept is None or now - swept >= self._sweep_interval
        ):
            changes += await self._sweep(now, since, seen)
            swept = now
        checked = cursor.state_checked
        if since <= oldest:
            checked = now  # this poll read the whole lookback: every state is in it
        elif checked is None or now - checked >= self._state_interval:
            changes += await self._state_changes(oldest, now, since, seen)
            checked = now
        batches = dict(cursor.batches)
        settled = await self._settled_batches(cursor.watermark or oldest, now, batches)
        # A row created after this poll's export was read and settled before its batches were:
        # its earlier states come from the batch, ahead of its settlement (the settlement of a
        # sale D365 holds no line of would wait behind itself in the transaction's partition).
        missed = [r for r in settled
                  if r.transaction_id not in seen and self._created(r) >= since]  # fmt: skip
        changes += self._new_changes(missed, seen)
        changes += self._new_changes(settled, seen, only=("settlement",), remember=False)
        changes.sort(key=_in_order(changes, self._created))
        memory = {n: at for n, at in batches.items() if at >= now - _BATCH_MEMORY}
        kept = self._kept(seen, now)
        return changes, PollCursor(
            watermark=now, seen=kept, batches=memory, state_checked=checked, swept=swept
        )

    async def _sweep(
        self, now: datetime, since: datetime, seen: dict[int, SeenTransaction]
    ) -> list[TransactionChange]:
        """Rows of the recent days behind this poll's window that are not in memory."""
        first = self._day(now) - timedelta(days=self._sweep_days)
        request = ExportByDateRangeRequest(start_date=first, end_date=self._day(now))
        behind = [r for r in await self._client.export_by_date_range(request)
                  if r.transaction_id not in seen and self._created(r) < since]  # fmt: skip
        return self._new_changes(behind, seen, skip=("settlement",))

    async def _state_changes(
        self, oldest: datetime, now: datetime, since: datetime, seen: dict[int, SeenTransaction]
    ) -> list[TransactionChange]:
        """Captures and voids of transactions created before this poll's window."""
        changes: list[TransactionChange] = []
        for ttype in _STATE_TYPES:
            request = ExportByDateRangeRequest(
                start_date=self._day(oldest), end_date=self._day(now), transaction_type=ttype
            )
            older = [r for r in await self._client.export_by_date_range(request)
                     if oldest <= self._created(r) < since]  # fmt: skip
            changes += self._new_changes(older, seen, skip=("settlement",), quiet_base=True)
        return changes

    def _kept(self, seen: dict[int, SeenTransaction], now: datetime) -> dict[int, SeenTransaction]:
        """Recent rows (re-read by the next poll) and open holds and voids (re-read by state exports)."""
        recent = now - self._overlap - _SLACK
        oldest = now - self._lookback - _SLACK
        return {
            txn: entry
            for txn, entry in seen.items()
            if entry.created >= recent
            or (entry.created >= oldest and _WATCHED.intersection(entry.kinds))
        }

    async def _settled_batches(
        self, since: datetime, now: datetime, done: dict[int, datetime]
    ) -> list[TransactionRecord]:
        """Records of batches settled since ``since`` that earlier polls did not open."""
        first = self._day(since) - timedelta(days=1)
        records: list[TransactionRecord] = []
        for batch in await self._client.export_batches(first, self._day(now)):
            if batch.number in done:
                continue
            records += await self._client.batch_transactions(batch.number)
            done[batch.number] = now
        return records

    def _new_changes(
        self,
        records: Iterable[TransactionRecord],
        seen: dict[int, SeenTransaction],
        *,
        only: tuple[ChangeKind, ...] | None = None,
        skip: tuple[ChangeKind, ...] = (),
        remember: bool = True,
        quiet_base: bool = False,
    ) -> list[TransactionChange]:
        """Kinds not emitted before. ``quiet_base``: a row first met by a state export was
        emitted as new by an earlier poll (memory of it was dropped), so only its later states
        count; ``remember``: batches are opened once, so their rows need no memory."""
        changes: list[TransactionChange] = []
        for record in records:
            entry = seen.get(record.transaction_id)
            if entry is None:
                entry = SeenTransaction(created=self._created(record))
                if quiet_base:
                    entry.kinds = [k for k in change_kinds(record) if k in _BASE_KINDS]
                if remember:
                    seen[record.transaction_id] = entry
            for kind in change_kinds(record):
                if kind in entry.kinds or kind in skip or (only is not None and kind not in only):
                    continue
                entry.kinds.append(kind)
                key = paytrace_fact(str(record.transaction_id), kind)
                changes.append(
                    TransactionChange(
                        key=key, transaction_id=record.transaction_id, kind=kind, record=record
                    )
                )
        return changes

    def _created(self, record: TransactionRecord) -> datetime:
        try:
            return record.created_at_latest(self._tz)
        except ValueError:
            # Unknown creation time: treat it as new, so it is remembered for the whole window.
            return self._clock.now()

    def _day(self, moment: datetime) -> date:
        return moment.astimezone(self._zone).date()


def _in_order(
    changes: list[TransactionChange], created: Callable[[TransactionRecord], datetime]
) -> Callable[[TransactionChange], tuple[datetime, int, int]]:
    """Sort key: transactions by creation, each one's states in their own order (it exists, is
    captured, voided, settled), whichever export or batch each state was read from."""
    first: dict[int, datetime] = {}
    for change in changes:
        at = created(change.record)
        if change.transaction_id not in first or at < first[change.transaction_id]:
            first[change.transaction_id] = at
    return lambda c: (first[c.transaction_id], c.transaction_id, _RANK[c.kind])
