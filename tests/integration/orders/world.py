"""An orders world: both sandboxes in-process on one clock, the engine as app/ builds it, and
the D365 person (orders, invoices, credit notes, cancels through the emulator-only service)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from paybridge.app.engine import Engine
from paybridge.clock import ManualClock
from paybridge.orders.settings import OrdersSettings
from paybridge_sandbox.dynamics import SandboxClock as DynamicsClock
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.sandboxes import open_profile, sandbox_engine, sandbox_http, sandbox_settings

START = datetime(2026, 7, 15, 16, 0, tzinfo=UTC)
SERVICE = "/api/services/PayBridgeSandbox/SalesOrders"
KEY = {"dataAreaId": "usmf"}


@dataclass
class World:
    engine: Engine
    clock: ManualClock
    pt_app: Any
    d365_app: Any
    pt_http: Any
    d_http: Any

    async def _post(self, path: str, body: Any) -> Any:
        if path.startswith("/api/services/"):
            group, service, operation = path.removeprefix("/api/services/").split("/")
            return await self.engine.dynamics.call_service(group, service, operation, body)
        return await self.engine.dynamics.create(path.removeprefix("/data/"), body)

    async def order(
        self, account: str, *lines: tuple[int, str], method: str = "CREDITCARD",
        po: str | None = None,
    ) -> tuple[str, list[str]]:  # fmt: skip
        header = await self._post("/data/SalesOrderHeadersV2", {
            **KEY, "OrderingCustomerAccountNumber": account, "CustomerPaymentMethodName": method,
            **({"CustomersOrderReference": po} if po else {}),
        })  # fmt: skip
        number = str(header["SalesOrderNumber"])
        lots = []
        for quantity, price in lines:
            line = await self._post("/data/SalesOrderLinesV3", {
                **KEY, "SalesOrderNumber": number, "ItemNumber": "D0001",
                "OrderedSalesQuantity": quantity, "SalesPrice": Decimal(price),
            })  # fmt: skip
            lots.append(str(line["InventoryLotId"]))
        return number, lots

    async def invoice(
        self, order: str, lot: str | None = None, quantity: int = 0
    ) -> dict[str, Any]:
        body: dict[str, Any] = {**KEY, "SalesOrderNumber": order}
        if lot is not None:
            body["Lines"] = [{"InventoryLotId": lot, "Quantity": quantity}]
        result: dict[str, Any] = await self._post(f"{SERVICE}/invoice", body)
        return result

    async def credit(self, order: str, lot: str, quantity: int) -> dict[str, Any]:
        body = {
            **KEY,
            "SalesOrderNumber": order,
            "Lines": [{"InventoryLotId": lot, "Quantity": quantity}],
        }
        result: dict[str, Any] = await self._post(f"{SERVICE}/creditNote", body)
        return result

    async def cancel(self, order: str) -> None:
        await self._post(f"{SERVICE}/cancel", {**KEY, "SalesOrderNumber": order})

    async def header(self, order: str) -> dict[str, Any]:
        found = await self.engine.dynamics.get(
            "SalesOrderHeadersV2", {**KEY, "SalesOrderNumber": order}
        )
        assert found is not None
        return found

    async def step(self, rounds: int = 3) -> None:
        """The watch job once, then the workers until the queue is quiet (a few times)."""
        for _ in range(rounds):
            await self.engine.orders.watch.run()
            while await self.engine.worker.run_once():
                pass

    def paytrace(self) -> Any:
        return self.pt_app.state.sandbox.state

    def settle(self) -> None:
        from paybridge_sandbox.paytrace.lifecycle import settle_pending

        sandbox = self.pt_app.state.sandbox
        settle_pending(sandbox, sandbox.clock.now())


@asynccontextmanager
async def open_world(
    tmp_path: Path, orders: OrdersSettings | None = None, **sections: Any
) -> AsyncIterator[World]:
    clock = ManualClock(START)
    pt = paytrace_app(clock=SandboxClock(START))
    d365 = dynamics_app(clock=DynamicsClock(START))
    settings = sandbox_settings(tmp_path, orders=orders or OrdersSettings(
        enabled=True, authorization_field="CustomerRequisitionNumber",
        hold_reason_field="CustomersOrderReference", refund_approval_above=Decimal("40"),
    ), **sections)  # fmt: skip
    async with sandbox_http(pt, d365) as (pt_http, d_http):
        engine = sandbox_engine(
            settings, clock=clock, pt_http=pt_http, d_http=d_http, d365_app=d365
        )
        await open_profile(engine, "C-1001", "US-001")
        yield World(engine, clock, pt, d365, pt_http, d_http)
