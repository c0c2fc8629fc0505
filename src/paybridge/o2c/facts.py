"""The payment fact, o2c's published interface: a PayTrace change as a canonical Transaction in an envelope.

A change becomes a Transaction through the ``paytrace_export_to_transaction`` template, compiled
once at start-up and handed in (``FactTranslator``), so that a field added to that template reaches
D365 through the running engine. Charging, billing and reconciliation publish their payments
through ``envelope_for`` so that every source of a PayTrace transaction state meets the same key,
partition and redaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

from paybridge.connectors.paytrace.poller import TransactionChange
from paybridge.errors import DataError
from paybridge.keys import (
    DEFAULT_ACCOUNT,
    PAYMENT_TOPIC,
    UNREADABLE_TOPIC,
    paytrace_fact,
    transaction_partition,
)
from paybridge.mapping import SHIPPED_DIR, CompiledTemplate, load_template
from paybridge.model import Transaction
from paybridge.runtime.envelope import Envelope
from paybridge.security.cardguard import redact, redact_text

__all__ = [
    "EXPORT_TEMPLATE",
    "PAYMENT_TOPIC",
    "UNREADABLE_TOPIC",
    "FactTranslator",
    "UntranslatableChange",
    "envelope_for",
    "translate_change",
    "unreadable_envelope",
]

EXPORT_TEMPLATE = "paytrace_export_to_transaction"

log = logging.getLogger(__name__)


class UntranslatableChange(DataError, ValueError):
    """The export template could not make the change's fact; ``fields`` says why, per field.

    Also a ``ValueError``, as the hand-written translation raised, for callers that catch that.
    """


@cache
def _shipped_template() -> CompiledTemplate:
    """Only for callers that hand no template in; the engine passes the one it loaded."""
    return load_template(SHIPPED_DIR / f"{EXPORT_TEMPLATE}.yaml")


def translate_change(
    change: TransactionChange,
    *,
    currency: str,
    timezone: str,
    template: CompiledTemplate | None = None,
) -> Transaction:
    """A PayTrace change as a canonical Transaction (masked card only, aware UTC times).

    ``template`` is the engine's ``paytrace_export_to_transaction`` (the shipped one when None).
    The change's kind, the merchant currency and time zone go in as the template's context.
    Raises ``UntranslatableChange`` with the per-field reasons.
    """
    chosen = template if template is not None else _shipped_template()
    context = {"kind": change.kind, "currency": currency, "time_zone": timezone}
    result = chosen.apply(change.record.model_dump(), context=context)
    tx = result.model
    if not isinstance(tx, Transaction):
        reasons = "; ".join(f"{field}: {why}" for field, why in result.errors.items())
        raise UntranslatableChange(
            f"{chosen.ref} cannot map {change.key}: {reasons or 'no Transaction made'}",
            fields=result.errors, system="mapping", operation=f"apply {chosen.ref}",
        )  # fmt: skip
    if tx.key != change.key:  # the fact key is the exactly-once identity of every source
        raise UntranslatableChange(
            f"{chosen.ref} made the fact {tx.key} of the change {change.key}",
            fields={"kind": f"the template must keep the change's fact {change.key}"},
            system="mapping", operation=f"apply {chosen.ref}",
        )  # fmt: skip
    return tx


@dataclass(frozen=True)
class FactTranslator:
    """PayTrace changes into envelopes with the export template the engine loaded at start-up."""

    template: CompiledTemplate
    currency: str
    timezone: str
    # The merchant account the changes come from (``paytrace.accounts`` name; "": the main one).
    account: str = DEFAULT_ACCOUNT

    def translate(self, change: TransactionChange) -> Transaction:
        tx = translate_change(
            change, currency=self.currency, timezone=self.timezone, template=self.template
        )
        return tx.model_copy(update={"account": self.account}) if self.account else tx

    def envelope(self, change: TransactionChange, source: str) -> Envelope:
        """The change's ``payment`` envelope, or an unreadable one with the reason: none is lost."""
        try:
            tx = self.translate(change)
        except UntranslatableChange as exc:
            reason = redact_text(f"cannot translate: {exc.message}")
            log.warning("%s: %s", change.key, reason)
            return unreadable_envelope(change, reason, source=source, account=self.account)
        return envelope_for(tx, source)


def envelope_for(tx: Transaction, source: str) -> Envelope:
    """Events of one PayTrace transaction share a partition, so a refund never overtakes its sale."""
    return Envelope(
        topic=PAYMENT_TOPIC,
        key=tx.key,
        partition_key=transaction_partition(tx.transaction_id, tx.account),
        # Merchants type free text into PayTrace (descriptions, names, invoice ids): a card number
        # typed there must not enter our queue, ledger or D365, so the payload is redacted.
        payload=redact(tx.model_dump(mode="json")),
        source=source,
    )


def unreadable_envelope(
    change: TransactionChange,
    reason: str,
    source: str = "poller",
    account: str = DEFAULT_ACCOUNT,
) -> Envelope:
    """Keep what could not be translated (redacted), so nothing is lost and the reason is visible."""
    raw = redact(change.record.model_dump(mode="json"))
    return Envelope(
        topic=UNREADABLE_TOPIC,
        key=paytrace_fact(change.transaction_id, change.kind, account),
        partition_key=transaction_partition(change.transaction_id, account),
        payload={"reason": redact_text(reason), "record": raw},
        source=source,
    )
