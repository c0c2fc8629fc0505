"""Auto-heal: re-drive a fact missing in D365 through the normal exactly-once path, never a direct write.

Each missing fact becomes a ``payment`` event marked ``heal``: the posting flow looks D365 up by
PaymentId before writing such an event, so a wrong "missing" can never make a duplicate. The key
carries the run id, so a heal is a new event (the original was already acknowledged) and the
same run enqueued twice is dropped by the inbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from paybridge.connectors.paytrace import CheckRecord, TransactionRecord
from paybridge.connectors.paytrace.poller import TransactionChange
from paybridge.keys import DEFAULT_ACCOUNT
from paybridge.mapping import CompiledTemplate
from paybridge.model import Money, Transaction
from paybridge.o2c.checks import CheckFacts
from paybridge.o2c.facts import envelope_for, translate_change
from paybridge.runtime.envelope import Envelope
from paybridge.runtime.queue import SqlQueue

SOURCE = "reconcile"


@dataclass(frozen=True)
class HealAction:
    """What ``--heal`` did for one missing fact."""

    key: str
    transaction_id: str
    kind: str
    amount: Money
    enqueued: bool  # False: this run had already enqueued it (dropped as a duplicate)


def heal_key(tx: Transaction, run_id: str) -> str:
    return f"{tx.key}:heal:{run_id}"


def heal_envelope(tx: Transaction, run_id: str) -> Envelope:
    """The canonical Transaction JSON plus ``"heal": true``, in the transaction's partition."""
    base = envelope_for(tx, SOURCE)
    return Envelope(
        topic=base.topic,
        key=heal_key(tx, run_id),
        partition_key=base.partition_key,
        payload={**base.payload, "heal": True},
        source=SOURCE,
    )


def missing_fact(
    record: TransactionRecord,
    kind: str,
    *,
    currency: str,
    timezone: str,
    template: CompiledTemplate,
    account: str = DEFAULT_ACCOUNT,
) -> Transaction:
    """The canonical fact the poller would have made of ``record`` (key ``paytrace:<id>:<kind>``),
    through the same export template; ``UntranslatableChange`` when it cannot be made."""
    change = TransactionChange(
        key=f"paytrace:{record.transaction_id}:{kind}",
        transaction_id=record.transaction_id,
        kind=kind,  # validated against the Literal by TransactionChange
        record=record,
    )
    tx = translate_change(change, currency=currency, timezone=timezone, template=template)
    return tx.model_copy(update={"account": account}) if account else tx


def missing_check_fact(
    record: CheckRecord,
    kind: str,
    *,
    currency: str,
    timezone: str,
    account: str = DEFAULT_ACCOUNT,
) -> Transaction:
    """The fact the check poll would have made of ``record`` (key ``paytrace:ACH<id>:<kind>``);
    ``DataError`` when the check cannot be read, ``ValueError`` when it shows no such fact."""
    for tx in CheckFacts(currency=currency, timezone=timezone).facts(record):
        if tx.kind.value == kind:
            return tx.model_copy(update={"account": account}) if account else tx
    raise ValueError(f"check {record.check_transaction_id} shows no {kind}")


def enqueue_heals(queue: SqlQueue, facts: Sequence[Transaction], run_id: str) -> list[HealAction]:
    """Enqueue one heal event per fact (one transaction with the inbox) and say what happened."""
    if not facts:
        return []
    fresh = queue.enqueue([heal_envelope(tx, run_id) for tx in facts])
    return [
        HealAction(heal_key(tx, run_id), tx.transaction_id, tx.kind.value, tx.amount, new)
        for tx, new in zip(facts, fresh, strict=True)
    ]
