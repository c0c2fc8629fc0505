"""The subscriptions and per-period charges kept in PayBridge's store."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from paybridge.billing.subscriptions import (
    BILLABLE,
    OPEN_CHARGES,
    Charge,
    ChargeStatus,
    NewSubscription,
    Schedule,
    Subscription,
    SubscriptionStatus,
)
from paybridge.clock import Clock
from paybridge.errors import DataError
from paybridge.keys import BILLING_CHARGE_STEP, CUSTOMER_XREF
from paybridge.model import Money
from paybridge.model.money import currency_exponent
from paybridge.runtime.intents import SENT
from paybridge.runtime.ledger import Xref
from paybridge.store.schema import intents
from paybridge.store.schema_billing import billing_charges, subscriptions


def _subscription(row: RowMapping) -> Subscription:
    return Subscription(
        id=row["id"], customer_id=row["customer_id"],
        amount=Money.of(row["amount"], row["currency"]),
        schedule=Schedule(frequency=row["frequency"], start=row["start_date"],
                          count=row["total_count"], end=row["end_date"]),
        company=row["company"], account=row["account"], d365_reference=row["d365_reference"],
        engine=row["engine"], status=row["status"], next_index=row["next_index"],
        last_reason=row["last_reason"], hold=row["hold"], hold_key=row["hold_key"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )  # fmt: skip


def _charge(row: Mapping[str, Any] | RowMapping) -> Charge:
    values = {k: row.get(k) for k in Charge.model_fields if k != "amount"}
    return Charge(amount=Money.of(row["amount"], row["currency"]), **values)


def _checked_amount(amount: Money) -> None:
    exponent = amount.amount.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) else 0
    if amount.amount <= 0 or places > currency_exponent(amount.currency):
        raise DataError(
            "bad amount",
            fields={"amount": f"must be positive with at most "
                    f"{currency_exponent(amount.currency)} decimals for {amount.currency}"},
        )  # fmt: skip


class SubscriptionStore:
    """Subscriptions and their charges in PayBridge's store."""

    def __init__(self, engine: Engine, clock: Clock, xref: Xref | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.xref = xref or Xref(engine, clock)

    def add(self, new: NewSubscription) -> Subscription:
        _checked_amount(new.amount)
        target = new.d365 or self.xref.get(CUSTOMER_XREF, new.customer_id)
        if target is None:
            raise DataError(
                f"PayTrace customer {new.customer_id} has no linked D365 customer",
                fields={"d365": "give company/account, or link the customer with `xref link`"},
            )
        company, _, account = target.partition("/")
        if not company or not account:
            raise DataError("bad D365 customer", fields={"d365": "expected company/account"})
        now = self.clock.now()
        s = new.schedule
        with self.engine.begin() as conn:
            new_id = conn.execute(
                insert(subscriptions).values(
                    customer_id=new.customer_id, amount=str(new.amount.amount),
                    currency=new.amount.currency, frequency=s.frequency.value,
                    start_date=s.start, total_count=s.count, end_date=s.end, company=company,
                    account=account, d365_reference=new.d365_reference, engine=new.engine,
                    status=SubscriptionStatus.ACTIVE.value, next_index=0, hold="none",
                    created_at=now, updated_at=now,
                ).returning(subscriptions.c.id)
            ).scalar_one()  # fmt: skip
        if self.xref.get(CUSTOMER_XREF, new.customer_id) is None:
            # Order-to-cash finds the D365 customer of a payment through this link.
            self.xref.link(CUSTOMER_XREF, new.customer_id, f"{company}/{account}")
        return self.require(int(new_id))

    def get(self, subscription_id: int) -> Subscription | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(subscriptions).where(subscriptions.c.id == subscription_id))
                .mappings()
                .first()
            )
        return _subscription(row) if row is not None else None

    def require(self, subscription_id: int) -> Subscription:
        found = self.get(subscription_id)
        if found is None:
            raise DataError(
                f"no subscription {subscription_id}", fields={"id": "no such subscription"}
            )
        return found

    def all(self, status: SubscriptionStatus | None = None) -> list[Subscription]:
        query = select(subscriptions).order_by(subscriptions.c.id)
        if status is not None:
            query = query.where(subscriptions.c.status == status.value)
        with self.engine.connect() as conn:
            return [_subscription(r) for r in conn.execute(query).mappings()]

    def billable(self) -> list[Subscription]:
        query = select(subscriptions).where(subscriptions.c.status.in_(BILLABLE))
        with self.engine.connect() as conn:
            return [
                _subscription(r)
                for r in conn.execute(query.order_by(subscriptions.c.id)).mappings()
            ]

    def with_hold_work(self) -> list[Subscription]:
        query = select(subscriptions).where(subscriptions.c.hold.in_(("holding", "releasing")))
        with self.engine.connect() as conn:
            return [_subscription(r) for r in conn.execute(query).mappings()]

    def others_on_hold(self, sub: Subscription) -> bool:
        """Whether another subscription of the same D365 customer still keeps it on hold."""
        query = select(subscriptions.c.id).where(
            subscriptions.c.company == sub.company,
            subscriptions.c.account == sub.account,
            subscriptions.c.id != sub.id,
            subscriptions.c.hold.in_(("holding", "held")),
        )
        with self.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def set_hold(self, conn: Connection, sub: Subscription, **values: Any) -> bool:
        """Change the hold state only if nobody moved it since ``sub`` was read."""
        moved = conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == sub.id, subscriptions.c.hold == sub.hold)
            .where(subscriptions.c.hold_key == sub.hold_key)
            .values(updated_at=self.clock.now(), **values)
        )
        return moved.rowcount == 1

    def update(self, conn: Connection, subscription_id: int, **values: Any) -> None:
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == subscription_id)
            .values(updated_at=self.clock.now(), **values)
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def pause(self, subscription_id: int) -> Subscription:
        sub = self._changing(subscription_id, BILLABLE, "pause")
        with self.engine.begin() as conn:
            self.update(conn, sub.id, status=SubscriptionStatus.PAUSED.value)
        return self.require(sub.id)

    def resume(self, subscription_id: int, today: date) -> Subscription:
        """Periods that fell in the pause are skipped; billing restarts with the one due today."""
        sub = self._changing(subscription_id, (SubscriptionStatus.PAUSED.value,), "resume")
        held = sub.hold in ("holding", "held")
        status = SubscriptionStatus.PAST_DUE if held else SubscriptionStatus.ACTIVE
        with self.engine.begin() as conn:
            self.update(
                conn, sub.id, status=status.value,
                next_index=sub.schedule.first_on_or_after(today, sub.next_index),
            )  # fmt: skip
        return self.require(sub.id)

    def cancel(self, subscription_id: int) -> Subscription:
        sub = self._changing(
            subscription_id, (*BILLABLE, SubscriptionStatus.PAUSED.value), "cancel"
        )
        with self.engine.begin() as conn:
            self.update(conn, sub.id, status=SubscriptionStatus.CANCELLED.value)
            conn.execute(
                update(billing_charges)
                .where(billing_charges.c.subscription_id == sub.id)
                .where(billing_charges.c.status.in_(OPEN_CHARGES))
                .values(status=ChargeStatus.CANCELLED.value, updated_at=self.clock.now())
            )
        return self.require(sub.id)

    def change_amount(self, subscription_id: int, amount: Money) -> Subscription:
        """A plan change: periods not yet opened bill the new amount."""
        sub = self.require(subscription_id)
        _checked_amount(amount)
        if amount.currency != sub.amount.currency:
            raise DataError(
                "currency change", fields={"currency": "a subscription keeps its currency"}
            )
        with self.engine.begin() as conn:
            self.update(conn, sub.id, amount=str(amount.amount))
        return self.require(sub.id)

    def _changing(self, subscription_id: int, allowed: tuple[str, ...], verb: str) -> Subscription:
        sub = self.require(subscription_id)
        if sub.status.value not in allowed:
            raise DataError(
                f"cannot {verb} subscription {sub.id}: it is {sub.status.value}",
                fields={"id": f"status {sub.status.value}"},
            )
        return sub

    # -- charges -----------------------------------------------------------------------------

    def charges(self, subscription_id: int) -> list[Charge]:
        query = (
            select(billing_charges)
            .where(billing_charges.c.subscription_id == subscription_id)
            .order_by(billing_charges.c.period)
        )
        with self.engine.connect() as conn:
            return [_charge(r) for r in conn.execute(query).mappings()]

    def in_doubt(self, limit: int = 100) -> list[Charge]:
        """Periods whose PayTrace sale was sent and never answered (its intent still ``sent``):
        the billing run looks each up by its reference before it may charge again. Oldest first."""
        query = (
            select(billing_charges)
            .join(intents, (intents.c.event_key == billing_charges.c.key)
                  & (intents.c.step == BILLING_CHARGE_STEP))
            .where(intents.c.status == SENT, billing_charges.c.status.in_(OPEN_CHARGES))
            .order_by(billing_charges.c.updated_at, billing_charges.c.key)
            .limit(limit)
        )  # fmt: skip
        with self.engine.connect() as conn:
            return [_charge(r) for r in conn.execute(query).mappings()]

    def charge(self, key: str) -> Charge | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(billing_charges).where(billing_charges.c.key == key))
            found = row.mappings().first()
        return _charge(found) if found is not None else None

    def open_periods(self, sub: Subscription, through: date) -> list[Charge]:
        """Open a charge for each period due by ``through``; a second worker opens none."""
        due = sub.schedule.due(sub.next_index, through)
        if not due:
            return []
        now = self.clock.now()
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == sub.id, subscriptions.c.next_index == sub.next_index)
                .values(next_index=due[-1][0] + 1, updated_at=now)
            )
            if moved.rowcount != 1:
                return []
            conn.execute(
                insert(billing_charges),
                [self._new_charge(sub, day, now) for _, day in due],
            )
        return [c for c in self.charges(sub.id) if c.period in {day for _, day in due}]

    def _new_charge(self, sub: Subscription, period: date, now: datetime) -> dict[str, Any]:
        return {
            "subscription_id": sub.id, "period": period, "key": sub.key(period),
            "amount": str(sub.amount.amount), "currency": sub.amount.currency,
            "status": ChargeStatus.DUE.value, "attempts": 0, "source": "paybridge",
            "next_attempt_at": now, "created_at": now, "updated_at": now,
        }  # fmt: skip

    def link_charge(
        self,
        conn: Connection,
        sub: Subscription,
        period: date,
        transaction_id: str,
        amount: Decimal,
    ) -> Charge | None:
        """Record a charge PayTrace's own recurring engine made; None when already recorded."""
        taken = conn.execute(
            select(billing_charges.c.key).where(
                billing_charges.c.subscription_id == sub.id,
                (billing_charges.c.transaction_id == transaction_id)
                | (billing_charges.c.period == period),
            )
        ).first()
        if taken is not None:
            return None
        now = self.clock.now()
        row = self._new_charge(sub, period, now) | {
            "amount": str(amount), "status": ChargeStatus.APPROVED.value,
            "source": "paytrace_recurring", "transaction_id": transaction_id,
        }  # fmt: skip
        conn.execute(insert(billing_charges).values(row))
        return _charge(row)

    def due_charges(self, now: datetime) -> list[Charge]:
        """Open charges whose next attempt is due, of subscriptions that may be billed."""
        query = (
            select(billing_charges)
            .join(subscriptions, subscriptions.c.id == billing_charges.c.subscription_id)
            .where(
                billing_charges.c.status.in_(OPEN_CHARGES),
                billing_charges.c.next_attempt_at <= now,
                subscriptions.c.status.in_(BILLABLE),
            )
            .order_by(billing_charges.c.subscription_id, billing_charges.c.period)
        )
        with self.engine.connect() as conn:
            return [_charge(r) for r in conn.execute(query).mappings()]

    def has_open_charges(self, subscription_id: int) -> bool:
        query = select(billing_charges.c.key).where(
            billing_charges.c.subscription_id == subscription_id,
            billing_charges.c.status.in_(OPEN_CHARGES),
        )
        with self.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def update_charge(self, conn: Connection, key: str, **values: Any) -> None:
        conn.execute(
            update(billing_charges)
            .where(billing_charges.c.key == key)
            .values(updated_at=self.clock.now(), **values)
        )

    def approve_charge(self, conn: Connection, key: str, transaction_id: str) -> bool:
        """Record the approval once (money moved: even a cancelled charge becomes approved)."""
        moved = conn.execute(
            update(billing_charges)
            .where(billing_charges.c.key == key)
            .where(billing_charges.c.status != ChargeStatus.APPROVED.value)
            .values(
                status=ChargeStatus.APPROVED.value,
                transaction_id=transaction_id,
                last_reason=None,
                updated_at=self.clock.now(),
            )
        )
        return moved.rowcount == 1

    def refuse_charge(self, conn: Connection, charge: Charge, **values: Any) -> bool:
        """Count one refusal, unless another worker already counted this attempt's."""
        moved = conn.execute(
            update(billing_charges)
            .where(billing_charges.c.key == charge.key)
            .where(billing_charges.c.status.in_(OPEN_CHARGES))
            .where(billing_charges.c.attempts == charge.attempts)
            .values(updated_at=self.clock.now(), **values)
        )
        return moved.rowcount == 1
