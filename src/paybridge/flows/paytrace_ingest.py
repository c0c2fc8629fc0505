"""Translate PayTrace transaction changes into canonical payment events and put them in the inbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import Engine

from paybridge.connectors.paytrace.poller import ChangePoller, PollCursor, TransactionChange
from paybridge.model import Money, Transaction, TransactionKind, TransactionStatus
from paybridge.runtime.cursors import Cursors
from paybridge.runtime.envelope import Envelope
from paybridge.runtime.queue import SqlQueue
from paybridge.security.cardguard import redact

log = logging.getLogger("paybridge.flows.ingest")

PAYMENT_TOPIC = "payment"
UNREADABLE_TOPIC = "payment.unreadable"
CURSOR_NAME = "paytrace.poller"

_STATUS = {
    TransactionKind.DECLINE: TransactionStatus.DECLINED,
    TransactionKind.VOID: TransactionStatus.VOIDED,
    TransactionKind.SETTLEMENT: TransactionStatus.SETTLED,
    TransactionKind.AUTHORIZATION: TransactionStatus.AUTHORIZED,
}


def _batch_number(status_code: str | None) -> str | None:
    code = (status_code or "").strip()
    return code[2:] if code.upper().startswith("GB") and code[2:].isdigit() else None


def translate_change(change: TransactionChange, *, currency: str, timezone: str) -> Transaction:
    """A PayTrace change as a canonical Transaction (masked card only, aware UTC times)."""
    record = change.record
    kind = TransactionKind(change.kind)
    settled = record.settled_at_utc(timezone)
    occurred = settled if kind is TransactionKind.SETTLEMENT and settled else None
    card = record.credit_card.masked_number if record.credit_card is not None else None
    return Transaction(
        transaction_id=str(change.transaction_id),
        kind=kind,
        status=_STATUS.get(kind, TransactionStatus.APPROVED),
        amount=Money.of(record.amount, currency),
        occurred_at=occurred or record.created_at_utc(timezone),
        customer_id=(record.customer_id or "").strip() or None,
        invoice_id=(record.invoice_id or "").strip() or None,
        description=record.description or "",
        approval_code=record.approval_code or "",
        masked_card=card or None,
        settled_at=settled,
        batch_number=_batch_number(record.status_code),
    )


def envelope_for(tx: Transaction, source: str) -> Envelope:
    """Events of one PayTrace transaction share a partition, so a refund never overtakes its sale."""
    return Envelope(
        topic=PAYMENT_TOPIC,
        key=tx.key,
        partition_key=f"paytrace:{tx.transaction_id}",
        # Merchants type free text into PayTrace (descriptions, names, invoice ids): a card number
        # typed there must not enter our queue, ledger or D365, so the payload is redacted.
        payload=redact(tx.model_dump(mode="json")),
        source=source,
    )


def unreadable_envelope(change: TransactionChange, reason: str) -> Envelope:
    """Keep what could not be translated (redacted), so nothing is lost and the reason is visible."""
    raw = redact(change.record.model_dump(mode="json"))
    return Envelope(
        topic=UNREADABLE_TOPIC,
        key=change.key,
        partition_key=f"paytrace:{change.transaction_id}",
        payload={"reason": reason, "record": raw},
        source="poller",
    )


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
