"""Dunning as data: refused charges retried on a schedule, alerts, and the D365 hold and its release."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from paybridge.billing.settings import BillingSettings, DunningSettings
from paybridge.billing.store import SubscriptionStore
from paybridge.billing.subscriptions import (
    Charge,
    ChargeStatus,
    Subscription,
    SubscriptionStatus,
)
from paybridge.clock import Clock
from paybridge.connectors.dynamics import DynamicsClient
from paybridge.errors import PayBridgeError
from paybridge.keys import ALERT_TOPIC, HOLD_STEP, RELEASE_STEP
from paybridge.runtime.alerts import AlertNotice
from paybridge.runtime.envelope import Envelope
from paybridge.runtime.intents import IntentStore, Resolution
from paybridge.runtime.ledger import Ledger
from paybridge.runtime.queue import SqlQueue
from paybridge.security.cardguard import redact

log = logging.getLogger("paybridge.billing.dunning")

CUSTOMERS = "CustomersV3"


def next_attempt(
    refusals: int, first_refused_at: datetime, settings: DunningSettings
) -> datetime | None:
    """When to try a period again after ``refusals`` refusals; None once dunning is exhausted."""
    if refusals > len(settings.retry_days):
        return None
    return first_refused_at + timedelta(days=settings.retry_days[refusals - 1])


def alert_envelope(kind: str, key: str, subscription_id: int, **facts: Any) -> Envelope:
    """A ``billing.alert`` for the alerting channels; one per (charge, kind, attempt)."""
    attempt = facts.get("attempt", 0)
    payload = redact({"kind": kind, "charge": key, "subscription_id": subscription_id, **facts})
    return Envelope(
        topic=ALERT_TOPIC,
        key=f"{ALERT_TOPIC}:{key}:{kind}:{attempt}",
        partition_key=f"sub:{subscription_id}",
        payload=payload,
        source="billing",
    )


_SEVERITY = {"dunning_exhausted": "warning", "on_hold": "warning"}


def describe_alert(payload: dict[str, Any]) -> AlertNotice:
    """A ``billing.alert`` as the alerting desk sends it (rules of kind ``event``, the dunning kinds)."""
    p = payload
    kind = str(p.get("kind"))
    summary = (
        f"billing alert {kind}: subscription {p.get('subscription_id')}, charge {p.get('charge')}, "
        f"customer {p.get('customer_id')} (D365 {p.get('d365')}): {p.get('reason') or ''}"
    )
    facts = {k: str(v) for k, v in p.items() if k not in ("kind", "reason") and v not in (None, "")}
    return AlertNotice(
        kind=kind, subject=f"{p.get('charge')} {kind} {p.get('attempt', 0)}", summary=summary,
        severity=_SEVERITY.get(kind, "info"), facts=facts,
    )  # fmt: skip


class CustomerHold:
    """Puts a D365 customer on hold and back, each change once through an intent."""

    def __init__(self, dynamics: DynamicsClient, intents: IntentStore, ledger: Ledger) -> None:
        self.d365 = dynamics
        self.intents = intents
        self.ledger = ledger

    async def set(
        self, event_key: str, step: str, company: str, account: str, value: str
    ) -> Resolution:
        """Set ``OnHoldStatus`` to ``value``; an ambiguous PATCH is resolved by reading it back."""
        key = {"dataAreaId": company, "CustomerAccount": account}
        intent = self.intents.plan(
            event_key, step, "d365", f"{company}/{account}",
            {"company": company, "account": account, "OnHoldStatus": value},
        )  # fmt: skip

        async def send() -> dict[str, Any]:
            await self.d365.update(
                CUSTOMERS, key, {"OnHoldStatus": value}, cross_company=True, reference=account
            )
            return {"OnHoldStatus": value}

        async def find() -> dict[str, Any] | None:
            # Setting a status twice changes nothing, so a confirmed other value may be re-sent.
            row = await self.d365.get(CUSTOMERS, key, select=["OnHoldStatus"], cross_company=True)
            return {"OnHoldStatus": value} if row and row.get("OnHoldStatus") == value else None

        resolution = await self.intents.execute_once(intent, send, find)
        if resolution.how != "already":
            self.ledger.record(
                event_key, step, system="d365", entity=CUSTOMERS, entity_id=f"{company}/{account}",
                status="on_hold" if step == HOLD_STEP else "released", detail={"OnHoldStatus": value},
            )  # fmt: skip
        return resolution


class Dunning:
    """What refusals and successes do to a subscription: retries, alerts, past due, hold, release."""

    def __init__(
        self,
        store: SubscriptionStore,
        queue: SqlQueue,
        hold: CustomerHold,
        settings: BillingSettings,
        clock: Clock,
    ) -> None:
        self.store = store
        self.queue = queue
        self.hold = hold
        self.settings = settings.dunning
        self.clock = clock

    def refused(self, charge: Charge, reason: str, txn: str | None) -> bool:
        """Count a refusal and schedule the next try; True when dunning is exhausted."""
        sub = self.store.require(charge.subscription_id)
        refusals = charge.attempts + 1
        first = charge.first_failed_at or self.clock.now()
        retry_at = next_attempt(refusals, first, self.settings)
        values: dict[str, Any] = {
            "attempts": refusals,
            "first_failed_at": first,
            "last_reason": reason,
        }
        sub_values: dict[str, Any] = {"last_reason": reason}
        if retry_at is not None:
            values |= {"status": ChargeStatus.RETRYING.value, "next_attempt_at": retry_at}
            alert = self.alert("declined", sub, charge, refusals, reason, retry_at)
        else:
            values["status"] = ChargeStatus.FAILED.value
            alert = self.alert("dunning_exhausted", sub, charge, refusals, reason)
            sub_values["status"] = SubscriptionStatus.PAST_DUE.value
            if sub.hold not in ("holding", "held"):
                sub_values |= {"hold": "holding", "hold_key": charge.key}
        with self.store.engine.begin() as conn:
            if not self.store.refuse_charge(conn, charge, **values):
                return False  # another worker counted this refusal already
            self.store.update(conn, sub.id, **sub_values)
            self.queue.publish(conn, [alert])
            self.hold.ledger.record(
                charge.key, "billing.charge", system="paytrace", entity="transaction",
                entity_id=txn or charge.key, status="refused", attempts=refusals, conn=conn,
                detail={"reason": reason, "retry_at": retry_at.isoformat() if retry_at else None},
            )  # fmt: skip
        return retry_at is None

    def recovery(self, sub: Subscription, key: str) -> dict[str, Any]:
        """The subscription changes a success makes: active again, and any hold to be released."""
        changes: dict[str, Any] = {}
        if sub.status is SubscriptionStatus.PAST_DUE:
            changes["status"] = SubscriptionStatus.ACTIVE.value
        # A hold still pending may be in flight on another worker: release it all the same.
        if sub.hold in ("holding", "held"):
            changes |= {"hold": "releasing", "hold_key": key}
        return changes

    def alert(
        self, kind: str, sub: Subscription, charge: Charge, attempt: int, reason: str,
        retry_at: datetime | None = None,
    ) -> Envelope:  # fmt: skip
        return alert_envelope(
            kind, charge.key, sub.id, attempt=attempt, reason=reason,
            customer_id=sub.customer_id, d365=sub.d365, period=charge.period.isoformat(),
            amount=str(charge.amount.amount), currency=charge.amount.currency,
            next_attempt_at=retry_at.isoformat() if retry_at else None,
        )  # fmt: skip

    async def settle_holds(self) -> tuple[int, int]:
        """Carry out pending holds and releases; one that cannot be done now waits for the next run."""
        held = released = 0
        for sub in self.store.with_hold_work():
            try:
                done = await self._settle(sub)
            except PayBridgeError as exc:
                log.warning("D365 hold change of %s waits: %s", sub.d365, exc)
                continue
            held += done == "on_hold"
            released += done == "released"
        return held, released

    async def _settle(self, sub: Subscription) -> str:
        assert sub.hold_key is not None
        if sub.hold == "holding":
            value, step, kind = self.settings.hold_status, HOLD_STEP, "on_hold"
            changes: dict[str, Any] = {"hold": "held"}
        else:
            value, step, kind = self.settings.release_status, RELEASE_STEP, "released"
            changes = {"hold": "none", "hold_key": None}
        if kind == "on_hold" or not self.store.others_on_hold(sub):
            await self.hold.set(sub.hold_key, step, sub.company, sub.account, value)
        alert = alert_envelope(
            kind, sub.hold_key, sub.id, customer_id=sub.customer_id, d365=sub.d365,
            reason=f"D365 customer {sub.d365} OnHoldStatus {value}",
        )  # fmt: skip
        with self.store.engine.begin() as conn:
            if self.store.set_hold(conn, sub, **changes):
                self.queue.publish(conn, [alert])
        return kind
