"""Sales orders and invoices a payment names: found in bulk, and the order's payment status written once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Any

from paybridge.connectors.dynamics import BatchOperation, DynamicsClient
from paybridge.errors import DataError, PayBridgeError
from paybridge.keys import ORDER_STATUS_STEP as ORDER_STEP
from paybridge.mapping import CompiledTemplate
from paybridge.model import Transaction, TransactionKind
from paybridge.o2c.journals import KeyedRead, keyed_reads
from paybridge.o2c.settings import OrderToCashSettings
from paybridge.runtime.cursors import Cursors
from paybridge.runtime.envelope import Outcome
from paybridge.runtime.intents import DEFINITE_REFUSALS, DONE, PLANNED, Intent, IntentStore
from paybridge.runtime.ledger import Ledger
from paybridge.runtime.worker import outcome_for

ORDERS = "SalesOrderHeadersV2"
ORDER_TEMPLATE = "authorization_to_sales_order_status"

# The word written into a configured status field, per PayTrace state.
STATUS_WORDS: dict[TransactionKind, str] = {
    TransactionKind.AUTHORIZATION: "Authorized",
    TransactionKind.SALE: "Paid",
    TransactionKind.CAPTURE: "Paid",
    TransactionKind.REFUND: "Refunded",
    TransactionKind.VOID: "Voided",
    TransactionKind.DECLINE: "Declined",
}
# States that hold or release the order (a refund leaves fulfilment as it is).
_HOLD_KINDS = frozenset(STATUS_WORDS) - {TransactionKind.REFUND}


@dataclass(frozen=True)
class Documents:
    """What D365 holds under one reference in one company."""

    ref: str
    # Open invoice: customer account and remaining (unsettled) amount.
    invoice_account: str | None = None
    invoice_remaining: Decimal = Decimal(0)
    invoice_order: str | None = None
    order_accounts: tuple[str, ...] = ()

    def open_invoice_for(self, account: str, amount: Decimal) -> bool:
        return self.invoice_account == account and self.invoice_remaining >= amount > 0

    def order_for(self, account: str | None) -> str | None:
        """The sales order this reference means for ``account`` (None account: any customer)."""
        if self.invoice_order and (account is None or self.invoice_account == account):
            return self.invoice_order
        if self.order_accounts and (account is None or account in self.order_accounts):
            return self.ref
        return None


# What a reference can be, read by its exact number: an invoice's open amount, the invoice and
# its order, an order.
DOCUMENT_READS = (
    KeyedRead("CustTransactions", "Invoice", ("Invoice", "AccountNum", "AmountCur",
                                               "SettleAmountCur")),
    KeyedRead("SalesInvoiceHeadersV2", "InvoiceNumber", ("InvoiceNumber", "SalesOrderNumber",
                                                          "InvoiceCustomerAccountNumber")),
    KeyedRead(ORDERS, "SalesOrderNumber", ("SalesOrderNumber", "OrderingCustomerAccountNumber",
                                           "InvoiceCustomerAccountNumber")),
)  # fmt: skip


async def look_up_documents(
    d365: DynamicsClient, wanted: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Documents | PayBridgeError]:
    """(company, reference) -> invoice and order facts, in one ``$batch`` of reads; a reference
    whose reads failed gets the error instead (the others are not held up by it)."""
    keys = sorted(set(wanted))
    reads = [(read, company, ref) for company, ref in keys for read in DOCUMENT_READS]
    answers = await keyed_reads(d365, reads)
    found: dict[tuple[str, str], Documents | PayBridgeError] = {}
    each = len(DOCUMENT_READS)
    for n, (company, ref) in enumerate(keys):
        parts = answers[each * n : each * (n + 1)]
        failed = [a for a in parts if isinstance(a, PayBridgeError)]
        if failed:
            found[(company, ref)] = failed[0]
            continue
        trans, invoices, orders = (a for a in parts if not isinstance(a, PayBridgeError))
        found[(company, ref)] = _documents(ref, trans, invoices, orders)
    return found


def _documents(
    ref: str,
    trans: list[dict[str, Any]],
    invoices: list[dict[str, Any]],
    orders: list[dict[str, Any]],
) -> Documents:
    # F&O compares strings loosely (case, wildcards): keep exact matches only.
    trans = [t for t in trans if t.get("Invoice") == ref]
    invoices = [i for i in invoices if i.get("InvoiceNumber") == ref]
    orders = [o for o in orders if o.get("SalesOrderNumber") == ref]
    remaining = sum(
        (
            Decimal(str(t.get("AmountCur", 0))) - Decimal(str(t.get("SettleAmountCur", 0)))
            for t in trans
        ),
        Decimal(0),
    )
    accounts = tuple(
        str(o[f]) for o in orders
        for f in ("OrderingCustomerAccountNumber", "InvoiceCustomerAccountNumber") if o.get(f)
    )  # fmt: skip
    return Documents(
        ref=ref,
        invoice_account=str(trans[0]["AccountNum"]) if trans else None,
        invoice_remaining=remaining,
        invoice_order=str(invoices[0].get("SalesOrderNumber") or "") or None if invoices else None,
        order_accounts=accounts,
    )


@dataclass(frozen=True)
class OrderUpdate:
    """One order's payment status, caused by one PayTrace fact."""

    event_key: str
    tx: Transaction
    company: str
    order: str
    reason: str = ""


