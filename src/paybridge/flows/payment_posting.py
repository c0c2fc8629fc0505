"""Route canonical payment events to D365: customer payment journal lines, exactly once, in $batch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from paybridge.connectors.dynamics import (
    BatchOperation,
    ChangesetResult,
    DynamicsClient,
    F,
    Query,
    unescape_display_value,
)
from paybridge.errors import DataError, FatalError, InDoubtError, PayBridgeError
from paybridge.mapping import CompiledTemplate
from paybridge.model import Transaction, TransactionKind
from paybridge.runtime.cursors import Cursors
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.intents import DEFINITE_REFUSALS, DONE, Intent, IntentStore
from paybridge.runtime.ledger import Ledger, Xref
from paybridge.runtime.worker import outcome_for
from paybridge.settings import DynamicsSettings

log = logging.getLogger("paybridge.flows.posting")

LINES = "CustomerPaymentJournalLines"
HEADERS = "CustomerPaymentJournalHeaders"
LINE_STEP = "d365.payment_line"
CUSTOMER_XREF = "paytrace_customer"
PAYMENT_TEMPLATE = "payment_to_customer_payment_line"

CREDIT_KINDS = {TransactionKind.SALE, TransactionKind.CAPTURE}
DEBIT_KINDS = {TransactionKind.REFUND, TransactionKind.VOID}


@dataclass(frozen=True)
class PlannedLine:
    env: Envelope
    tx: Transaction
    intent: Intent
    # A heal event re-drives a fact reconciliation found missing: look D365 up before writing,
    # so that a wrong "missing" can never make a duplicate.
    verify_first: bool = False


def payment_id(tx: Transaction) -> str:
    """The exactly-once anchor kept by D365 on the line: one per PayTrace transaction state."""
    return f"PT-{tx.transaction_id}-{tx.kind.value}"


class PaymentPoster:
    """Handler of the ``payment`` topic: a batch of events in, one outcome per event out."""

    def __init__(
        self,
        dynamics: DynamicsClient,
        intents: IntentStore,
        ledger: Ledger,
        xref: Xref,
        cursors: Cursors,
        settings: DynamicsSettings,
        template: CompiledTemplate,
    ) -> None:
        self.template = template
        self.d365 = dynamics
        self.intents = intents
        self.ledger = ledger
        self.xref = xref
        self.cursors = cursors
        self.settings = settings
        self._journals: dict[tuple[str, date], str] = {}

    async def __call__(self, envs: Sequence[Envelope]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        planned: list[PlannedLine] = []
        for index, env in enumerate(envs):
            try:
                line = await self._plan(env)
            except PayBridgeError as exc:
                outcomes[index] = outcome_for(exc)
                continue
            if isinstance(line, Outcome):
                outcomes[index] = line
            else:
                planned.append(line)
        if planned:
            results = await self._post(planned)
            positions = {id(env): i for i, env in enumerate(envs)}
            for line, outcome in zip(planned, results, strict=True):
                outcomes[positions[id(line.env)]] = outcome
        return [outcomes[i] for i in range(len(envs))]

    async def _plan(self, env: Envelope) -> PlannedLine | Outcome:
        try:
            tx = Transaction.model_validate(env.payload)
        except ValidationError as exc:
            return Outcome.dead(f"not a payment event: {exc.errors()[0]['msg']}")
        if tx.kind is TransactionKind.DECLINE:
            self._note(tx, "declined", "no money moved; the decline is kept for the order")
            return Outcome.done("declined")
        if tx.kind is TransactionKind.VOID and not self._posted(
            tx, TransactionKind.SALE, TransactionKind.CAPTURE
        ):
            self._note(tx, "skipped", "void of a transaction with no posted payment line")
            return Outcome.done("nothing to reverse")
        if tx.kind not in CREDIT_KINDS | DEBIT_KINDS:
            self._note(tx, "skipped", f"{tx.kind.value} moves no money in the payment journal")
            return Outcome.done(f"{tx.kind.value}: nothing to post")
        company, account = await self._customer(tx)
        journal = await self._journal(company, self._day(tx))
        verify = bool(env.payload.get("heal"))
        existing = self.intents.get(env.key, LINE_STEP)
        if existing is not None:
            return PlannedLine(env, tx, existing, verify)
        number = self.cursors.next_numbers(f"journal-line:{company}:{journal}", 1)[0]
        body = await self._line_body(tx, company, account, journal, number)
        intent = self.intents.plan(
            env.key, LINE_STEP, "d365", payment_id(tx), {"body": body, "company": company}
        )
        return PlannedLine(env, tx, intent, verify)

    def _posted(self, tx: Transaction, *kinds: TransactionKind) -> bool:
        return any(
            entry.step == LINE_STEP and entry.status == "posted"
            for kind in kinds
            for entry in self.ledger.entries(f"paytrace:{tx.transaction_id}:{kind.value}")
        )

    def _note(self, tx: Transaction, status: str, why: str) -> None:
        self.ledger.record(
            tx.key, "route", system="paybridge", entity="event", entity_id=tx.key,
            status=status, detail={"why": why},
        )  # fmt: skip

    def _day(self, tx: Transaction) -> date:
        return tx.occurred_at.astimezone(ZoneInfo(self.settings.timezone)).date()

    async def _customer(self, tx: Transaction) -> tuple[str, str]:
        if not tx.customer_id:
            raise DataError(
                f"PayTrace transaction {tx.transaction_id} names no customer, so it has no D365 account",
                fields={"customer_id": "missing"},
            )
        linked = self.xref.get(CUSTOMER_XREF, tx.customer_id)
        if linked:
            company, _, account = linked.partition("/")
            return company, account
        if self.settings.customer_match == "xref_or_same_id":
            company = self.settings.company
            found = await self.d365.get(
                "CustomersV3",
                {"dataAreaId": company, "CustomerAccount": tx.customer_id},
                select=["CustomerAccount"],
                cross_company=True,
            )
            if found is not None:
                self.xref.link(CUSTOMER_XREF, tx.customer_id, f"{company}/{tx.customer_id}")
                return company, tx.customer_id
        raise DataError(
            f"no D365 customer for PayTrace customer {tx.customer_id!r}; link one with "
            f"`paybridge xref link {tx.customer_id} <company>/<account>`",
            fields={"customer_id": tx.customer_id},
        )

    async def _journal(self, company: str, day: date) -> str:
        cached = self._journals.get((company, day))
        if cached:
            return cached
        description = self.settings.journal_description.format(day=day.isoformat())
        description = f"PayBridge {description}"
        intent = self.intents.plan(
            f"journal:{company}:{self.settings.journal_name}:{day.isoformat()}",
            "d365.journal_header",
            "d365",
            description,
            {},
        )

        async def send() -> dict[str, Any]:
            created = await self.d365.create(
                HEADERS,
                {
                    "dataAreaId": company,
                    "JournalName": self.settings.journal_name,
                    "Description": description,
                },
            )
            return {"JournalBatchNumber": created["JournalBatchNumber"]}

        async def find() -> dict[str, Any] | None:
            rows = await self.d365.find_by_reference(
                HEADERS, "Description", description, company=company
            )
            return {"JournalBatchNumber": rows[0]["JournalBatchNumber"]} if rows else None

        resolution = await self.intents.execute_once(intent, send, find)
        number = str(resolution.detail["JournalBatchNumber"])
        self._journals[(company, day)] = number
        return number

    async def _invoice(self, tx: Transaction, company: str, account: str) -> str | None:
        if not (self.settings.mark_invoices and tx.invoice_id):
            return None
        rows = await self.d365.query(
            "SalesInvoiceHeadersV2",
            Query(
                filter=(F("InvoiceNumber") == tx.invoice_id) & (F("dataAreaId") == company),
                select=["InvoiceNumber", "InvoiceCustomerAccountNumber"],
                top=1,
                cross_company=True,
            ),
        )
        if rows and rows[0].get("InvoiceCustomerAccountNumber") == account:
            return str(rows[0]["InvoiceNumber"])
        return None

    async def _line_body(
        self, tx: Transaction, company: str, account: str, journal: str, number: int
    ) -> dict[str, Any]:
        """Translate through the versioned template; only a D365 invoice of this customer is marked."""
        source = tx.model_dump(mode="json")
        source["invoice_id"] = await self._invoice(tx, company, account)
        result = self.template.apply(
            source,
            context={
                "company": company,
                "journal_batch_number": journal,
                "customer_account": account,
                "bank_account": self.settings.bank_account,
                "payment_method_name": self.settings.payment_method or None,
                "line_number": number,
                "time_zone": self.settings.timezone,
            },
        )
        if not result.ok:
            raise DataError(
                f"template {self.template.ref} cannot map {tx.key}", fields=dict(result.errors)
            )
        return dict(result.record)

    async def _post(self, lines: list[PlannedLine]) -> list[Outcome]:
        """Resolve earlier unknown outcomes by looking, then send the rest in one $batch."""
        outcomes: list[Outcome | None] = [None] * len(lines)
        to_send: list[int] = []
        for i, line in enumerate(lines):
            if line.intent.status == DONE:
                outcomes[i] = Outcome.done("already posted")
                continue
            if line.intent.status != "planned" or line.verify_first:
                found = await self.d365.find_by_reference(
                    LINES, "PaymentId", payment_id(line.tx), company=line.intent.detail["company"]
                )
                if found:
                    self._posted_line(line, found[0], "found after an unknown outcome")
                    outcomes[i] = Outcome.done("found")
                    continue
            if self.intents.claim_send(line.intent):
                to_send.append(i)
            else:  # another worker holds this event right now; look again later
                outcomes[i] = Outcome.retry("another worker is posting this line", 1.0)
        if to_send:
            ops = [
                [
                    BatchOperation(
                        method="POST", entity_set=LINES, body=lines[i].intent.detail["body"]
                    )
                ]
                for i in to_send
            ]
            try:
                results = await self.d365.batch(ops)
            except InDoubtError as exc:
                for i in to_send:
                    outcomes[i] = outcome_for(exc)
                return [o or Outcome.retry("unresolved") for o in outcomes]
            except PayBridgeError as exc:
                for i in to_send:
                    self.intents.unsend(lines[i].intent)
                    outcomes[i] = outcome_for(exc)
                return [o or Outcome.retry("unresolved") for o in outcomes]
            for i, result in zip(to_send, results, strict=True):
                outcomes[i] = self._settle(lines[i], result)
        return [o or Outcome.retry("unresolved") for o in outcomes]

    def _settle(self, line: PlannedLine, result: ChangesetResult) -> Outcome:
        if result.ok:
            body = result.results[0].body if result.results else None
            self._posted_line(line, body if isinstance(body, dict) else {}, "posted")
            return Outcome.done("posted")
        error = result.error or FatalError("changeset failed without an error body", system="d365")
        if isinstance(error, DEFINITE_REFUSALS):
            self.intents.unsend(line.intent)  # D365 said no: nothing was written
        # Otherwise (in doubt) the intent stays ``sent`` and the next attempt looks before sending.
        return outcome_for(error)

    def _posted_line(self, line: PlannedLine, entity: dict[str, Any], how: str) -> None:
        body = line.intent.detail["body"]
        entity_id = f"{body['dataAreaId']}/{body['JournalBatchNumber']}/{entity.get('LineNumber', body['LineNumber'])}"
        self.intents.complete(line.intent, {"entity_id": entity_id})
        self.ledger.record(
            line.env.key, LINE_STEP, system="d365", entity=LINES, entity_id=entity_id,
            status="posted", attempts=line.intent.attempts + 1, template_version=self.template.ref,
            detail={"how": how, "voucher": entity.get("Voucher", "")},
        )  # fmt: skip


def replay_context(
    payload: dict[str, Any], detail: dict[str, Any], settings: DynamicsSettings
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source and context a payment line was mapped with, rebuilt from its intent's body."""
    body = detail.get("body", {})
    source = dict(payload)
    source["invoice_id"] = body.get("MarkedInvoice") or None
    context = {
        "company": body.get("dataAreaId", detail.get("company")),
        "journal_batch_number": body.get("JournalBatchNumber"),
        "customer_account": unescape_display_value(str(body.get("AccountDisplayValue", ""))),
        "bank_account": settings.bank_account,
        "payment_method_name": body.get("PaymentMethodName"),
        "line_number": body.get("LineNumber"),
        "time_zone": settings.timezone,
    }
    return source, context
