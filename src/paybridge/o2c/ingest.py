"""Translate PayTrace transaction changes into canonical payment events and put them in the inbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import Engine

from paybridge.connectors.paytrace.poller import ChangePoller, PollCursor, TransactionChange
from paybridge.keys import POLLER_CURSOR as CURSOR_NAME
from paybridge.o2c.facts import envelope_for, translate_change, unreadable_envelope
from paybridge.runtime.cursors import Cursors
from paybridge.runtime.envelope import Envelope
from paybridge.runtime.queue import SqlQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    seen: int
    new: int
    duplicates: int


class PayTraceIngest:
    """One poll: read PayTrace's changes, enqueue them and move the cursor in one transaction."""

    def __init__(
        self,
        poller: ChangePoller,
        queue: SqlQueue,
        cursors: Cursors,
        engine: Engine,
        *,
        currency: str,
        timezone: str,
    ) -> None:
        self.poller = poller
        self.queue = queue
        self.cursors = cursors
        self.engine = engine
        self.currency = currency
        self.timezone = timezone

    def _cursor(self) -> PollCursor:
        stored = self.cursors.get(CURSOR_NAME)
        return PollCursor.model_validate_json(stored) if stored else PollCursor()

    def _envelope(self, change: TransactionChange) -> Envelope:
        try:
            tx = translate_change(change, currency=self.currency, timezone=self.timezone)
        except (ValidationError, ValueError, TypeError) as exc:
            log.warning("cannot translate %s: %s", change.key, exc)
            return unreadable_envelope(change, f"cannot translate: {exc}")
        return envelope_for(tx, "poller")

    async def poll_once(self) -> IngestResult:
        changes, cursor = await self.poller.poll(self._cursor())
        envelopes = [self._envelope(change) for change in changes]
        with self.engine.begin() as conn:
            fresh = self.queue.publish(conn, envelopes)
            self.cursors.put(conn, CURSOR_NAME, cursor.model_dump_json())
        new = sum(fresh)
        return IngestResult(seen=len(envelopes), new=new, duplicates=len(envelopes) - new)
