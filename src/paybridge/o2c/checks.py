"""ACH checks as payment facts: PayTrace's check export polled, each check's states published.

A check is its own PayTrace transaction, numbered apart from card transactions, so its facts
are keyed ``paytrace:ACH<check id>:<kind>`` (a check and a card sale of the same number never
meet). What a check did becomes the facts card transactions make, posted by the same
``PaymentPoster``: a sale (``sale``, a credit line), a hold (``authorization``, no money) and its
funding (``capture``, a credit line), a refund (``refund``, its own check, a debit line), a
void (``void``) and a return with its NACHA R-code (``return``, reversing what D365 holds of
the check, with the reason in words on the line). Declined checks are ``decline`` facts.

Each poll reads the export of the last ``checks.lookback_days`` days (returns arrive weeks
after the sale) and publishes every fact it shows; the inbox drops the ones it has, so a fact
seen twice is posted once. The facts of one check go out in the order they happened, in one
partition, so a return never overtakes its sale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from paybridge.clock import Clock
from paybridge.connectors.dynamics import DynamicsClient
from paybridge.connectors.paytrace import CheckExportRequest, CheckRecord, PayTraceClient
from paybridge.connectors.paytrace.codes import ach_return_reason
from paybridge.errors import DataError
from paybridge.keys import (
    DEFAULT_ACCOUNT,
    UNREADABLE_TOPIC,
    check_transaction_id,
    paytrace_fact,
    transaction_partition,
)
from paybridge.model import (
    Money,
    PaymentMethodType,
    Transaction,
    TransactionKind,
    TransactionStatus,
)
from paybridge.o2c.facts import envelope_for
from paybridge.o2c.ingest import IngestResult
from paybridge.runtime.envelope import Envelope
from paybridge.runtime.intents import IntentStore
from paybridge.runtime.queue import SqlQueue
from paybridge.security.cardguard import redact, redact_text

log = logging.getLogger(__name__)

SOURCE = "checks"
K, S = TransactionKind, TransactionStatus


@dataclass(frozen=True)
class CheckFacts:
    """Translates one export record of a check into its facts, oldest first."""

    currency: str
    timezone: str

    def facts(self, record: CheckRecord) -> list[Transaction]:
        kind, status = record.transaction_type.strip().upper(), record.status.strip().upper()
        created = self._at(record, "created")
        if created is None or record.amount is None:
            raise DataError(
                f"check {record.check_transaction_id} has no creation time or amount",
                fields={"created": record.created, "amount": str(record.amount)},
            )
        if status == "DECLINED":
            return [self._fact(record, K.DECLINE, S.DECLINED, created)]
        facts = [self._first(record, kind, created)]
        funded = self._at(record, "funded")
        if kind == "HOLD" and (funded is not None or status in ("PENDING", "SETTLED", "RETURNED")):
            facts.append(self._fact(record, K.CAPTURE, S.APPROVED, funded or created))
        voided = self._at(record, "voided")
        if voided is not None or status in ("VOIDED", "VOID"):
            facts.append(self._fact(record, K.VOID, S.VOIDED, voided or created))
        returned = self._at(record, "returned")
        if returned is not None or status == "RETURNED":
            reason = ach_return_reason(record.ach_code, record.ach_message)
            facts.append(
                self._fact(record, K.RETURN, S.RETURNED, returned or created, description=reason)
            )
        return facts

    def _first(self, record: CheckRecord, kind: str, created: datetime) -> Transaction:
        if kind == "HOLD":
            return self._fact(record, K.AUTHORIZATION, S.AUTHORIZED, created)
        if kind == "REFUND":
            return self._fact(record, K.REFUND, S.APPROVED, created)
        return self._fact(record, K.SALE, S.PENDING_SETTLEMENT, created)

    def _fact(
        self,
        record: CheckRecord,
        kind: TransactionKind,
        status: TransactionStatus,
        at: datetime,
        *,
        description: str | None = None,
    ) -> Transaction:
        return Transaction(
            transaction_id=check_transaction_id(record.check_transaction_id), kind=kind,
            status=status, amount=Money.of(Decimal(str(record.amount)), self.currency),
            occurred_at=at, customer_id=record.customer_id or None,
            invoice_id=record.invoice_id or None,
            description=record.description if description is None else description,
            response_code=125 if kind is K.DECLINE else None,
            payment_method_type=PaymentMethodType.ACH,
        )  # fmt: skip

    def _at(self, record: CheckRecord, name: str) -> datetime | None:
        try:
            return record.at(name, self.timezone)
        except ValueError:
            log.warning("check %s: unreadable %s %r", record.check_transaction_id, name,
                        getattr(record, name))  # fmt: skip
            return None


class CheckIngest:
    """One poll of the check export: every fact it shows goes to the inbox (duplicates dropped)."""

    def __init__(
        self,
        paytrace: PayTraceClient,
        queue: SqlQueue,
        engine: Engine,
        clock: Clock,
        facts: CheckFacts,
        *,
        lookback: timedelta,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        # The merchant account the checks are of: its facts' keys are qualified by it.
        self.account = account
        self.paytrace = paytrace
        self.queue = queue
        self.engine = engine
        self.clock = clock
        self.translate = facts
        self.lookback = lookback

    async def poll_once(self) -> IngestResult:
        now = self.clock.now()
        request = CheckExportRequest(
            start_date=self.paytrace.local_date(now - self.lookback),
            end_date=self.paytrace.local_date(now + timedelta(hours=1)),
        )
        records = await self.paytrace.export_checks(request)
        envelopes = [env for record in records for env in self._envelopes(record)]
        with self.engine.begin() as conn:
            fresh = self.queue.publish(conn, envelopes)
        new = sum(fresh)
        return IngestResult(seen=len(envelopes), new=new, duplicates=len(envelopes) - new)

    def _envelopes(self, record: CheckRecord) -> list[Envelope]:
        try:
            facts = self.translate.facts(record)
            if self.account:
                facts = [tx.model_copy(update={"account": self.account}) for tx in facts]
            return [envelope_for(tx, SOURCE) for tx in facts]
        except DataError as exc:  # held in the dead letters with its reason: never lost
            log.warning("check %s unreadable: %s", record.check_transaction_id, exc.message)
            tid = check_transaction_id(record.check_transaction_id)
            return [
                Envelope(
                    topic=UNREADABLE_TOPIC, key=paytrace_fact(tid, "unreadable", self.account),
                    partition_key=transaction_partition(tid, self.account), source=SOURCE,
                    payload={"reason": redact_text(f"cannot translate: {exc.message}"),
                             "record": redact(record.model_dump(mode="json"))},
                )
            ]  # fmt: skip


REVERSE_STEP = "d365.reverse_payment"


class PaymentReversal:
    """An ACH return of a payment D365 has posted: "Reverse transaction" through a custom
    service (``checks.reverse_service``, ``group/service/operation``), which re-opens the
    invoice the payment settled, instead of a debit line that leaves the invoice closed.

    The service must be idempotent by ``PaymentId`` (a second call answers what the first did):
    a lost answer is resolved by calling it again, never by posting a line as well."""

    def __init__(self, dynamics: DynamicsClient, intents: IntentStore, service: str) -> None:
        self.dynamics = dynamics
        self.intents = intents
        self.group, self.service, self.operation = service.split("/")

    async def posted(self, company: str, journals: set[str]) -> bool:
        """Whether every one of the journals is posted in D365."""
        for journal in sorted(journals):
            row = await self.dynamics.get(
                "CustomerPaymentJournalHeaders", {"dataAreaId": company,
                                                  "JournalBatchNumber": journal},
                select=["IsPosted"], cross_company=True,
            )  # fmt: skip
            if row is None or row.get("IsPosted") != "Yes":
                return False
        return True

    async def reverse(self, fact_key: str, company: str, payment_id: str, reason: str) -> str:
        """Reverse one posted payment line once for the return ``fact_key``."""
        intent = self.intents.plan(
            f"{fact_key}:{payment_id}", REVERSE_STEP, "d365", payment_id, {"company": company}
        )
        body = {"dataAreaId": company, "PaymentId": payment_id, "Reason": reason}

        async def call() -> dict[str, Any]:
            reply = await self.dynamics.call_service(
                self.group, self.service, self.operation, body, idempotent=True,
                reference=payment_id,
            )  # fmt: skip
            answer = reply if isinstance(reply, dict) else {}
            return {"reopened_invoice": answer.get("ReopenedInvoice"),
                    "reversed_now": bool(answer.get("Reversed"))}  # fmt: skip

        resolution = await self.intents.execute_once(intent, call, call)
        invoice = resolution.detail.get("reopened_invoice")
        return f"reversed {payment_id}" + (f", invoice {invoice} re-opened" if invoice else "")
