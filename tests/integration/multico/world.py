"""Two PayTrace merchant accounts (two sandboxes whose transaction ids overlap) and one D365
sandbox with companies usmf and usrt, in-process: the engine ``build_engine`` makes of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from paybridge.app.engine import Engine
from paybridge.app.settings import Settings
from paybridge.clock import ManualClock
from paybridge.connectors.dynamics import Query
from paybridge.connectors.paytrace import (
    Address,
    CreditCard,
    CustomerCreateRequest,
    CustomerSaleRequest,
    PayTraceClient,
)
from paybridge.connectors.paytrace.settings import PayTraceAccount, PayTraceSettings
from paybridge.reconcile.settings import CompanyReconcileSettings
from paybridge_sandbox.dynamics import SandboxClock as DynamicsClock
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.conftest import SandboxTransport
from tests.sandboxes import D365, PT, sandbox_engine, sandbox_settings

START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
RETAIL_PT = "https://retail.paytrace.test"  # the second merchant account's sandbox
LINES = "CustomerPaymentJournalLines"


class HostTransport(httpx.AsyncBaseTransport):
    """One HTTP client for several in-process sandboxes, chosen by host."""

    def __init__(self, apps: dict[str, object]) -> None:
        self.routes = {httpx.URL(url).host: SandboxTransport(app) for url, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.routes[request.url.host].handle_async_request(request)


@dataclass
class TwoAccounts:
    engine: Engine
    clock: ManualClock
    main_app: Any
    retail_app: Any
    d365_app: Any

    @property
    def main(self) -> PayTraceClient:
        return self.engine.accounts.named("default").client

    @property
    def retail(self) -> PayTraceClient:
        return self.engine.accounts.named("retail").client

    async def drain(self) -> None:
        for ingest in self.engine.ingests:
            await ingest.poll_once()
        while await self.engine.worker.run_once():
            pass

    async def invoice(self, company: str, account: str, price: str) -> str:
        """A sales order of ``account`` in ``company`` invoiced whole (the emulator-only service
        standing in for a person); the invoice number."""
        d365 = self.engine.dynamics
        header = await d365.create("SalesOrderHeadersV2", {
            "dataAreaId": company, "OrderingCustomerAccountNumber": account,
            "CustomerPaymentMethodName": "CREDITCARD",
        })  # fmt: skip
        order = str(header["SalesOrderNumber"])
        await d365.create("SalesOrderLinesV3", {
            "dataAreaId": company, "SalesOrderNumber": order, "ItemNumber": "D0001",
            "OrderedSalesQuantity": 1, "SalesPrice": Decimal(price),
        })  # fmt: skip
        done = await d365.call_service(
            "PayBridgeSandbox", "SalesOrders", "invoice",
            {"dataAreaId": company, "SalesOrderNumber": order},
        )  # fmt: skip
        return str(done["InvoiceNumber"])

    def sold(self, app: Any, invoice: str) -> list[Any]:
        """What a PayTrace sandbox itself holds for ``invoice`` (not through PayBridge)."""
        state = app.state.sandbox.state
        return [t for t in state.transactions.values() if t.invoice_id == invoice]

    async def lines(self, company: str) -> dict[str, dict[str, Any]]:
        """PaymentId -> the line D365 holds in ``company`` (each PaymentId once, or it fails)."""
        rows = await self.engine.dynamics.query(LINES, Query(filter=None, cross_company=True))
        mine = [r for r in rows if str(r["dataAreaId"]).lower() == company]
        by_id: dict[str, dict[str, Any]] = {}
        for row in mine:
            assert row["PaymentId"] not in by_id, f"{row['PaymentId']} twice in {company}"
            by_id[str(row["PaymentId"])] = row
        return by_id


async def open_profile(client: PayTraceClient, profile: str) -> None:
    await client.create_customer(
        CustomerCreateRequest(
            customer_id=profile,
            credit_card=CreditCard(
                number=SecretStr("4012000098765439"), expiration_month=12, expiration_year=2030
            ),
            billing_address=Address(name="Test Shopper", street_address="1 Main St", zip="98101"),
        )
    )


async def sell(client: PayTraceClient, profile: str, amount: str) -> str:
    response = await client.sale_by_customer(
        CustomerSaleRequest(customer_id=profile, amount=Decimal(amount))
    )
    return str(response.transaction_id)


def two_account_settings(
    tmp_path: Path, dynamics: dict[str, Any] | None = None, **sections: Any
) -> Settings:
    base = sandbox_settings(tmp_path, **sections)
    if dynamics:
        base = base.model_copy(update={"dynamics": base.dynamics.model_copy(update=dynamics)})
    retail = PayTraceAccount(
        name="retail", company="usrt", username=SecretStr("sandbox"),
        password=SecretStr("sandbox"), integrator_id=SecretStr("SANDBOX00001"),
        base_url=RETAIL_PT, bank_account="USRT OPER",
    )  # fmt: skip
    paytrace = PayTraceSettings(**{**base.paytrace.model_dump(), "accounts": [retail]})
    usrt = CompanyReconcileSettings(bank_account="USRT OPER")
    reconcile = base.reconcile.model_copy(
        update={"companies": {**base.reconcile.companies, "usrt": usrt}}
    )
    return Settings.model_validate({**dict(base), "paytrace": paytrace, "reconcile": reconcile})


@asynccontextmanager
async def open_two_accounts(
    tmp_path: Path, dynamics: dict[str, Any] | None = None, **sections: Any
) -> AsyncIterator[TwoAccounts]:
    """Both merchants start at the sandbox's default first id: their ids overlap."""
    clock = ManualClock(START)
    main, retail = paytrace_app(clock=SandboxClock(START)), paytrace_app(clock=SandboxClock(START))
    d365 = dynamics_app(clock=DynamicsClock(START))
    transport = HostTransport({PT: main, RETAIL_PT: retail})
    async with (
        httpx.AsyncClient(transport=transport) as pt_http,
        httpx.AsyncClient(transport=SandboxTransport(d365), base_url=D365) as d_http,
    ):
        engine = sandbox_engine(
            two_account_settings(tmp_path, dynamics, **sections), clock=clock, pt_http=pt_http,
            d_http=d_http, d365_app=d365,
        )  # fmt: skip
        yield TwoAccounts(engine, clock, main, retail, d365)
