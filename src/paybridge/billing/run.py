"""The charge run: every due subscription period charged exactly once through sale/by_customer.

Each period is a charge intent (``sub:<id>:<period>``, ``paytrace.sale``) made through
``charging.charge_once``. A subscription has no D365 document, so no template maps it: the
request is the profile, the amount and the period key as the whole ``description`` (the
reference a lost reply is looked up by). A decline is one try of the period, which dunning
retries under the same key.
"""

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
from paybridge.charging.charge_once import DECLINED, ChargeOnce, charge_body
from paybridge.clock import Clock
from paybridge.connectors.paytrace import PayTraceClient, TransactionRecord
from paybridge.connectors.paytrace.accounts import MerchantAccount, PayTraceAccounts
from paybridge.connectors.paytrace.poller import TransactionChange, change_kinds
from paybridge.errors import DataError, FatalError, InDoubtError, RetryableError
from paybridge.keys import BILLING_CHARGE_STEP as CHARGE_STEP
from paybridge.model import Transaction, TransactionKind, TransactionStatus
from paybridge.o2c.facts import envelope_for, translate_change
from paybridge.runtime.intents import PLANNED, IntentStore
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
        accounts: PayTraceAccounts | None = None,
    ) -> None:
        self.store = store
        # Every merchant account: a subscription of company X is charged through X's account.
        self.accounts = accounts
        self._senders: dict[str, ChargeOnce] = {}
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
        # A decline is one try of a period (dunning retries it under the same key).
        self.once = ChargeOnce(
            paytrace, intents, clock, currency=currency, declines_final=False,
            grace=timedelta(seconds=settings.in_doubt_grace_seconds),
        )  # fmt: skip

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

    def _merchant(self, sub: Subscription) -> MerchantAccount | None:
        """The merchant account of the subscription's company (None: one account only)."""
        if self.accounts is None or not self.accounts.several:
            return None
        return self.accounts.for_company(sub.company)

    def _sender(self, merchant: MerchantAccount | None) -> ChargeOnce:
        if merchant is None:
            return self.once
        if merchant.name not in self._senders:
            self._senders[merchant.name] = ChargeOnce(
                merchant.client, self.intents, self.clock, currency=merchant.currency,
                declines_final=False, grace=self.once.grace,
            )  # fmt: skip
        return self._senders[merchant.name]

    async def attempt(self, charge: Charge, result: RunResult) -> None:
        """Charge one period through its intent; a lost answer is looked up, never resent."""
        sub = self.store.require(charge.subscription_id)
        try:
            merchant = self._merchant(sub)
        except DataError as exc:  # a setting to fix, not the customer's refusal: no dunning
            result.deferred += 1
            self._note(charge, f"not charged: {exc.message}")
            return
        once = self._sender(merchant)
        profile = sub.customer_id
        if merchant is not None and self.accounts is not None:
            profile = self.accounts.profile_of(sub.customer_id, merchant) or ""
        try:
            if not profile:
                raise DataError(
                    f"customer {sub.customer_id} is no profile of {sub.company}'s PayTrace "
                    f"account ({merchant.label if merchant else 'default'})",
                    fields={"customer_id": sub.customer_id},
                )
            body = charge_body(
                customer_id=profile, amount=charge.amount.amount, reference=charge.key
            )
            intent = once.plan(
                charge.key, CHARGE_STEP, charge.key, body,
                {"customer_id": sub.customer_id, "amount": charge.amount.amount,
                 "currency": charge.amount.currency},
            )  # fmt: skip
            if intent.status == PLANNED:
                await once.ready()  # the grace runs from after the login
                with self.store.engine.begin() as conn:
                    self.store.update_charge(conn, charge.key, sent_at=self.clock.now())
            stored = self.store.charge(charge.key)
            assert stored is not None
            charged = await once.execute(intent, sent_at=stored.sent_at or stored.created_at)
        except (DataError, FatalError) as exc:
            self._refused(charge, exc.message, None, result)
        except InDoubtError as exc:
            result.in_doubt += 1
            self._note(charge, f"in doubt, to be looked up by its reference: {exc.message}")
        except RetryableError as exc:
            result.deferred += 1
            log.info("charge %s deferred: %s", charge.key, exc)
        else:
            if charged.outcome == DECLINED:
                reason = str(charged.detail.get("reason") or "declined")
                txn = charged.detail.get("transaction_id")
                self._refused(charge, reason, None if txn is None else str(txn), result)
            else:
                self._approved(charge, charged.detail, merchant.name if merchant else "")
                result.approved += 1

    def _refused(self, charge: Charge, reason: str, txn: str | None, result: RunResult) -> None:
        if self.dunning.refused(charge, reason, txn):
            result.exhausted += 1
        else:
            result.refused += 1

    def _note(self, charge: Charge, reason: str) -> None:
        with self.store.engine.begin() as conn:
            self.store.update_charge(conn, charge.key, last_reason=reason)

    def _approved(self, charge: Charge, detail: dict[str, Any], account: str = "") -> None:
        """Settle the period and hand the payment to order-to-cash, in one transaction."""
        sub = self.store.require(charge.subscription_id)
        tx = Transaction(
            transaction_id=str(detail["transaction_id"]), kind=TransactionKind.SALE,
            status=TransactionStatus.APPROVED, amount=charge.amount,
            occurred_at=datetime.fromisoformat(str(detail["occurred_at"])),
            customer_id=sub.customer_id, description=charge.key,
            approval_code=str(detail.get("approval_code") or ""),
            masked_card=detail.get("masked_card") or None, discretionary_data=_links(sub, charge),
            account=account,
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
        merchant = self._merchant(sub)
        client = merchant.client if merchant else self.paytrace
        profile = sub.customer_id
        if merchant is not None and self.accounts is not None:
            profile = self.accounts.profile_of(sub.customer_id, merchant) or ""
        if not profile:
            return 0
        records = await client.export_approved_recurring(profile)
        linked = 0
        for record in records:
            named = subscription_of(record.description) or subscription_of(record.invoice_id)
            if named == sub.id and self.link_record(sub, record, merchant):
                linked += 1
        return linked

    def link_record(
        self, sub: Subscription, record: TransactionRecord, merchant: MerchantAccount | None = None
    ) -> bool:
        """Record one PayTrace-made charge as its period's payment; False when already linked."""
        kinds = [k for k in change_kinds(record) if k in ("sale", "authorization")]
        if not kinds:
            return False
        change = TransactionChange(
            key=f"paytrace:{record.transaction_id}:{kinds[0]}",
            transaction_id=record.transaction_id, kind=kinds[0], record=record,
        )  # fmt: skip
        tx = translate_change(
            change,
            currency=merchant.currency if merchant else self.currency,
            timezone=merchant.timezone if merchant else self.paytrace_timezone,
        )
        if merchant is not None and merchant.name:
            tx = tx.model_copy(update={"account": merchant.name})
        period = tx.occurred_at.astimezone(self._zone).date()
        with self.store.engine.begin() as conn:
            charge = self.store.link_charge(conn, sub, period, tx.transaction_id, tx.amount.amount)
            if charge is None:
                return False
            self._paid(conn, sub, charge, tx)
        return True
