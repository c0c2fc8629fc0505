"""The charge run: every due subscription period charged exactly once through sale/by_customer."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from paybridge.billing.dunning import CustomerHold, Dunning
from paybridge.billing.settings import BillingSettings
from paybridge.billing.store import SubscriptionStore
from paybridge.billing.subscriptions import (
    Charge,
    Subscription,
    SubscriptionStatus,
    subscription_of,
)
from paybridge.clock import Clock
from paybridge.connectors.paytrace import CustomerSaleRequest, PayTraceClient, TransactionRecord
from paybridge.connectors.paytrace.poller import TransactionChange, change_kinds
from paybridge.errors import DataError, DeclinedError, FatalError, InDoubtError, RetryableError
from paybridge.keys import BILLING_CHARGE_STEP as CHARGE_STEP
from paybridge.model import Transaction, TransactionKind, TransactionStatus
from paybridge.o2c.facts import envelope_for, translate_change
from paybridge.runtime.intents import PLANNED, Intent, IntentStore
from paybridge.runtime.ledger import Ledger
from paybridge.runtime.queue import SqlQueue

if TYPE_CHECKING:
    from paybridge.connectors.dynamics import DynamicsClient

log = logging.getLogger(__name__)

JOB_NAME = "billing.charge"


class RunResult(BaseModel):
    """What one charge run did (the scheduler keeps its text as the run's outcome)."""

    opened: int = 0
    approved: int = 0
    refused: int = 0
    exhausted: int = 0
    in_doubt: int = 0
    deferred: int = 0
    linked: int = 0
    held: int = 0
    released: int = 0
    completed: int = 0

    def __str__(self) -> str:
        return ", ".join(f"{value} {name}" for name, value in self.model_dump().items() if value)


def _links(sub: Subscription, charge: Charge) -> dict[str, str]:
    """What order-to-cash may carry to D365 about the subscription behind a payment."""
    links = {"subscription_id": str(sub.id), "period": charge.period.isoformat()}
    if sub.d365_reference:
        links["d365_reference"] = sub.d365_reference
    return links


class BillingRun:
    """One pass: settle holds, open due periods, charge what is due, dun what is refused."""

    def __init__(
        self,
        store: SubscriptionStore,
        paytrace: PayTraceClient,
        dynamics: DynamicsClient,
        queue: SqlQueue,
        intents: IntentStore,
        ledger: Ledger,
        settings: BillingSettings,
        *,
        currency: str,
        paytrace_timezone: str,
        clock: Clock,
    ) -> None:
        self.store = store
        self.paytrace = paytrace
        self.queue = queue
        self.intents = intents
        self.ledger = ledger
        self.settings = settings
        self.currency = currency
        self.paytrace_timezone = paytrace_timezone
        self.clock = clock
        self.dunning = Dunning(
            store, queue, CustomerHold(dynamics, intents, ledger), settings, clock
        )
        self._zone = ZoneInfo(settings.timezone)

    async def run(self) -> str:
        result = RunResult()
        await self._settle_holds(result)
        today = self.clock.now().astimezone(self._zone).date()
        for sub in self.store.billable():
            if sub.engine == "paytrace":
                result.linked += await self.link_recurring(sub)
            else:
                result.opened += len(self.store.open_periods(sub, today))
        for charge in self.store.due_charges(self.clock.now()):
            await self.attempt(charge, result)
        await self._settle_holds(result)
        result.completed = self._complete()
        return str(result) or "nothing due"

    async def _settle_holds(self, result: RunResult) -> None:
        held, released = await self.dunning.settle_holds()
        result.held += held
        result.released += released

    def _complete(self) -> int:
        """Active subscriptions whose schedule has ended and whose charges are all settled."""
        done = 0
        for sub in self.store.billable():
            ended = sub.schedule.period(sub.next_index) is None
            active = sub.status is SubscriptionStatus.ACTIVE and sub.engine == "paybridge"
            if ended and active and not self.store.has_open_charges(sub.id):
                with self.store.engine.begin() as conn:
                    self.store.update(conn, sub.id, status=SubscriptionStatus.COMPLETED.value)
                done += 1
        return done

    # -- one charge -------------------------------------------------------------------------

    async def attempt(self, charge: Charge, result: RunResult) -> None:
        """Charge one period through its intent; a lost answer is looked up, never resent."""
        sub = self.store.require(charge.subscription_id)
        intent = self.intents.plan(
            charge.key, CHARGE_STEP, "paytrace", charge.key,
            {"customer_id": sub.customer_id, "amount": charge.amount.amount,
             "currency": charge.amount.currency},
        )  # fmt: skip
        if intent.status == PLANNED:
            with self.store.engine.begin() as conn:
                self.store.update_charge(conn, charge.key, sent_at=self.clock.now())
        try:
            resolution = await self.intents.execute_once(
                intent, lambda: self._send(intent), lambda: self._find(charge.key)
            )
        except DeclinedError as exc:
            self._refused(charge, exc.reason, exc.transaction_id, result)
        except (DataError, FatalError) as exc:
            self._refused(charge, exc.message, None, result)
        except InDoubtError as exc:
            result.in_doubt += 1
            self._note(charge, f"in doubt, to be looked up by its reference: {exc.message}")
        except RetryableError as exc:
            result.deferred += 1
            log.info("charge %s deferred: %s", charge.key, exc)
        else:
            self._approved(charge, resolution.detail)
            result.approved += 1

    def _refused(self, charge: Charge, reason: str, txn: str | None, result: RunResult) -> None:
        if self.dunning.refused(charge, reason, txn):
            result.exhausted += 1
        else:
            result.refused += 1

    async def _send(self, intent: Intent) -> dict[str, Any]:
        d = intent.detail
        if d["currency"] != self.currency:
            raise DataError(
                f"a {d['currency']} subscription cannot be charged on this {self.currency} "
                "PayTrace account", fields={"currency": d["currency"]},
            )  # fmt: skip
        reply = await self.paytrace.sale_by_customer(
            CustomerSaleRequest(
                customer_id=d["customer_id"], amount=d["amount"], description=intent.reference
            )
        )
        return {
            "transaction_id": str(reply.transaction_id), "approval_code": reply.approval_code,
            "masked_card": reply.masked_card_number,
            "occurred_at": self.clock.now().replace(microsecond=0).isoformat(),
        }  # fmt: skip

    async def _find(self, key: str) -> dict[str, Any] | None:
        """The approved charge PayTrace holds for ``key``; None only for an absence past the grace."""
        charge = self.store.charge(key)
        assert charge is not None
        sent = charge.sent_at or charge.created_at
        try:
            records = await self.paytrace.find_transactions(key, sent - timedelta(minutes=5))
        except (DataError, FatalError) as exc:
            # A failed lookup says nothing about the charge: never count it as a refusal.
            raise InDoubtError(f"cannot look the charge up: {exc}", reference=key) from exc
        # A declined attempt of this period carries the same key, and moved no money.
        approved = [r for r in records if "decline" not in change_kinds(r)]
        if len(approved) > 1:
            log.error("%d approved PayTrace transactions carry the key %s", len(approved), key)
        if approved:
            return self._detail(approved[0])
        grace = timedelta(seconds=self.settings.in_doubt_grace_seconds)
        if self.clock.now() - sent < grace:
            raise InDoubtError("PayTrace shows no such charge yet", reference=key)
        return None

    def _detail(self, record: TransactionRecord) -> dict[str, Any]:
        return {
            "transaction_id": str(record.transaction_id), "approval_code": record.approval_code,
            "masked_card": record.credit_card.masked_number if record.credit_card else None,
            "occurred_at": record.created_at_utc(self.paytrace.merchant_tz).isoformat(),
        }  # fmt: skip

    def _note(self, charge: Charge, reason: str) -> None:
        with self.store.engine.begin() as conn:
            self.store.update_charge(conn, charge.key, last_reason=reason)

    def _approved(self, charge: Charge, detail: dict[str, Any]) -> None:
        """Settle the period and hand the payment to order-to-cash, in one transaction."""
        sub = self.store.require(charge.subscription_id)
        tx = Transaction(
            transaction_id=str(detail["transaction_id"]), kind=TransactionKind.SALE,
            status=TransactionStatus.APPROVED, amount=charge.amount,
            occurred_at=datetime.fromisoformat(str(detail["occurred_at"])),
            customer_id=sub.customer_id, description=charge.key,
            approval_code=str(detail.get("approval_code") or ""),
            masked_card=detail.get("masked_card") or None, discretionary_data=_links(sub, charge),
        )  # fmt: skip
        with self.store.engine.begin() as conn:
            if self.store.approve_charge(conn, charge.key, tx.transaction_id):
                self._paid(conn, sub, charge, tx)

    def _paid(self, conn: Any, sub: Subscription, charge: Charge, tx: Transaction) -> None:
        envelopes = [envelope_for(tx, "subscription")]
        recovery = self.dunning.recovery(sub, charge.key)
        if recovery:
            reason = f"PayTrace transaction {tx.transaction_id} approved"
            envelopes.append(self.dunning.alert("recovered", sub, charge, 0, reason))
        self.queue.publish(conn, envelopes)
        self.store.update(conn, sub.id, last_reason=None, **recovery)
        self.ledger.record(
            charge.key, "billing.charge", system="paytrace", entity="transaction",
            entity_id=tx.transaction_id, status="approved", conn=conn,
            detail={"subscription_id": sub.id, "period": charge.period.isoformat()},
        )  # fmt: skip

    # -- PayTrace's own recurring engine ----------------------------------------------------

    async def link_recurring(self, sub: Subscription) -> int:
        """Link the approved charges PayTrace's recurring engine made for ``sub`` (by reference)."""
        records = await self.paytrace.export_approved_recurring(sub.customer_id)
        linked = 0
        for record in records:
            named = subscription_of(record.description) or subscription_of(record.invoice_id)
            if named == sub.id and self.link_record(sub, record):
                linked += 1
        return linked

    def link_record(self, sub: Subscription, record: TransactionRecord) -> bool:
        """Record one PayTrace-made charge as its period's payment; False when already linked."""
        kinds = [k for k in change_kinds(record) if k in ("sale", "authorization")]
        if not kinds:
            return False
        change = TransactionChange(
            key=f"paytrace:{record.transaction_id}:{kinds[0]}",
            transaction_id=record.transaction_id, kind=kinds[0], record=record,
        )  # fmt: skip
        tx = translate_change(change, currency=self.currency, timezone=self.paytrace_timezone)
        period = tx.occurred_at.astimezone(self._zone).date()
        with self.store.engine.begin() as conn:
            charge = self.store.link_charge(conn, sub, period, tx.transaction_id, tx.amount.amount)
            if charge is None:
                return False
            self._paid(conn, sub, charge, tx)
        return True
