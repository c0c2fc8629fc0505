"""The payment fact, o2c's published interface: a PayTrace change as a canonical Transaction in an envelope.

Charging, billing and reconciliation publish their payments through ``envelope_for`` so that every
source of a PayTrace transaction state meets the same key, partition and redaction.
"""

from __future__ import annotations

from paybridge.connectors.paytrace.poller import TransactionChange
from paybridge.keys import PAYMENT_TOPIC, UNREADABLE_TOPIC, transaction_partition
from paybridge.model import Money, Transaction, TransactionKind, TransactionStatus
from paybridge.runtime.envelope import Envelope
from paybridge.security.cardguard import redact

__all__ = [
    "PAYMENT_TOPIC",
    "UNREADABLE_TOPIC",
    "envelope_for",
    "translate_change",
    "unreadable_envelope",
]


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
        partition_key=transaction_partition(tx.transaction_id),
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
        partition_key=transaction_partition(change.transaction_id),
        payload={"reason": reason, "record": raw},
        source="poller",
    )
