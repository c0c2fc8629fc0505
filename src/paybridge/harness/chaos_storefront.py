"""The chaos run's storefront: a merchant's shop with its own PayTrace session, through faults.

It sells to stored profiles (some amounts are the sandbox's declining ones), authorizes and
captures (in full and in part), voids sales, captures and refunds, adjusts unsettled sales,
settles, and refunds settled sales (in full and in part). Every write meets the sandbox's
faults: a write whose answer is lost is resolved by looking at PayTrace, never by sending it
blind again, so the shop itself never charges twice (the run checks that too).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from paybridge.connectors.paytrace import (
    AdjustRequest,
    CaptureRequest,
    CustomerSaleRequest,
    PayTraceClient,
    TransactionRecord,
    TransactionRefundRequest,
    TransactionResponse,
    VoidRequest,
)
from paybridge.errors import DataError, DeclinedError, FatalError, InDoubtError, PayBridgeError

DECLINING = (Decimal("0.29"), Decimal("1.12"))  # the PayTrace sandbox declines these amounts
# A careless shop types a card number into the order text now and then: PayBridge must keep
# none of it (the store and the logs are scanned at the end).
PLANTED_CARD = "4111 1111 1111 1111"
_TRIES = 30
SKIPPABLE = frozenset({"adjust", "void_refund", "void_capture"})


def order_text(n: int) -> str:
    return f"Web order {n} paid with {PLANTED_CARD}" if n % 10 == 0 else f"Web order {n}"


@dataclass
class Shop:
    """Keeps what it may still act on: unsettled sales, holds, captures, refunds; and counts."""

    client: PayTraceClient
    rng: random.Random
    # Operations the shop leaves out (``SKIPPABLE``): to run without a known bug's trigger.
    without: frozenset[str] = frozenset()
    in_doubt_resolved: int = 0
    did: Counter[str] = field(default_factory=Counter)
    sales: list[int] = field(default_factory=list)  # unsettled, adjustable and voidable
    holds: list[int] = field(default_factory=list)  # authorized, not captured
    captures: list[int] = field(default_factory=list)  # captured, unsettled
    refunds: list[int] = field(default_factory=list)  # unsettled refunds
    settled: list[int] = field(default_factory=list)  # refundable
    # Clock moments when sales were made (the run counts those in the repeated DST hour).
    sold_at: list[float] = field(default_factory=list)

    async def step(self, profile: str, n: int) -> None:
        """Payment ``n``: one new transaction, and now and then something done to older ones."""
        slot = n % 20
        if slot in (7, 13):
            await self._sell(profile, n, DECLINING[n % 2], authorize=slot == 13)
        elif slot in (2, 11, 17):
            await self._sell(profile, n, self._amount(), authorize=True)
        else:
            await self._sell(profile, n, self._amount(), authorize=False)
        await self._afterwards(n)

    def _amount(self) -> Decimal:
        return Decimal(self.rng.randint(500, 90_000)).scaleb(-2)

    async def _afterwards(self, n: int) -> None:
        if self.holds and n % 3 == 0:
            await self._capture(self.holds.pop(0), partial=n % 2 == 0)
        if n % 9 == 4 and self.sales:
            await self._void(self.sales.pop(self.rng.randrange(len(self.sales))), "sale")
        if n % 10 == 6 and self.sales and "adjust" not in self.without:
            await self._adjust(self.sales[self.rng.randrange(len(self.sales))])
        if n % 12 == 5 and self.captures and "void_capture" not in self.without:
            await self._void(self.captures.pop(self.rng.randrange(len(self.captures))), "capture")
        if n % 16 == 9 and self.holds:
            await self._void(self.holds.pop(), "hold")
        if n % 8 == 1 and self.refunds and "void_refund" not in self.without:
            await self._void(self.refunds.pop(self.rng.randrange(len(self.refunds))), "refund")
        if n % 25 == 0:
            await self.settle()
        if n % 7 == 3 and self.settled:
            await self._refund(self.settled.pop(self.rng.randrange(len(self.settled))), n)

    async def _sell(self, profile: str, n: int, amount: Decimal, *, authorize: bool) -> None:
        kind = "authorization" if authorize else "sale"
        invoice = f"CHAOS-{n:06d}"
        request = CustomerSaleRequest(
            customer_id=profile, amount=amount, invoice_id=invoice, description=order_text(n)
        )
        send = self.client.authorize_by_customer if authorize else self.client.sale_by_customer
        made = await self._create(lambda: send(request), invoice)
        if made is None:
            self.did[f"{kind}_declined"] += 1
            return
        self.did[kind] += 1
        self.sold_at.append(self.client.clock.now().timestamp())
        (self.holds if authorize else self.sales).append(made)

    async def _refund(self, target: int, n: int) -> None:
        partial = n % 2 == 1
        record = await self._read(target)
        if record is None or not record.settled.strip():  # only a settled sale is refundable
            return
        amount = Decimal(str(record.amount))
        amount = (amount / 2).quantize(Decimal("0.01")) if partial else amount
        reference = f"REFUND-{target}"
        request = TransactionRefundRequest(
            transaction_id=target, amount=amount, invoice_id=reference
        )
        made = await self._create(lambda: self.client.refund_for_transaction(request), reference)
        if made is not None:
            self.did["refund_partial" if partial else "refund"] += 1
            self.refunds.append(made)

    async def _capture(self, hold: int, *, partial: bool) -> None:
        record = await self._read(hold)
        if record is None:
            return
        authorized = Decimal(str(record.amount))
        amount = (authorized * Decimal("0.6")).quantize(Decimal("0.01")) if partial else None
        request = CaptureRequest(transaction_id=hold, amount=amount)

        def captured(r: TransactionRecord) -> bool:
            return r.status_code.strip().upper() == "Y" or bool(r.settled.strip())

        if await self._change(lambda: self.client.capture(request), hold, captured):
            self.did["capture_partial" if partial else "capture"] += 1
            self.captures.append(hold)

    async def _void(self, target: int, what: str) -> None:
        def voided(r: TransactionRecord) -> bool:
            return "void" in r.status_message.lower()

        request = VoidRequest(transaction_id=target)
        if await self._change(lambda: self.client.void(request), target, voided):
            self.did[f"void_{what}"] += 1

    async def _adjust(self, sale: int) -> None:
        record = await self._read(sale)
        if record is None:
            return
        before = Decimal(str(record.amount))
        amount = max(Decimal("5.00"), before + Decimal(self.rng.randint(-2000, 2000)).scaleb(-2))
        if amount in DECLINING or amount == before:
            return
        request = AdjustRequest(transaction_id=sale, amount=amount)

        def adjusted(r: TransactionRecord) -> bool:
            return Decimal(str(r.amount)) == amount

        if await self._change(lambda: self.client.adjust(request), sale, adjusted):
            self.did["adjust"] += 1

    async def settle(self) -> None:
        for _ in range(_TRIES):
            try:
                await self.client.settle()
                break
            except PayBridgeError:  # a settle whose answer was lost is sent again: settling
                await asyncio.sleep(0.2)  # twice moves no money
        else:  # never answered: what it settled, if anything, is refunded only once seen settled
            self.did["settle_unanswered"] += 1
            return
        self.settled.extend(self.sales + self.captures)
        self.sales.clear()
        self.captures.clear()
        self.refunds.clear()
        self.did["settle"] += 1

    async def _create(
        self, send: Callable[[], Awaitable[TransactionResponse]], reference: str
    ) -> int | None:
        """A new transaction: its id, or None when declined. A lost answer is looked up by the
        request's own reference before anything is sent again."""
        since = self.client.clock.now() - timedelta(minutes=5)
        last: PayBridgeError | None = None
        for _ in range(_TRIES):
            try:
                reply = await send()
                return int(reply.transaction_id)
            except DeclinedError:
                return None
            except InDoubtError as exc:
                last = exc
                found = await self._find(reference, since)
                if found:
                    return found[0].transaction_id
            except PayBridgeError as exc:
                last = exc
                await asyncio.sleep(0.1)
        raise RuntimeError(f"storefront could not make {reference}: {last}")

    async def _change(
        self,
        send: Callable[[], Awaitable[object]],
        target: int,
        happened: Callable[[TransactionRecord], bool],
    ) -> bool:
        """A change to a transaction (capture, void, adjust): sent again only when PayTrace shows
        it did not happen. False when PayTrace refuses it (e.g. already settled)."""
        for _ in range(_TRIES):
            try:
                await send()
                return True
            except (DataError, FatalError):
                record = await self._read(target)
                return record is not None and happened(record)
            except PayBridgeError:
                record = await self._read(target)
                if record is not None and happened(record):
                    self.in_doubt_resolved += 1
                    return True
                await asyncio.sleep(0.1)
        raise RuntimeError(f"storefront could not change transaction {target}")

    async def _read(self, transaction_id: int) -> TransactionRecord | None:
        for _ in range(_TRIES):
            try:
                return await self.client.export_by_id(transaction_id)
            except PayBridgeError:
                await asyncio.sleep(0.2)
        raise RuntimeError(f"storefront could not read transaction {transaction_id}")

    async def _find(self, reference: str, since: datetime) -> list[TransactionRecord]:
        for _ in range(_TRIES):
            try:
                found = await self.client.find_transactions(reference, since)
            except PayBridgeError:
                await asyncio.sleep(0.2)
                continue
            self.in_doubt_resolved += 1
            return found
        raise RuntimeError(f"could not resolve in-doubt request {reference}")
