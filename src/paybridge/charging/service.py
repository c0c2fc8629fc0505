"""Request/reply charging: a D365 invoice or sales order charged to its customer's PayTrace profile, once per key.

A charge is keyed by the caller's idempotency key. Its row in ``charges`` (``charge_records``)
binds the key to one request body and keeps the answer; the PayTrace call is a charge intent
(``charge:<key>``, ``paytrace.charge``) made through ``charge_once``: its ``description`` starts
with ``PayBridge charge <key>``, so a lost reply is looked up in PayTrace's export and never resent
blindly. A lookup that finds nothing proves nothing until ``in_doubt_grace`` has passed since the
send; after that the key is open again and only a repeat of the same request sends it (the
runtime never charges unattended).

The request is the document mapped through its template: ``invoice_to_paytrace_sale`` for an
invoice, ``order_to_paytrace_authorization`` for a sales order (whichever the mode: the two
targets take the same body). Code sets the customer profile, the amount and the head of the
description; the template's description follows the reference.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from paybridge.charging.charge_once import (
    ACH,
    CODE_FIELDS,
    FIRST_LOOKBACK,
    PROTECT,
    ChargeOnce,
    ProtectCard,
    charge_body,
)
from paybridge.charging.documents import (
    INVOICES,
    ORDERS,
    Document,
    read_document,
    template_reads,
)
from paybridge.charging.ledger import DocumentCharges
from paybridge.charging.level3 import HEADER_FIELDS, Level3, Preflight
from paybridge.charging.records import (
    DECLINED,
    FINAL,
    IN_DOUBT,
    OPEN,
    PENDING,
    ChargeRecord,
    ChargeRecords,
    ChargeRequest,
    IdempotencyConflict,
    charge_event_key,
    charge_reference,
    check_key,
)
from paybridge.clock import Clock
from paybridge.connectors.dynamics import DynamicsClient
from paybridge.connectors.paytrace import PayTraceClient
from paybridge.connectors.paytrace.accounts import MerchantAccount, PayTraceAccounts
from paybridge.errors import ConfigError, DataError, InDoubtError, PayBridgeError
from paybridge.keys import CHARGE_RESOLVE_TOPIC, CHARGE_STEP, CUSTOMER_XREF, paytrace_fact
from paybridge.mapping import CompiledTemplate
from paybridge.model import (
    Money,
    PaymentMethodType,
    Transaction,
    TransactionKind,
    TransactionStatus,
)
from paybridge.o2c.facts import envelope_for
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.intents import DEFINITE_REFUSALS, DONE, PLANNED, Intent, IntentStore
from paybridge.runtime.ledger import Ledger, Xref
from paybridge.runtime.queue import SqlQueue

log = logging.getLogger("paybridge.charging.service")
APPROVED_STATUS = "approved"

__all__ = [
    "CHARGE_RESOLVE_TOPIC", "CHARGE_STEP", "INVOICE_CHARGE_TEMPLATE", "ORDER_CHARGE_TEMPLATE",
    "ChargeOutcome", "ChargeRecords", "ChargeRequest", "ChargeService", "IdempotencyConflict",
    "check_key",
]  # fmt: skip

# The shipped templates a charge request is mapped with (``mapping.templates_dir`` may hold
# newer versions); each maps the D365 header of its document kind.
INVOICE_CHARGE_TEMPLATE = "invoice_to_paytrace_sale"
ORDER_CHARGE_TEMPLATE = "order_to_paytrace_authorization"
_TARGETS = frozenset({"paytrace.sale_by_customer", "paytrace.authorization_by_customer"})


@dataclass(frozen=True)
class ChargeOutcome:
    """What a charge came to; ``status`` is a charge row status, ``in_progress`` for pending."""

    key: str
    status: str
    request: ChargeRequest
    outcome: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False

    @property
    def amount(self) -> Money | None:
        value, currency = self.outcome.get("amount"), self.outcome.get("currency")
        return Money.of(value, str(currency)) if value is not None and currency else None

    @property
    def transaction_id(self) -> str | None:
        tid = self.outcome.get("transaction_id")
        return None if tid is None else str(tid)


@dataclass
class ChargeService:
    """Charges D365 documents through PayTrace and feeds the approved ones to order-to-cash."""

    paytrace: PayTraceClient
    dynamics: DynamicsClient
    intents: IntentStore
    ledger: Ledger
    xref: Xref
    queue: SqlQueue
    records: ChargeRecords
    documents: DocumentCharges
    clock: Clock
    currency: str
    invoice_template: CompiledTemplate
    order_template: CompiledTemplate
    # How long PayTrace may still be working on a charge whose reply was lost (its timeout and
    # some): before that, "not found" proves nothing.
    in_doubt_grace: timedelta = timedelta(minutes=5)
    # A key never charged by this store is looked up this far back before its first send.
    first_lookback: timedelta = FIRST_LOOKBACK
    # Level 2/3 pre-flight before an invoice sale and the Level 3 call after it (``level3:``).
    level3: Level3 | None = None
    # Every merchant account: a document of company X is charged through X's account (its
    # client, profiles and currency). None: the main account (``paytrace``) for every company.
    accounts: PayTraceAccounts | None = None
    _reads: dict[str, frozenset[str]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        for template, source in ((self.invoice_template, INVOICES), (self.order_template, ORDERS)):
            if str(template.source) != f"d365.{source}" or str(template.target) not in _TARGETS:
                raise ConfigError(
                    f"charge template {template.ref} maps {template.source} -> "
                    f"{template.target}; a charge needs d365.{source} -> a PayTrace sale or "
                    "authorization by customer"
                )
            self._reads[source] = template_reads(template)
        if self.level3 is not None and self.level3.enabled:
            self._reads[INVOICES] |= frozenset(HEADER_FIELDS)

    @property
    def once(self) -> ChargeOnce:
        """The exactly-once sender of the main account, with this service's currency and grace."""
        return self.once_for(None)

    def merchant(self, company: str | None) -> MerchantAccount | None:
        """The merchant account that charges for ``company`` (None: the main one, as configured
        on this service). A company without an account, when there are several, is refused."""
        if self.accounts is None or company is None or not self.accounts.several:
            return None
        return self.accounts.for_company(company)

    def once_for(self, company: str | None) -> ChargeOnce:
        """The exactly-once sender through ``company``'s merchant account."""
        merchant = self.merchant(company)
        client = merchant.client if merchant else self.paytrace
        currency = merchant.currency if merchant else self.currency
        return ChargeOnce(
            client, self.intents, self.clock, currency=currency,
            grace=self.in_doubt_grace, declines_final=True, first_lookback=self.first_lookback,
        )  # fmt: skip

    def _once_of(self, intent: Intent) -> ChargeOnce:
        company = intent.detail.get("company")
        return self.once_for(str(company) if company else None)

    async def charge(
        self, request: ChargeRequest, key: str, *, card: ProtectCard | None = None
    ) -> ChargeOutcome:
        """Charge once for ``key``; a repeat answers what the first call came to.

        ``card``: charge a card typed into PayTrace Protect's fields (a pay-by-link page)
        instead of the customer's vault profile; the customer needs no profile then."""
        check_key(key)
        record, claimed = self.records.claim(key, request)
        if not claimed:
            outcome = await self._existing(record, request)
            if outcome is not None:
                return outcome if outcome.replayed else await self._level3_after(key, outcome)
            record, claimed = self.records.claim(key, request)
            if not claimed:
                raise IdempotencyConflict("this charge is in progress", in_progress=True)
        try:
            intent = await self._intent(key, request, protect=card is not None)
        except Exception as exc:
            self.records.release(record, str(exc))
            raise
        return await self._level3_after(key, await self._send(key, request, intent, card))

    def state(self, key: str) -> ChargeOutcome | None:
        """The current state of the charge made with ``key`` (``None`` when unknown)."""
        record = self.records.get(key)
        if record is None:
            return None
        request = ChargeRequest.model_validate(record.request)
        status = "in_progress" if record.status == PENDING else record.status
        return ChargeOutcome(key, status, request, record.outcome)

    async def _existing(self, record: ChargeRecord, request: ChargeRequest) -> ChargeOutcome | None:
        """The answer for a key already used; ``None`` when the charge may be tried again."""
        if record.status in FINAL:
            return ChargeOutcome(record.key, record.status, request, record.outcome, replayed=True)
        if record.status == PENDING and not self._stale(record):
            raise IdempotencyConflict("this charge is in progress", in_progress=True)
        if record.status == OPEN:
            return None
        looked = await self.look(record)
        return None if looked.status == OPEN else looked

    def _stale(self, record: ChargeRecord) -> bool:
        """A pending row older than the grace: the process charging it died."""
        return self.clock.now() - record.updated_at > self.in_doubt_grace

    async def _intent(self, key: str, request: ChargeRequest, *, protect: bool = False) -> Intent:
        existing = self.intents.get(charge_event_key(key), CHARGE_STEP)
        if existing is not None and existing.status != PLANNED:
            return existing  # sent, or known: only a lookup may tell more
        entity = INVOICES if request.invoice_number is not None else ORDERS
        document = await read_document(self.dynamics, request, self._reads[entity])
        if existing is not None:
            # The first plan's amount stands, but the document is read again: it may have been
            # paid since (by this key's earlier try, another key, or someone in D365).
            planned = Decimal(str(existing.detail["amount"]))
            self.documents.reserve(document, key, planned, request.document_field)
            return existing
        target = f"{document.company}/{document.account}"
        merchant = self.merchant(document.company)
        currency = merchant.currency if merchant else self.currency
        profile = (
            _own_profile(self.xref.source_for(CUSTOMER_XREF, target), merchant, self.accounts)
            if protect
            else self._profile(request, document, merchant)
        )
        available = self.documents.available(document, key).amount
        amount = self._amount(request, document, available, currency)
        checked = await self._preflight(key, request, document, amount)
        self.documents.reserve(document, key, amount, "amount")
        template = self.invoice_template if entity == INVOICES else self.order_template
        body = self._body(template, document, profile or document.account, amount, key)
        detail = {
            "company": document.company, "document_type": document.kind,
            "document_number": document.number, "account": document.account,
            "customer_id": profile, "amount": amount, "currency": currency,
            "mode": request.mode, "description": body["description"], "template": template.ref,
        }  # fmt: skip
        if merchant is not None and merchant.name:
            detail["merchant_account"] = merchant.name  # its facts' keys are qualified by it
        if checked is not None:
            detail["level3"] = checked.summary()
        if request.tender == ACH:
            if protect:
                raise DataError("a pay link takes cards only", fields={"tender": "ach"})
            detail["tender"] = ACH
        if protect:  # no vault profile is charged: the fact names the D365 customer itself
            body.pop("customer_id")
            detail.update(source=PROTECT, customer_account=target)
        return self.once_for(document.company).plan(
            charge_event_key(key), CHARGE_STEP, charge_reference(key), body, detail
        )

    async def _preflight(
        self, key: str, request: ChargeRequest, document: Document, amount: Decimal
    ) -> Preflight | None:
        """Level 2/3 checks of an invoice sale by card; an error blocks under ``block``."""
        level3 = self.level3
        if level3 is None or not level3.enabled or document.kind != "invoice":
            return None
        if request.mode != "sale" or request.tender != "card":
            return None
        checked = await level3.preflight(document, amount)
        self.ledger.record(
            charge_event_key(key), "level3.preflight", system="paybridge", entity="invoice",
            entity_id=f"{document.company}/{document.number}", status=checked.status,
            detail=checked.summary(),
        )  # fmt: skip
        if checked.blocked:
            errors = [f for f in checked.findings if f.severity == "error"]
            raise DataError(
                f"Level 2/3 pre-flight of invoice {document.number} failed "
                "(level3.on_failure: block): nothing was charged",
                fields={f.field: f.message for f in errors},
            )
        return checked

    async def level3_check(
        self, company: str, invoice: str, amount: Decimal | None = None
    ) -> tuple[Preflight, Decimal]:
        """The Level 2/3 pre-flight an invoice sale of ``amount`` (default: what is open) would
        meet now; nothing is recorded or sent. ConfigError when ``level3`` is off."""
        if self.level3 is None or not self.level3.enabled:
            raise ConfigError("level3.enabled is false: no Level 2/3 checks", operation="level3")
        request = ChargeRequest(company=company, invoice_number=invoice, amount=amount)
        document = await read_document(self.dynamics, request, self._reads[INVOICES])
        if amount is None:
            open_now = self.documents.available(document, "").amount
            amount = Money.of(open_now, document.currency or self.currency).rounded().amount
        return await self.level3.preflight(document, amount), amount

    async def _level3_after(self, key: str, outcome: ChargeOutcome) -> ChargeOutcome:
        """After an approved invoice sale checked before: Level 3 to PayTrace, at most once."""
        level3, tid = self.level3, outcome.transaction_id
        if level3 is None or outcome.status != APPROVED_STATUS or tid is None:
            return outcome
        if "level3" not in outcome.outcome:
            return outcome
        merchant = self.merchant(outcome.request.company)
        client = merchant.client if merchant else None
        try:
            document = await read_document(self.dynamics, outcome.request, self._reads[INVOICES])
            data = await level3.read(document)
            said = await level3.send(charge_event_key(key), data, tid, client)
        except PayBridgeError as exc:  # the charge stands; the data is noted as missing
            log.warning("charge %s: Level 3 not sent: %s", key, exc)
            said = f"failed: {exc}"
        sent = {**outcome.outcome["level3"], "sent": said}
        self._note_level3(tid, outcome, sent)
        return ChargeOutcome(outcome.key, outcome.status, outcome.request,
                             {**outcome.outcome, "level3": sent}, outcome.replayed)  # fmt: skip

    def _note_level3(self, tid: str, outcome: ChargeOutcome, level3: dict[str, Any]) -> None:
        """The findings on the payment's own lineage too (the console's payment page)."""
        findings = "; ".join(
            f"{f['severity']} {f['field']}: {f['message']}" for f in level3.get("findings", [])
        )
        merchant = self.merchant(outcome.request.company)
        account = merchant.name if merchant else ""
        self.ledger.record(
            paytrace_fact(tid, TransactionKind.SALE.value, account), "level3", system="paybridge",
            entity="invoice", entity_id=f"{outcome.request.company}/{outcome.request.invoice_number}",
            status=str(level3.get("status")), detail={"findings": findings or "none",
                                                       "level3_call": level3.get("sent")},
        )  # fmt: skip

    def _body(
        self, template: CompiledTemplate, document: Document, profile: str, amount: Decimal,
        key: str,
    ) -> dict[str, Any]:  # fmt: skip
        """The PayTrace request: the document through its template, with code's fields set."""
        context = {"paytrace_customer_id": profile, "amount": amount}
        result = template.apply(document.row, context=context)
        errors = {f: e for f, e in result.errors.items() if f not in CODE_FIELDS}
        if errors:
            raise DataError(
                f"template {template.ref} cannot map {document.kind} {document.number}",
                fields=errors,
            )
        return charge_body(
            customer_id=profile, amount=amount, reference=charge_reference(key),
            mapped=result.record,
        )  # fmt: skip

    def _profile(
        self, request: ChargeRequest, document: Document, merchant: MerchantAccount | None
    ) -> str:
        target = f"{document.company}/{document.account}"
        profile = _own_profile(self.xref.source_for(CUSTOMER_XREF, target), merchant, self.accounts)
        if profile is None:
            raise DataError(
                f"customer {target} has no PayTrace profile",
                fields={
                    request.document_field: f"its customer {document.account} has no PayTrace "
                    f"profile (no {CUSTOMER_XREF} cross-reference to {target})"
                },
            )
        return profile

    def _amount(
        self, request: ChargeRequest, document: Document, available: Decimal, currency: str
    ) -> Decimal:
        """The amount to charge: the request's, or all that is open after PayBridge's charges."""
        where = request.document_field
        if document.currency.upper() != currency:
            raise DataError(
                "currency mismatch",
                fields={where: f"currency {document.currency} is not the PayTrace merchant "
                        f"currency {currency}"},
            )  # fmt: skip
        if request.amount is None:
            if available <= 0:
                raise DataError(
                    "nothing to charge",
                    fields={where: f"nothing is open to charge (D365 open "
                            f"{document.open_amount:f} {document.currency}, less PayBridge's "
                            "own charges)"},
                )  # fmt: skip
            return Money.of(available, currency).rounded().amount
        return Money.of(request.amount, currency).rounded().amount

    async def _send(
        self, key: str, request: ChargeRequest, intent: Intent, card: ProtectCard | None = None
    ) -> ChargeOutcome:
        once = self._once_of(intent)
        try:
            if intent.status == PLANNED:
                await once.ready()
        except DEFINITE_REFUSALS as exc:  # no token: nothing was sent
            record = self.records.get(key)
            assert record is not None
            self.records.release(record, str(exc))
            raise
        self.records.mark_sent(key)
        record = self.records.get(key)  # with the send time just recorded
        assert record is not None
        try:
            charged = await once.execute(intent, card=card, **_times(record))
        except InDoubtError as exc:
            return self._in_doubt(key, request, intent, str(exc))
        except DEFINITE_REFUSALS as exc:
            self.records.release(self.records.get(key) or record, str(exc))
            raise
        except Exception as exc:  # the request may have left: only a lookup can tell
            log.warning("charge %s: unexpected %s; in doubt", key, type(exc).__name__)
            return self._in_doubt(key, request, intent, f"unexpected {type(exc).__name__}")
        return self._finish(key, request, {**intent.detail, **charged.detail})

    def _in_doubt(
        self, key: str, request: ChargeRequest, intent: Intent, why: str
    ) -> ChargeOutcome:
        record = self.records.get(key)
        attempts = record.attempts if record else 1
        outcome = {**_public(intent.detail), "reason": f"PayTrace did not answer: {why}"}
        with self.records.engine.begin() as conn:
            self.records.settle(conn, key, IN_DOUBT, outcome)
            self.queue.publish(conn, [_resolve_envelope(key, attempts)])
        return ChargeOutcome(key, IN_DOUBT, request, outcome)

    def _finish(self, key: str, request: ChargeRequest, detail: dict[str, Any]) -> ChargeOutcome:
        """Settle the row, and put the fact in the inbox as the poller would (one transaction)."""
        outcome = _public(detail)
        status = str(detail["outcome"])
        tx = _transaction(detail) if detail.get("transaction_id") else None
        with self.records.engine.begin() as conn:
            if tx is not None:
                (new,) = self.queue.publish(conn, [envelope_for(tx, "api")])
                outcome["payment_event"] = {"key": tx.key, "new": new}
            if self.records.settle(conn, key, status, outcome) and tx is not None:
                self.ledger.record(
                    charge_event_key(key), CHARGE_STEP, system="paytrace", entity="transaction",
                    entity_id=tx.transaction_id, status=status, detail=outcome, conn=conn,
                )  # fmt: skip
        final = self.records.get(key)
        if final is not None and final.status in FINAL:
            return ChargeOutcome(key, final.status, request, final.outcome)
        return ChargeOutcome(key, status, request, outcome)

    async def look(self, record: ChargeRecord) -> ChargeOutcome:
        """Resolve an in-doubt (or abandoned) charge by looking at PayTrace, never by resending."""
        request = ChargeRequest.model_validate(record.request)
        intent = self.intents.get(charge_event_key(record.key), CHARGE_STEP)
        if intent is None or intent.status == PLANNED:  # never claimed for sending: not sent
            self.records.release(record, "nothing was sent to PayTrace")
            return ChargeOutcome(record.key, OPEN, request, {"reason": "nothing was sent"})
        if intent.status == DONE:
            return self._finish(record.key, request, intent.detail)
        try:
            found = await self._once_of(intent).find(intent, **_times(record))
        except InDoubtError:
            return ChargeOutcome(record.key, IN_DOUBT, request, record.outcome)
        if found is None:
            self.intents.unsend(intent)
            self.records.release(record, "PayTrace has no such charge: nothing was charged")
            return ChargeOutcome(record.key, OPEN, request, {"reason": "nothing was charged"})
        self.intents.complete(intent, found)
        return self._finish(record.key, request, {**intent.detail, **found})

    async def sweep(self) -> str:
        """Periodic job: charges left pending by a dead process go to the resolver."""
        stale = self.records.stale(self.clock.now() - self.in_doubt_grace)
        if not stale:
            return "no abandoned charges"
        envelopes = [_resolve_envelope(r.key, r.attempts) for r in stale]
        with self.records.engine.begin() as conn:
            fresh = self.queue.publish(conn, envelopes)
        return f"{sum(fresh)} abandoned charges sent to the resolver"

    async def resolve(self, envs: Sequence[Envelope]) -> list[Outcome]:
        """Queue handler of ``charge.resolve``: look each in-doubt charge up until it is known."""
        outcomes: list[Outcome] = []
        for env in envs:
            record = self.records.get(str(env.payload.get("idempotency_key", "")))
            if record is None:
                outcomes.append(Outcome.dead("no charge with this idempotency key"))
            elif record.status in FINAL or record.status == OPEN:
                outcomes.append(Outcome.done(f"already {record.status}"))
            elif record.status == PENDING and not self._stale(record):
                outcomes.append(Outcome.retry("the charge is in progress", 5.0))
            else:
                outcomes.append(await self._resolve_one(record))
        return outcomes

    async def _resolve_one(self, record: ChargeRecord) -> Outcome:
        try:
            looked = await self.look(record)
        except PayBridgeError as exc:
            return Outcome.retry(f"cannot look the charge up: {exc}")
        if looked.status == IN_DOUBT:
            sent = record.sent_at or record.updated_at
            wait = (sent + self.in_doubt_grace - self.clock.now()).total_seconds()
            return Outcome.retry("PayTrace shows no such charge yet", max(wait, 1.0))
        await self._level3_after(record.key, looked)
        return Outcome.done(looked.status)