class OrderStatusWriter:
    """PATCHes sales orders: hold/release through the template, plus configured extension fields.

    A PATCH sets the same values however often it is sent, so an in-doubt update is simply sent
    again; the intent keeps it to one per fact and the ledger says what was written.
    """

    def __init__(
        self,
        d365: DynamicsClient,
        intents: IntentStore,
        ledger: Ledger,
        template: CompiledTemplate | None,
        settings: OrderToCashSettings,
        cursors: Cursors | None = None,
    ) -> None:
        self.d365 = d365
        self.bulk = intents
        self.ledger = ledger
        self.template = template
        self.settings = settings
        self.cursors = cursors

    def _newest(self, update: OrderUpdate) -> bool:
        """Whether this fact is at least as recent as the last one that set the order's status.

        Facts of one transaction come in order (one partition), but a refund is a transaction
        of its own and can overtake its sale; without this, the older fact's status would win.
        """
        if self.cursors is None:
            return True
        name = f"order-status:{update.company}:{update.order}"
        stamp = update.tx.occurred_at.astimezone(UTC).isoformat()
        while True:
            current = self.cursors.get(name)
            if current is not None and stamp <= current:
                return stamp == current
            if self.cursors.advance_if(name, current or "", stamp, missing=""):
                return True

    def body(self, update: OrderUpdate) -> dict[str, Any]:
        """The PATCH body (key fields left out): empty when nothing is configured to change."""
        out: dict[str, Any] = {}
        tx = update.tx
        if self.settings.order_hold and self.template is not None and tx.kind in _HOLD_KINDS:
            result = self.template.apply(
                {**tx.model_dump(mode="json"), "order_id": update.order},
                context={"company": update.company},
            )
            if not result.ok:
                raise DataError(f"template {self.template.ref} cannot map {tx.key}",
                                fields=dict(result.errors))  # fmt: skip
            out.update(result.record)
        if self.settings.order_status_field:
            out[self.settings.order_status_field] = STATUS_WORDS[tx.kind]
        if self.settings.order_reason_field and update.reason:
            out[self.settings.order_reason_field] = update.reason[:250]
        for key in ("dataAreaId", "SalesOrderNumber"):
            out.pop(key, None)
        return out

    async def write(self, updates: Sequence[OrderUpdate]) -> list[Outcome]:
        outcomes: list[Outcome] = [Outcome.done("no order status configured")] * len(updates)
        planned: list[tuple[int, OrderUpdate, dict[str, Any]]] = []
        for i, update in enumerate(updates):
            if not self._newest(update):
                outcomes[i] = Outcome.done("older than the status the order shows: left")
                continue
            try:
                body = self.body(update)
            except PayBridgeError as exc:
                outcomes[i] = outcome_for(exc)
                continue
            if body:
                planned.append((i, update, body))
        if not planned:
            return outcomes
        intents = self.bulk.plan_many(
            ORDER_STEP, "d365",
            [(u.event_key, f"{u.company}/{u.order}", {"body": b, "company": u.company,
              "order": u.order, "reason": u.reason}) for _, u, b in planned],
        )  # fmt: skip
        pending = [(i, intents[u.event_key]) for i, u, _ in planned]
        for i, intent in pending:
            if intent.status == DONE:
                outcomes[i] = Outcome.done("order already updated")
        todo = [(i, intent) for i, intent in pending if intent.status != DONE]
        claims = self.bulk.claim_many([intent for _, intent in todo])
        send = [(i, mine) for (i, _), mine in zip(todo, claims, strict=True) if mine is not None]
        for (i, _), mine in zip(todo, claims, strict=True):
            if mine is None:
                outcomes[i] = Outcome.retry("another worker is updating this order", 1.0)
        for (i, _), outcome in zip(send, await self._send([intent for _, intent in send]),
                                   strict=True):  # fmt: skip
            outcomes[i] = outcome
        return outcomes

    async def _send(self, intents: Sequence[Intent]) -> list[Outcome]:
        if not intents:
            return []
        ops = [
            [BatchOperation(
                method="PATCH", entity_set=ORDERS,
                key={"dataAreaId": it.detail["company"], "SalesOrderNumber": it.detail["order"]},
                body=it.detail["body"], reference=it.reference,
            )]
            for it in intents
        ]  # fmt: skip
        results = await self.d365.batch(ops)
        outcomes: list[Outcome] = []
        changes: list[tuple[Intent, str, dict[str, Any]]] = []
        with self.ledger.engine.begin() as conn:
            for intent, result in zip(intents, results, strict=True):
                if result.ok:
                    # A PATCH is idempotent; the lineage row is written by whoever holds it.
                    (mine,) = self.bulk.set_many([(intent, DONE, {})], conn)
                    if mine:
                        self.ledger.record(
                            intent.event_key, ORDER_STEP, system="d365", entity=ORDERS,
                            entity_id=intent.reference, status="updated", attempts=intent.attempts,
                            template_version=self.template.ref if self.template else None,
                            detail={"fields": intent.detail["body"],
                                    "reason": intent.detail["reason"]},
                            conn=conn,
                        )  # fmt: skip
                    outcomes.append(Outcome.done("order updated"))
                    continue
                error = result.error or DataError("order update failed without an error body")
                if isinstance(error, DEFINITE_REFUSALS):
                    changes.append((intent, PLANNED, {}))
                outcomes.append(outcome_for(error))
            self.bulk.set_many(changes, conn)
        return outcomes
