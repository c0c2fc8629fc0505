"""A day with every reconciliation class, built on purpose in both sandboxes (clocks, settle, edits)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from paybridge.app.engine import Engine
from paybridge.clock import ManualClock, sequential_ids
from paybridge.connectors.paytrace import (
    Address,
    CreditCard,
    CustomerCreateRequest,
    CustomerRefundRequest,
    CustomerSaleRequest,
    VoidRequest,
)
from paybridge.reconcile import (
    BrandAccounts,
    CompanyReconcileSettings,
    Reconciler,
    ReconcileSettings,
)
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.sandboxes import D365 as D365  # test_report_and_cli imports PT, D365 from here
from tests.sandboxes import PT as PT
from tests.sandboxes import sandbox_engine, sandbox_http, sandbox_settings

DAY = date(2026, 3, 10)  # merchant-local (America/Los_Angeles, PDT = UTC-7)
START = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 9 March, 21:00 local
VISA = "4012000098765439"
MASTERCARD = "5454545454545454"
LINES = "CustomerPaymentJournalLines"


def reconcile_settings() -> ReconcileSettings:
    return ReconcileSettings(
        companies={
            "usmf": CompanyReconcileSettings(
                bank_account="USMF OPER",
                clearing_account="110180",
                brands={"mastercard": BrandAccounts(clearing_account="110190")},
            )
        }
    )


@dataclass
class World:
    engine: Engine
    clock: ManualClock
    pt_clock: SandboxClock
    d365_app: Any
    pt_app: Any
    reconciler: Reconciler
    tx: dict[str, str] = field(default_factory=dict)

    async def advance_to(self, moment: datetime) -> None:
        seconds = (moment - self.clock.now()).total_seconds()
        self.clock.advance(seconds)
        self.pt_clock.advance(seconds)

    async def drain(self) -> None:
        await self.engine.ingest.poll_once()
        while await self.engine.worker.run_once():
            pass

    async def sell(self, name: str, profile: str, amount: str) -> str:
        reply = await self.engine.paytrace.sale_by_customer(
            CustomerSaleRequest(customer_id=profile, amount=Decimal(amount))
        )
        self.tx[name] = str(reply.transaction_id)
        return self.tx[name]

    async def lines_of(self, name: str) -> list[dict[str, Any]]:
        rows = await self.engine.dynamics.query(LINES)
        return [r for r in rows if r.get("PaymentReference") == self.tx[name]]

    async def post_journal(self, journal: str) -> None:
        await self.engine.dynamics.call_service(
            "PayBridgeSandbox", "Journals", "post",
            {"dataAreaId": "usmf", "JournalBatchNumber": journal},
        )  # fmt: skip


def world_engine(
    tmp_path: Path, clock: ManualClock, pt_http: Any, d_http: Any, d365: Any
) -> Engine:
    return sandbox_engine(
        sandbox_settings(tmp_path), clock=clock, pt_http=pt_http, d_http=d_http, d365_app=d365
    )


@asynccontextmanager
async def open_world(tmp_path: Path) -> AsyncIterator[World]:
    """Both sandboxes in-process, frozen clocks, an engine on a SQLite store in ``tmp_path``."""
    clock = ManualClock(START)
    pt_clock = SandboxClock(START)
    pt = paytrace_app(clock=pt_clock)
    d365 = dynamics_app()
    async with sandbox_http(pt, d365) as (pt_http, d_http):
        engine = world_engine(tmp_path, clock, pt_http, d_http, d365)
        for account, name in (("110180", "Visa clearing"), ("110190", "Mastercard clearing")):
            await engine.dynamics.create("MainAccounts", {"MainAccountId": account, "Name": name})
        reconciler = engine.reconciler(reconcile_settings(), sequential_ids("run-"))
        yield World(engine, clock, pt_clock, d365, pt, reconciler)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with open_world(tmp_path) as opened:
        yield opened


async def open_profile(world: World, profile: str, card: str, account: str | None) -> None:
    await world.engine.paytrace.create_customer(
        CustomerCreateRequest(
            customer_id=profile,
            credit_card=CreditCard(
                number=SecretStr(card), expiration_month=12, expiration_year=2030
            ),
            billing_address=Address(name="Test Shopper", street_address="1 Main St", zip="98101"),
        )
    )
    if account:
        world.engine.store.xref.link("paytrace_customer", profile, f"usmf/{account}")


async def build_day(world: World) -> None:
    """9 March evening: A1, A2 (journal posted). 10 March: every class on purpose.

    Batch 1 (settled 12:00 local) holds A1, A2, C1-C5 and X; batch 2 (nightly, 20:00) holds R.
    """
    d = world.engine.dynamics
    await open_profile(world, "SHOP-1", VISA, "US-001")
    await open_profile(world, "SHOP-2", MASTERCARD, "US-002")
    await open_profile(world, "NOBODY-7", VISA, None)
    await world.sell("A1", "SHOP-1", "100.00")
    await world.sell("A2", "SHOP-2", "50.00")
    await world.drain()
    (a1,) = await world.lines_of("A1")
    await world.post_journal(a1["JournalBatchNumber"])

    await world.advance_to(datetime(2026, 3, 10, 16, 0, tzinfo=UTC))  # 09:00 local
    for name, profile, amount in (
        ("C1", "SHOP-1", "25.00"), ("C2", "SHOP-1", "30.00"), ("C3", "SHOP-2", "40.00"),
        ("C4", "SHOP-1", "45.00"), ("C5", "SHOP-2", "55.00"), ("X", "NOBODY-7", "20.00"),
        ("V", "SHOP-1", "12.00"),
    ):  # fmt: skip
        await world.sell(name, profile, amount)
    await world.engine.paytrace.void(VoidRequest(transaction_id=int(world.tx["V"])))
    await world.drain()
    await world.advance_to(datetime(2026, 3, 10, 19, 0, tzinfo=UTC))  # 12:00 local
    await world.engine.paytrace.settle()
    await world.advance_to(datetime(2026, 3, 10, 20, 0, tzinfo=UTC))
    reply = await world.engine.paytrace.refund_to_customer(
        CustomerRefundRequest(customer_id="SHOP-1", amount=Decimal("15.00"))
    )
    world.tx["R"] = str(reply.transaction_id)
    await world.drain()
    await world.advance_to(datetime(2026, 3, 11, 4, 0, tzinfo=UTC))  # 21:00 local: batch 2 closed
    await world.sell("P", "SHOP-1", "9.00")  # settles tomorrow
    await world.drain()

    (c2,) = await world.lines_of("C2")
    await d.delete(LINES, _key(c2))
    (c3,) = await world.lines_of("C3")
    await d.update(LINES, _key(c3), {"CreditAmount": Decimal("39.00")})
    (c5,) = await world.lines_of("C5")
    await d.update(LINES, _key(c5), {"AccountDisplayValue": "US\\-003"})
    # A person keys payments into a journal of their own (PayBridge numbers the lines of its
    # journals itself, so hand-made lines there would collide with its next line numbers).
    manual = await d.create(
        "CustomerPaymentJournalHeaders",
        {"dataAreaId": "usmf", "JournalName": "CustPay", "Description": "Keyed by hand"},
    )
    (c4,) = await world.lines_of("C4")
    await d.create(LINES, _copy(c4, manual["JournalBatchNumber"]))
    orphan = _copy(c4, manual["JournalBatchNumber"])
    orphan |= {"PaymentReference": "424242", "PaymentId": "PT-424242-sale"}
    await d.create(LINES, orphan | {"CreditAmount": Decimal("60.00")})


def _key(row: dict[str, Any]) -> dict[str, object]:
    return {
        "dataAreaId": row["dataAreaId"],
        "JournalBatchNumber": row["JournalBatchNumber"],
        "LineNumber": row["LineNumber"],
    }


_COPIED = (
    "dataAreaId", "JournalBatchNumber", "AccountType", "AccountDisplayValue", "TransactionDate",
    "CurrencyCode", "CreditAmount", "DebitAmount", "OffsetAccountType",
    "OffsetAccountDisplayValue", "PaymentReference", "PaymentId", "TransactionText",
)  # fmt: skip


def _copy(row: dict[str, Any], journal: str) -> dict[str, Any]:
    """The same payment keyed in again by hand: what a person posting twice would do."""
    return {name: row[name] for name in _COPIED} | {"JournalBatchNumber": journal}
