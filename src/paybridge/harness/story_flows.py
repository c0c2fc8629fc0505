"""The demo's chapters where D365 drives PayTrace (issue 17): a card order authorized at entry,
captured at each invoice and refunded from a credit note once a second person approves; an
invoice paid by link through PayTrace Protect's fields; an ACH payment and the bank's return.

Each chapter acts as the people involved would (D365's users through the D365 sandbox's
emulator-only services, the customer through the pay page, the bank through the PayTrace
sandbox's return call) and prints what it reads back from PayTrace, D365 and the store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from paybridge.app.engine import Engine
from paybridge.connectors.dynamics import F, Query
from paybridge.connectors.paytrace import (
    Address,
    CheckAccount,
    CheckSaleByCustomerRequest,
    CustomerCreateRequest,
    PayTraceClient,
)
from paybridge.keys import CUSTOMER_XREF

T = TypeVar("T")
COMPANY = "usmf"
ORDER_SERVICE = ("PayBridgeSandbox", "SalesOrders")
LINES = "CustomerPaymentJournalLines"
PAYLINK_INVOICE = "CIV-000104"  # a seeded open invoice of usmf, paid by its customer by link
ACH_INVOICE = "CIV-000102"
ACH_PROFILE = "ACH-US-002"  # a bank account on file for usmf/US-002
APPROVER = "user:demo-controller"


@dataclass
class FlowResults:
    order: str = ""
    order_captures: int = 0
    order_refund: str = "not run"  # refunded after approval, or what stopped it
    paylink_paid: str = ""  # the sale's transaction id
    ach_returned: bool = False
    # D365 lines the chapters made that PayTrace's card export does not show (ACH): PaymentId
    # -> (side, amount), for the story's read-back.
    expected: dict[str, tuple[str, Decimal]] = field(default_factory=dict)


@dataclass
class D365Flows:
    engine: Engine
    shop: PayTraceClient
    shop_http: httpx.AsyncClient
    paytrace_url: str
    say: Callable[[str], None]
    results: FlowResults

    async def _until(
        self, what: str, look: Callable[[], Awaitable[T | None]], seconds: float = 30.0
    ) -> T | None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = await look()
            if found:
                return found
            await asyncio.sleep(0.2)
        self.say(f"[timeout] {what} after {seconds:.0f} s")
        return None

    async def _service(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.engine.dynamics.call_service(*ORDER_SERVICE, operation, body) or {})

    # -- a card order -----------------------------------------------------------------------

    async def card_order(self, profile: str) -> None:
        """Authorize at entry, capture at two invoices, refund a credit note after approval."""
        target = self.engine.store.xref.get(CUSTOMER_XREF, profile)
        if target is None:
            self.say(f"[order] {profile} is linked to no D365 customer")
            return
        account = target.split("/", 1)[1]
        d365, book = self.engine.dynamics, self.engine.orders.book
        header = await d365.create("SalesOrderHeadersV2", {
            "dataAreaId": COMPANY, "OrderingCustomerAccountNumber": account,
            "CustomerPaymentMethodName": "CREDITCARD",
        })  # fmt: skip
        order = self.results.order = str(header["SalesOrderNumber"])
        line = await d365.create("SalesOrderLinesV3", {
            "dataAreaId": COMPANY, "SalesOrderNumber": order, "ItemNumber": "D0001",
            "OrderedSalesQuantity": 4, "SalesPrice": Decimal("60.00"),
        })  # fmt: skip
        lot = str(line["InventoryLotId"])

        async def authorized() -> str | None:
            row = book.get(COMPANY, order)
            return row.auth_id if row is not None else None

        first = await self._until(f"order {order} authorized", authorized)
        if first is None:
            return
        self.say(f"D365 sales order {order} (4 x 60.00 USD, card on file of {account}): "
                 f"PayBridge authorized 240.00 USD, transaction {first}")  # fmt: skip
        await self._service("invoice", {"dataAreaId": COMPANY, "SalesOrderNumber": order,
                                        "Lines": [{"InventoryLotId": lot, "Quantity": 1}]})  # fmt: skip
        if not await self._captures(order, 1):
            return
        await self._service("invoice", {"dataAreaId": COMPANY, "SalesOrderNumber": order})
        captures = await self._captures(order, 2)
        self.results.order_captures = len(captures)
        shown = ", ".join(f"{c.amount} USD ({c.invoice}, {c.transaction_id})" for c in captures)
        self.say(f"order {order} invoiced in two parts: captured {shown}; the remainder was "
                 "authorized again after the first")  # fmt: skip
        await self.shop.settle()  # PayTrace refunds only settled captures
        note = await self._service("creditNote", {"dataAreaId": COMPANY, "SalesOrderNumber":
                                                  order, "Lines": [{"InventoryLotId": lot,
                                                                    "Quantity": 2}]})  # fmt: skip
        await self._refund(order, str(note.get("InvoiceNumber")))

    async def _captures(self, order: str, count: int) -> list[Any]:
        async def made() -> list[Any] | None:
            found = self.engine.orders.book.captures(COMPANY, order)
            return found if len(found) >= count else None

        return await self._until(f"order {order}: {count} capture(s)", made) or []

    async def _refund(self, order: str, credit_note: str) -> None:
        desk = self.engine.orders.refunds

        async def waiting() -> list[Any] | None:
            return [r for r in desk.listing("awaiting_approval") if r.order_number == order] or None

        asked = await self._until(f"refund of {credit_note} asked", waiting)
        if not asked:
            self.results.order_refund = "never asked"
            return
        request = asked[0]
        self.say(f"credit note {credit_note}: refund of {request.amount} USD is above the "
                 "approval threshold (100.00): it waits for a second person")  # fmt: skip
        desk.approve(request.request_id, APPROVER)

        async def refunded() -> list[Any] | None:
            return [r for r in desk.listing("refunded") if r.order_number == order] or None

        done = await self._until(f"refund of {credit_note} sent", refunded)
        self.results.order_refund = "refunded" if done else "approved, not sent"
        if done:
            parts = ", ".join(f"{a} USD of {t}" for t, a in done[0].parts or ())
            self.say(f"{APPROVER} approved it (audited); PayBridge refunded {parts} in PayTrace")

    # -- pay by link -------------------------------------------------------------------------

    async def pay_link(self, api: httpx.AsyncClient) -> None:
        """A link for an open invoice; the customer pays it in PayTrace Protect's fields."""
        links = self.engine.paylinks
        link = await links.issue(COMPANY, PAYLINK_INVOICE)
        url = links.url(link)
        page = await api.get(url)
        if page.status_code != 200:
            self.say(f"[paylink] {url} answered {page.status_code}")
            return
        tokenized = await self.shop_http.post(
            f"{self.paytrace_url}/_sandbox/protect/tokenize",
            json={"credit_card": {"number": "5499740000000057", "expiration_month": 11,
                                  "expiration_year": 2031}, "csc": "998"},
        )  # fmt: skip
        tokenized.raise_for_status()
        paid = await api.post(url, json=tokenized.json())
        if paid.status_code != 201:
            self.say(f"[paylink] paying {url} answered {paid.status_code}: {paid.text[:200]}")
            return
        tid = str(paid.json()["transaction_id"])
        line = await self._line(f"PT-{tid}-sale")
        self.results.paylink_paid = tid if line else ""
        self.say(f"pay-by-link for {PAYLINK_INVOICE}: the customer paid in PayTrace's hosted "
                 f"fields (transaction {tid}); D365 line marked against "
                 f"{line.get('MarkedInvoice') if line else '?'}")  # fmt: skip

    async def _line(self, payment_id: str) -> dict[str, Any] | None:
        async def look() -> dict[str, Any] | None:
            rows = await self.engine.dynamics.query(LINES, Query(
                filter=(F("dataAreaId") == COMPANY) & (F("PaymentId") == payment_id),
            ))  # fmt: skip
            return rows[0] if rows else None

        return await self._until(f"D365 line {payment_id}", look)

    # -- ACH ---------------------------------------------------------------------------------

    async def ach(self) -> None:
        """A bank account on file pays an invoice by ACH; it settles, then the bank returns it
        (R01)."""
        await self.shop.create_customer(CustomerCreateRequest(
            customer_id=ACH_PROFILE,
            check=CheckAccount(account_number=SecretStr("000123456789"),
                               routing_number="325070760"),
            billing_address=Address(name="Demo ACH payer", zip="98101"),
        ))  # fmt: skip
        self.engine.store.xref.link(CUSTOMER_XREF, ACH_PROFILE, f"{COMPANY}/US-002")
        made = await self.shop.check_sale_by_customer(CheckSaleByCustomerRequest(
            customer_id=ACH_PROFILE, amount=Decimal("321.00"), invoice_id=ACH_INVOICE,
        ))  # fmt: skip
        tid = f"ACH{made.check_transaction_id}"
        self.results.expected[f"PT-{tid}-sale"] = ("credit", Decimal("321.00"))
        if await self._line(f"PT-{tid}-sale") is None:
            return
        self.say(f"ACH: 321.00 USD from US-002's bank account for {ACH_INVOICE} "
                 f"(check transaction {tid}) posted to D365")  # fmt: skip
        for event, extra in (("settle", {}), ("return", {"code": "R01"})):
            # The ACH network funds it, then the customer's bank sends it back.
            answer = await self.shop_http.post(
                f"{self.paytrace_url}/_sandbox/checks/{event}",
                json={"check_transaction_id": made.check_transaction_id, **extra},
            )
            answer.raise_for_status()
        self.results.expected[f"PT-{tid}-return"] = ("debit", Decimal("321.00"))
        back = await self._line(f"PT-{tid}-return")
        self.results.ach_returned = back is not None
        if back is not None:
            self.say(f"ACH return R01 (insufficient funds): D365 got one reversing line of "
                     f"{back.get('DebitAmount')} USD")  # fmt: skip
