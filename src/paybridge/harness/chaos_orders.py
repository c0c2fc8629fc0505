"""The chaos run's card orders: D365 sales orders paid by the card on file, which the workers
authorize at entry, capture at two partial invoices, close when the rest is cancelled or
invoiced, and refund from credit notes (one refund above the approval threshold, approved with
`paybridge refunds approve` as a second person would), while both sandboxes inject the run's
faults and the workers are killed.

The run acts as D365's users do (an order, an invoice, a cancellation, a credit note) with the
faults off, so that its own calls happen exactly once, then turns the faults on for a window
while the workers take each step, then waits with the faults off until the step shows in
PayTrace (or its deadline passes: what is missing then is counted, not waited for).

The checks, per order, from PayTrace's own export (the D365 side of every authorization,
capture and refund is checked with the run's other payments by ``chaos_checks.check_lines``):

* ``double_authorizations``: one authorization of an order (its reference ``...:auth:<n>``)
  approved twice;
* ``wrong_captures``: the captured total of an order is not what D365 invoiced (more: a capture
  doubled or above the authorization; less: a capture lost);
* ``open_authorizations``: an authorization left neither captured nor voided once the order is
  fully invoiced or cancelled (a hold on the customer's card that nobody releases);
* ``refunds_lost`` / ``refunds_doubled``: a credit note whose refund never reached PayTrace, or
  reached it more than once (counted per credit note, by amount).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from paybridge.connectors.dynamics import DynamicsClient
from paybridge.connectors.paytrace import TransactionRecord
from paybridge.connectors.paytrace.poller import change_kinds

# The orders' customers: seeded usmf accounts whose PayTrace profiles the run links.
CUSTOMERS = ("US-001", "US-002", "US-003", "US-004", "US-005")
ITEM = "D0001"
UNITS = 4
COMPANY = "usmf"
SERVICE = ("PayBridgeSandbox", "SalesOrders")
# Refunds above this wait for an operator (the run's worker config says the same).
APPROVAL_ABOVE = Decimal("100")
ORDER_COUNTS = ("double_authorizations", "wrong_captures", "open_authorizations",
                "refunds_lost", "refunds_doubled")  # fmt: skip


@dataclass
class Order:
    number: str
    lot: str
    price: Decimal
    cancelled: bool  # the rest after the first invoice is cancelled (else invoiced)
    invoiced: Decimal = Decimal(0)
    credit_notes: dict[str, Decimal] = field(default_factory=dict)  # number -> amount

    @property
    def credited(self) -> Decimal:
        return sum(self.credit_notes.values(), Decimal(0))


@dataclass
class OrderFindings:
    orders: int = 0
    steps_late: list[str] = field(default_factory=list)  # a step whose deadline passed
    approvals: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORDER_COUNTS, 0))
    examples: list[str] = field(default_factory=list)

    def note(self, count: str, what: str) -> None:
        self.counts[count] += 1
        if len(self.examples) < 8:
            self.examples.append(what)

    @property
    def bad(self) -> int:
        return sum(self.counts.values())


@dataclass
class ChaosOrders:
    """One batch of card orders taken through their life under faults."""

    d365: DynamicsClient
    records: Callable[[], Awaitable[list[TransactionRecord]]]
    faults: Callable[[bool], Awaitable[None]]  # on (the run's profile) or off
    approve: Callable[[], Awaitable[int]]  # approves the refunds waiting; how many
    settle: Callable[[], Awaitable[None]]  # PayTrace settles the day's batch
    rng: random.Random
    window_seconds: float = 6.0
    deadline_seconds: float = 120.0
    orders: list[Order] = field(default_factory=list)
    findings: OrderFindings = field(default_factory=OrderFindings)
    _looks: int = 0

    async def run(self, count: int) -> OrderFindings:
        for n in range(count):
            await self._create(n)
        self.findings.orders = len(self.orders)
        await self._step("authorized", lambda by: all(self._auths(by, o) for o in self.orders))
        for order in self.orders:  # the first invoice: one unit
            await self._invoice(order, 1)
        await self._step("first invoice captured, the rest authorized again",
                         lambda by: all(len(self._auths(by, o)) >= 2 for o in self.orders))  # fmt: skip
        for order in self.orders:
            if order.cancelled:
                await self._service("cancel", {"dataAreaId": COMPANY,
                                               "SalesOrderNumber": order.number})  # fmt: skip
            else:
                await self._invoice(order, None)
        await self._step("orders closed", self._closed)
        await self.settle()
        for n, order in enumerate(o for o in self.orders if not o.cancelled):
            units = 3 if n == 0 else 1  # the first one above the approval threshold
            await self._credit_note(order, units)
        await self._step("credit notes refunded", self._refunded, meanwhile=self._approve)
        return self.findings

    async def finish(self) -> None:
        """Before the final count, what the people involved would still do: approve a refund
        that came after the step stopped waiting (a slow machine), and let PayTrace settle."""
        if self.orders:
            await self.settle()
            self.findings.approvals += await self.approve()

    async def _approve(self) -> None:
        """While refunds are awaited: a second person approves what waits, and PayTrace settles
        again (as its daily batch would): a capture that was not settled yet when the credit
        notes came (a slow machine) can only be refunded once it is."""
        self.findings.approvals += await self.approve()
        self._looks += 1
        if self._looks % 5 == 0:
            await self.settle()

    def check(self, records: list[TransactionRecord]) -> OrderFindings:
        """The per-order counts, from PayTrace's export at the end of the run."""
        by = _by_order(records)
        for order in self.orders:
            auths = self._auths(by, order)
            seen: dict[str, int] = defaultdict(int)
            for rec in auths:
                if "decline" not in change_kinds(rec):
                    seen[rec.description.split(" ")[0]] += 1
            for reference, n in seen.items():
                if n > 1:
                    self.findings.note("double_authorizations", f"{reference} approved {n} times")
            captured = sum((_amount(r) for r in auths if _captured(r)), Decimal(0))
            if captured != order.invoiced:
                self.findings.note("wrong_captures", f"order {order.number}: captured "
                                   f"{captured}, invoiced {order.invoiced}")  # fmt: skip
            for rec in auths:
                if not _captured(rec) and not rec.is_voided and "decline" not in change_kinds(rec):
                    self.findings.note("open_authorizations", f"order {order.number}: "
                                       f"authorization {rec.transaction_id} still open")  # fmt: skip
            refunds = [r for r in _refunds(by, order) if not r.is_voided]
            refunded = sum((_amount(r) for r in refunds), Decimal(0))
            credited = order.credited
            if refunded != credited:
                self.findings.note(
                    "refunds_lost" if refunded < credited else "refunds_doubled",
                    f"order {order.number}: refunded {refunded}, credit notes {credited}",
                )
            references: dict[str, int] = defaultdict(int)
            for rec in refunds:
                references[rec.description.split(" ")[0]] += 1
            for reference, n in references.items():
                if n > 1 and refunded <= credited:  # a second copy the totals did not show
                    self.findings.note("refunds_doubled", f"{reference} refunded {n} times")
        return self.findings

    # -- what D365's users do (faults off) ---------------------------------------------------

    async def _create(self, n: int) -> None:
        price = Decimal(self.rng.randint(1000, 2500)).scaleb(-2)
        if n == 0:
            price = Decimal("50.00")  # its 3-unit credit note (150.00) needs an approval
        header = await self.d365.create("SalesOrderHeadersV2", {
            "dataAreaId": COMPANY, "OrderingCustomerAccountNumber": CUSTOMERS[n % len(CUSTOMERS)],
            "CustomerPaymentMethodName": "CREDITCARD",
        })  # fmt: skip
        number = str(header["SalesOrderNumber"])
        line = await self.d365.create("SalesOrderLinesV3", {
            "dataAreaId": COMPANY, "SalesOrderNumber": number, "ItemNumber": ITEM,
            "OrderedSalesQuantity": UNITS, "SalesPrice": price,
        })  # fmt: skip
        self.orders.append(Order(number, str(line["InventoryLotId"]), price, cancelled=n % 2 == 1))

    async def _invoice(self, order: Order, units: int | None) -> None:
        body: dict[str, Any] = {"dataAreaId": COMPANY, "SalesOrderNumber": order.number}
        if units is not None:
            body["Lines"] = [{"InventoryLotId": order.lot, "Quantity": units}]
        await self._service("invoice", body)
        order.invoiced += order.price * (units if units is not None else UNITS - 1)

    async def _credit_note(self, order: Order, units: int) -> None:
        note = await self._service("creditNote", {
            "dataAreaId": COMPANY, "SalesOrderNumber": order.number,
            "Lines": [{"InventoryLotId": order.lot, "Quantity": units}],
        })  # fmt: skip
        order.credit_notes[str(note["InvoiceNumber"])] = order.price * units

    async def _service(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.d365.call_service(*SERVICE, operation, body)
        return dict(answer or {})

    # -- waiting for the workers (faults on for a window, then off) -----------------------------

    async def _step(
        self,
        name: str,
        done: Callable[[dict[str, Any]], bool],
        meanwhile: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Faults on for a window, then off until ``done`` holds (``meanwhile`` awaited on each
        look: what a person does while waiting) or the deadline passes."""
        await self.faults(True)
        await asyncio.sleep(self.window_seconds)
        await self.faults(False)
        started = time.monotonic()
        while True:
            if done(_by_order(await self.records())):
                return
            if time.monotonic() - started > self.deadline_seconds:
                self.findings.steps_late.append(name)
                return
            if meanwhile is not None:
                await meanwhile()
            await asyncio.sleep(1.0)

    def _auths(self, by: dict[str, Any], order: Order) -> list[TransactionRecord]:
        return list(by["authorization"].get(order.number, ()))

    def _closed(self, by: dict[str, Any]) -> bool:
        for order in self.orders:
            auths = self._auths(by, order)
            captured = sum((_amount(r) for r in auths if _captured(r)), Decimal(0))
            live = [r for r in auths if not _captured(r) and not r.is_voided
                    and "decline" not in change_kinds(r)]  # fmt: skip
            if captured < order.invoiced or live:
                return False
        return True

    def _refunded(self, by: dict[str, Any]) -> bool:
        for order in self.orders:
            if sum((_amount(r) for r in _refunds(by, order)), Decimal(0)) < order.credited:
                return False
        return True


def _amount(record: TransactionRecord) -> Decimal:
    return Decimal(str(record.amount if record.amount is not None else 0))


def _captured(record: TransactionRecord) -> bool:
    return "capture" in change_kinds(record) and not record.is_voided


def _refunds(by: dict[str, Any], order: Order) -> list[TransactionRecord]:
    return [r for note in order.credit_notes for r in by["refund"].get(note, ())]


def _by_order(records: list[TransactionRecord]) -> dict[str, dict[str, list[TransactionRecord]]]:
    """Authorizations by order number and refunds by credit note number, read from the reference
    at the head of their description (``d365:<company>:<order>:auth:<n>``,
    ``d365:<company>:<credit note>:refund:<capture>``)."""
    out: dict[str, dict[str, list[TransactionRecord]]] = {
        "authorization": defaultdict(list), "refund": defaultdict(list),
    }  # fmt: skip
    for rec in records:
        parts = (rec.description or "").split(" ")[0].split(":")
        if len(parts) < 4 or parts[0] != "d365" or parts[1] != COMPANY:
            continue
        kind = "authorization" if parts[3] == "auth" else "refund" if parts[3] == "refund" else ""
        if kind:
            out[kind][parts[2]].append(rec)
    return out
