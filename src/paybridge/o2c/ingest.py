"""Translate PayTrace transaction changes into canonical payment events and put them in the inbox.

The translation is the export template's (``facts.FactTranslator``); a change it cannot map is
published as ``payment.unreadable`` with the reason, in the same transaction as the cursor.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from paybridge.connectors.paytrace.poller import ChangePoller, PollCursor
from paybridge.keys import POLLER_CURSOR as CURSOR_NAME
from paybridge.keys import poller_cursor
from paybridge.o2c.facts import FactTranslator
from paybridge.runtime.cursors import Cursors
from paybridge.runtime.queue import SqlQueue

SOURCE = "poller"
__all__ = ["CURSOR_NAME", "SOURCE", "IngestResult", "PayTraceIngest"]


@dataclass(frozen=True)
class IngestResult:
    seen: int
    new: int
    duplicates: int


class PayTraceIngest:
    """One poll: read PayTrace's changes, enqueue them and move the cursor in one transaction.

    One per merchant account: each has its own poller (client) and cursor
    (``keys.poller_cursor``), and its translator qualifies its facts by the account."""

    def __init__(
        self,
        poller: ChangePoller,
        queue: SqlQueue,
        cursors: Cursors,
        engine: Engine,
        translator: FactTranslator,
    ) -> None:
        self.poller = poller
        self.queue = queue
        self.cursors = cursors
        self.engine = engine
        self.translator = translator
        self.cursor_name = poller_cursor(translator.account)
        # The cursor this process last stored, as text and as read: the next poll finds that
        # text again unless another worker polled since, and need not parse it (it holds every
        # transaction of the overlap window). The poller never changes the cursor it is given.
        self._stored: tuple[str, PollCursor] | None = None

    def _cursor(self) -> PollCursor:
        stored = self.cursors.get(self.cursor_name)
        if not stored:
            return PollCursor()
        if self._stored is not None and self._stored[0] == stored:
            return self._stored[1]
        return PollCursor.model_validate_json(stored)

    async def poll_once(self) -> IngestResult:
        changes, cursor = await self.poller.poll(self._cursor())
        envelopes = [self.translator.envelope(change, SOURCE) for change in changes]
        text = cursor.model_dump_json()
        with self.engine.begin() as conn:
            fresh = self.queue.publish(conn, envelopes)
            self.cursors.put(conn, self.cursor_name, text)
        self._stored = (text, cursor)  # committed
        new = sum(fresh)
        return IngestResult(seen=len(envelopes), new=new, duplicates=len(envelopes) - new)
