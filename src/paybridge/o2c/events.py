"""Signed inbound payment events: a sender's claim checked against PayTrace, then the poller's own facts in the inbox.

A storefront says "transaction 123 was processed (refunded, voided)". Nothing is taken on its
word: the transaction is read back with ``export_by_id`` and must show the claimed state. What
PayTrace shows is then published exactly as the change poller would publish it (same topic,
keys ``paytrace:<id>:<kind>`` and payload), so a fact seen by both paths is processed once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from paybridge.connectors.paytrace import TransactionRecord
from paybridge.connectors.paytrace.poller import ChangeKind, TransactionChange, change_kinds
from paybridge.errors import DataError
from paybridge.o2c.facts import FactTranslator
from paybridge.runtime.envelope import Envelope
from paybridge.runtime.queue import SqlQueue

EventType = Literal["payment.processed", "payment.refunded", "payment.voided"]
# The states of a PayTrace record that bear each claim out.
PROOF: dict[str, frozenset[str]] = {
    "payment.processed": frozenset({"sale", "authorization", "capture"}),
    "payment.refunded": frozenset({"refund"}),
    "payment.voided": frozenset({"void"}),
}
EVENT_SOURCE = "event"


class InboundEvent(BaseModel):
    """The body of ``POST /v1/events``."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"type": "payment.processed", "transaction_id": 1234}]},
    )

    type: EventType = Field(description="What the sender says happened to the transaction.")
    transaction_id: int = Field(gt=0, description="The PayTrace transaction id.")
    account: str = Field(
        default="", max_length=32,
        description="The PayTrace merchant account (a paytrace.accounts name); empty: the main one.",
    )  # fmt: skip


class TransactionLookup(Protocol):
    """What the intake needs of PayTraceClient (a fake in unit tests)."""

    async def export_by_id(self, transaction_id: int) -> TransactionRecord | None: ...


class ClaimRefused(DataError):
    """PayTrace contradicts the event (no such transaction, or not in the claimed state)."""


@dataclass(frozen=True)
class PublishedFact:
    key: str
    kind: str
    new: bool


@dataclass(frozen=True)
class EventResult:
    event: InboundEvent
    facts: list[PublishedFact]
    shown: list[str]


def parse_event(body: bytes) -> InboundEvent:
    """The verified body as an event; a pydantic ValidationError names the bad fields."""
    return InboundEvent.model_validate_json(body)


class EventIntake:
    """Verifies events against PayTrace and publishes what PayTrace shows into the inbox."""

    def __init__(
        self,
        paytrace: TransactionLookup,
        queue: SqlQueue,
        engine: Engine,
        translator: FactTranslator,
        others: Mapping[str, tuple[TransactionLookup, FactTranslator]] | None = None,
    ) -> None:
        self.paytrace = paytrace
        self.queue = queue
        self.engine = engine
        self.translator = translator
        # The other merchant accounts: name -> (their client, their translator).
        self.others = dict(others or {})

    async def accept(self, event: InboundEvent) -> EventResult:
        """Publish the facts of a confirmed event; ClaimRefused when PayTrace contradicts it.

        The transaction is read back from the event's merchant account, and its facts are that
        account's (a number means something only within its account)."""
        paytrace, translator = self.paytrace, self.translator
        if event.account:
            if event.account not in self.others:
                raise DataError(
                    f"no PayTrace merchant account {event.account!r}",
                    fields={"account": "not one of paytrace.accounts"},
                )
            paytrace, translator = self.others[event.account]
        record = await paytrace.export_by_id(event.transaction_id)
        if record is None:
            raise ClaimRefused(
                f"PayTrace has no transaction {event.transaction_id}",
                fields={"transaction_id": "PayTrace has no such transaction"},
                system="paytrace",
                operation="verify event",
            )
        kinds = change_kinds(record)
        if not PROOF[event.type] & set(kinds):
            shown = ", ".join(kinds) or "nothing"
            raise ClaimRefused(
                f"PayTrace shows transaction {event.transaction_id} as {shown}, not {event.type}",
                fields={"type": f"PayTrace shows this transaction as {shown}"},
                system="paytrace",
                operation="verify event",
            )
        envelopes = [self._envelope(record, kind, translator) for kind in kinds]
        with self.engine.begin() as conn:
            fresh = self.queue.publish(conn, envelopes)
        facts = [
            PublishedFact(env.key, kind, new)
            for env, kind, new in zip(envelopes, kinds, fresh, strict=True)
        ]
        return EventResult(event, facts, list(kinds))

    def _envelope(
        self, record: TransactionRecord, kind: ChangeKind, translator: FactTranslator
    ) -> Envelope:
        change = TransactionChange(
            key=f"paytrace:{record.transaction_id}:{kind}",
            transaction_id=record.transaction_id,
            kind=kind,
            record=record,
        )
        return translator.envelope(change, EVENT_SOURCE)
