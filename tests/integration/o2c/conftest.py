"""Both sandboxes in-process and an engine over them, with order-to-cash settings per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from paybridge.app.engine import Engine
from paybridge.clock import ManualClock
from paybridge.connectors.dynamics import F, Query
from paybridge.connectors.paytrace import (
    Address,
    CreditCard,
    CustomerCreateRequest,
    CustomerSaleRequest,
)
from paybridge.errors import DeclinedError
from paybridge.keys import PAYMENT_TOPIC
from paybridge.o2c.posting import PaymentPoster
from paybridge.o2c.settings import OrderToCashSettings
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.conftest import asgi_client
from tests.sandboxes import D365, PT, sandbox_engine, sandbox_settings

# 10:00 in Los Angeles on a Tuesday: the day's journal is open, the 18:00 cut-off is ahead.
START = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
LINES = "CustomerPaymentJournalLines"


@dataclass
class World:
    engine: Engine
    clock: ManualClock
    pt_app: Any
    d365_app: Any
    pt_http: Any

    @property
    def poster(self) -> PaymentPoster:
        handler = self.engine.worker.handlers[PAYMENT_TOPIC]
        assert isinstance(handler, PaymentPoster)
        return handler

    async def drain(self) -> None:
        await self.engine.ingest.poll_once()
        while await self.engine.worker.run_once():
            pass

    async def profile(self, profile: str, account: str | None, name: str = "Test Shopper") -> None:
        await self.engine.paytrace.create_customer(
            CustomerCreateRequest(
                customer_id=profile,
                credit_card=CreditCard(
                    number=SecretStr("4012000098765439"), expiration_month=12, expiration_year=2030
                ),
                billing_address=Address(
                    name=name, street_address="1 Main St", street_address2="Suite 5",
                    city="Seattle", state="WA", zip="98101", country="US",
                ),
                email="shopper@example.com",
            )
        )  # fmt: skip
        if account:
            self.engine.store.xref.link("paytrace_customer", profile, f"usmf/{account}")

    async def sell(self, profile: str, amount: str, ref: str = "", *, auth: bool = False) -> str:
        request = CustomerSaleRequest(
            customer_id=profile, amount=Decimal(amount), invoice_id=ref or None
        )
        client = self.engine.paytrace
        call = client.authorize_by_customer if auth else client.sale_by_customer
        try:
            response = await call(request)
        except DeclinedError as exc:
            declined = exc.transaction_id
        else:
            return str(response.transaction_id)
        assert declined, "PayTrace gives a declined sale a transaction id too"
        return str(declined)

    async def lines(self, payment_id: str | None = None) -> list[dict[str, Any]]:
        query = Query(filter=F("PaymentId") == payment_id) if payment_id else None
        return await self.engine.dynamics.query(LINES, query)

    async def order(self, number: str) -> dict[str, Any]:
        row = await self.engine.dynamics.get(
            "SalesOrderHeadersV2", {"dataAreaId": "usmf", "SalesOrderNumber": number}
        )
        assert row is not None
        return row

    async def new_order(self, account: str) -> str:
        created = await self.engine.dynamics.create(
            "SalesOrderHeadersV2", {"dataAreaId": "usmf", "OrderingCustomerAccountNumber": account}
        )
        return str(created["SalesOrderNumber"])


WorldFactory = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world(tmp_path: Path) -> AsyncIterator[WorldFactory]:
    opened: list[Any] = []

    async def make(o2c: OrderToCashSettings | None = None, **settings: Any) -> World:
        clock = ManualClock(START)
        pt = paytrace_app(clock=SandboxClock(START))
        d365 = dynamics_app()
        config = sandbox_settings(
            tmp_path, db=f"pb{len(opened)}.db", o2c=o2c or OrderToCashSettings(), **settings
        )
        pt_http, d_http = asgi_client(pt, PT), asgi_client(d365, D365)
        opened.extend([pt_http, d_http])
        engine = sandbox_engine(config, clock=clock, pt_http=pt_http, d_http=d_http, d365_app=d365)
        return World(engine, clock, pt, d365, pt_http)

    yield make
    for client in opened:
        await client.aclose()
