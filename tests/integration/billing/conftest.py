"""Both sandboxes in-process on manual clocks, and an engine built with billing enabled (its own run)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from paybridge.app.engine import Engine
from paybridge.app.settings import Settings
from paybridge.app.store import Store, open_store
from paybridge.billing.run import BillingRun
from paybridge.billing.settings import BillingSettings
from paybridge.billing.store import SubscriptionStore
from paybridge.billing.subscriptions import Frequency, NewSubscription, Schedule, Subscription
from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import Address, CreditCard, CustomerCreateRequest
from paybridge.keys import ALERT_TOPIC
from paybridge.model import Money
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.sandboxes import sandbox_engine, sandbox_http, sandbox_settings

START = datetime(2026, 1, 31, 18, 0, tzinfo=UTC)  # 10:00 on 31 January in Los Angeles
SALE_PATH = "/v1/transactions/sale/by_customer"


@dataclass
class World:
    engine: Engine
    clock: ManualClock
    pt_clock: SandboxClock
    pt_app: Any
    d365_app: Any
    subs: SubscriptionStore
    billing: BillingRun
    settings: Settings
    pt_http: Any
    d_http: Any

    def advance(self, **delta: float) -> None:
        seconds = timedelta(**delta).total_seconds()
        self.clock.advance(seconds)
        self.pt_clock.advance(seconds)

    def advance_to(self, moment: datetime) -> None:
        self.advance(seconds=(moment - self.clock.now()).total_seconds())

    def engine_like(self, name: str, clock: ManualClock | None = None) -> Engine:
        """Another engine on the same store and sandboxes: a restarted process or a second worker."""
        return make_engine(self.settings, clock or self.clock, self.pt_http, self.d_http,
                           self.d365_app, open_store(self.settings.store.url, clock or self.clock),
                           name)  # fmt: skip

    async def profile(self, customer: str) -> None:
        await self.engine.paytrace.create_customer(
            CustomerCreateRequest(
                customer_id=customer,
                credit_card=CreditCard(
                    number=SecretStr("4012000098765439"), expiration_month=12, expiration_year=2030
                ),
                billing_address=Address(name="Test Subscriber", street_address="1 Main St"),
            )
        )

    def add(
        self, customer: str, amount: str, *, frequency: Frequency = Frequency.MONTHLY,
        start: date | None = None, count: int | None = None, d365: str = "usmf/US-001",
        engine: str = "paybridge",
    ) -> Subscription:  # fmt: skip
        schedule = Schedule(frequency=frequency, start=start or date(2026, 1, 31), count=count)
        return self.subs.add(
            NewSubscription(
                customer_id=customer,
                amount=Money.of(amount, "USD"),
                schedule=schedule,
                d365=d365,
                engine=engine,
            )
        )

    def sandbox_charges(self, reference: str) -> list[Any]:
        state = self.pt_app.state.sandbox.state
        return [t for t in state.transactions.values() if t.description == reference]

    def approved(self, reference: str) -> list[Any]:
        return [t for t in self.sandbox_charges(reference) if t.status != "declined"]

    async def on_hold(self, account: str = "US-001") -> str:
        row = await self.engine.dynamics.get(
            "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": account},
            select=["OnHoldStatus"], cross_company=True,
        )  # fmt: skip
        assert row is not None
        return str(row["OnHoldStatus"])

    def messages(self, topic: str) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from paybridge.store.schema import queue

        with self.engine.store.engine.connect() as conn:
            rows = conn.execute(
                select(queue).where(queue.c.topic == topic).order_by(queue.c.id)
            ).mappings()
            return [dict(r) for r in rows]

    def alert_kinds(self) -> list[str]:
        return [str(m["key"]).rsplit(":", 2)[-2] for m in self.messages(ALERT_TOPIC)]

    async def drain(self) -> None:
        while await self.engine.worker.run_once():
            pass


def make_engine(
    settings: Settings, clock: ManualClock, pt_http: Any, d_http: Any, d365: Any,
    store: Store | None = None, name: str = "w1",
) -> Engine:  # fmt: skip
    engine = sandbox_engine(
        settings, clock=clock, pt_http=pt_http, d_http=d_http, d365_app=d365,
        store=store, worker_name=name,
    )  # fmt: skip
    return engine


@asynccontextmanager
async def open_world(
    tmp_path: Path, settings: BillingSettings | None = None
) -> AsyncIterator[World]:
    clock = ManualClock(START)
    pt_clock = SandboxClock(START)
    pt = paytrace_app(clock=pt_clock)
    d365 = dynamics_app()
    config = sandbox_settings(tmp_path, billing=settings or BillingSettings(enabled=True))
    async with sandbox_http(pt, d365) as (pt_http, d_http):
        engine = make_engine(config, clock, pt_http, d_http, d365)
        subs, billing = engine.subscriptions, engine.billing
        yield World(engine, clock, pt_clock, pt, d365, subs, billing, config, pt_http, d_http)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with open_world(tmp_path) as w:
        yield w


def money(text: str) -> Decimal:
    return Decimal(text)