def _times(record: ChargeRecord) -> dict[str, datetime]:
    """When the charge was last sent (the grace runs from it) and when it began (the lookup's start)."""
    return {"sent_at": record.sent_at or record.updated_at, "since": record.created_at}


def _resolve_envelope(key: str, attempts: int) -> Envelope:
    """One lookup request per charge attempt (a later attempt that goes in doubt gets its own)."""
    return Envelope(
        topic=CHARGE_RESOLVE_TOPIC, key=f"{charge_event_key(key)}:resolve:{attempts}",
        partition_key=charge_event_key(key), payload={"idempotency_key": key}, source="api",
    )  # fmt: skip


def _public(detail: dict[str, Any]) -> dict[str, Any]:
    """What the answer and the charges row keep (no PayTrace profile internals beyond ids)."""
    keep = (
        "outcome", "transaction_id", "approval_code", "reason", "amount", "currency", "mode",
        "company", "document_type", "document_number", "account", "masked_card", "occurred_at",
        "level3",
    )  # fmt: skip
    out = {k: detail[k] for k in keep if detail.get(k) is not None}
    if "amount" in out:
        out["amount"] = format(Decimal(str(out["amount"])), "f")
    return out


def _transaction(detail: dict[str, Any]) -> Transaction:
    """The canonical fact of the charge, as the poller would translate PayTrace's record of it."""
    status = str(detail["outcome"])
    if status == DECLINED:
        kind, state = TransactionKind.DECLINE, TransactionStatus.DECLINED
    elif detail["mode"] == "authorization":
        kind, state = TransactionKind.AUTHORIZATION, TransactionStatus.AUTHORIZED
    else:
        kind, state = TransactionKind.SALE, TransactionStatus.APPROVED
    order = detail["document_number"] if detail["document_type"] == "sales_order" else None
    sent = detail.get("request") or {}
    invoice = sent.get("invoice_id") or detail["document_number"]
    # What PayTrace keeps of the request and echoes in its export, as the poller would see it.
    extra = sent.get("discretionary_data") or {}
    return Transaction(
        transaction_id=str(detail["transaction_id"]), kind=kind, status=state,
        amount=Money.of(Decimal(str(detail["amount"])), str(detail["currency"])),
        occurred_at=datetime.fromisoformat(str(detail["occurred_at"])),
        customer_id=detail.get("customer_id") or None, invoice_id=invoice, order_id=order,
        customer_account=detail.get("customer_account") or None,
        payment_method_type=(
            PaymentMethodType.ACH if detail.get("tender") == ACH else PaymentMethodType.CARD
        ),
        description=str(detail["description"]), approval_code=str(detail.get("approval_code") or ""),
        masked_card=detail.get("masked_card") or None,
        customer_reference_id=sent.get("customer_reference_id") or None,
        discretionary_data={str(k): str(v) for k, v in extra.items() if v is not None},
        account=str(detail.get("merchant_account") or ""),
    )  # fmt: skip


def _own_profile(
    linked: str | None, merchant: MerchantAccount | None, accounts: PayTraceAccounts | None
) -> str | None:
    """The PayTrace profile id to charge, from the customer's cross-reference
    (``PayTraceAccounts.profile_of``); with one account, the link as it is."""
    if merchant is None or accounts is None:
        return linked
    return accounts.profile_of(linked, merchant)
