"""Captures and voids of an authorization, each sent once: an intent first, a lost reply looked up by id.

PayTrace allows one capture per authorization and the capture keeps the authorization's id, so
the authorization's export record says whether a capture (or a void) happened; the intent's
key names the authorization and the invoice, so no second capture is ever planned for one
invoice. A look-up that shows nothing yet is an absence only after ``grace`` from the send; a
write this store never sent is looked up before its first send (a lost or restored store).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from paybridge.clock import Clock
from paybridge.connectors.paytrace import CaptureRequest, PayTraceClient, VoidRequest
from paybridge.connectors.paytrace.poller import change_kinds
from paybridge.errors import DataError, InDoubtError, PayBridgeError
from paybridge.keys import ORDER_CAPTURE_STEP, ORDER_VOID_STEP
from paybridge.runtime.intents import PLANNED, Intent, IntentStore, Resolution

log = logging.getLogger(__name__)


class FollowUps:
    """Capture and void PayTrace authorizations exactly once per fact key."""

    def __init__(
        self, paytrace: PayTraceClient, intents: IntentStore, clock: Clock, *, grace: timedelta
    ) -> None:
        self.paytrace = paytrace
        self.intents = intents
        self.clock = clock
        self.grace = grace

    async def capture(self, key: str, transaction_id: str, amount: Decimal) -> Resolution:
        """Capture ``amount`` of the authorization; raises ``InDoubtError`` while unknown."""
        intent = self.intents.plan(
            key, ORDER_CAPTURE_STEP, "paytrace", transaction_id,
            {"transaction_id": transaction_id, "amount": amount},
        )  # fmt: skip
        if Decimal(intent.detail["amount"]) != amount:
            raise DataError(
                f"{key} was planned for {intent.detail['amount']}, not {amount}",
                fields={"amount": "a capture's amount never changes once planned"},
            )

        async def send() -> dict[str, Any]:
            request = CaptureRequest(transaction_id=int(transaction_id), amount=amount)
            await self.paytrace.capture(request)
            return {"captured": str(amount), "at": self._now()}

        return await self._once(intent, send, "capture")

    async def void(self, key: str, transaction_id: str) -> Resolution:
        intent = self.intents.plan(
            key, ORDER_VOID_STEP, "paytrace", transaction_id, {"transaction_id": transaction_id}
        )

        async def send() -> dict[str, Any]:
            await self.paytrace.void(VoidRequest(transaction_id=int(transaction_id)))
            return {"voided": True, "at": self._now()}

        return await self._once(intent, send, "void")

    async def _once(
        self, intent: Intent, send: Callable[[], Awaitable[dict[str, Any]]], kind: str
    ) -> Resolution:
        """``execute_once``, with a look first for a write this store never sent: a new or
        restored store knows nothing of what was captured or voided before it."""
        txid = intent.reference
        if intent.status == PLANNED and intent.attempts == 0:
            earlier = await self._find(txid, kind, None, first=True)
            if earlier is not None and self.intents.complete(intent, earlier):
                log.warning("%s: %s of %s found before sending; not sent", intent.event_key,
                            kind, txid)  # fmt: skip
                return Resolution("found", earlier)
            intent = self.intents.get(intent.event_key, intent.step) or intent
        return await self.intents.execute_once(
            intent, send, lambda: self._find(txid, kind, intent.updated_at)
        )

    async def _find(
        self, transaction_id: str, kind: str, sent_at: Any, *, first: bool = False
    ) -> dict[str, Any] | None:
        try:
            record = await self.paytrace.export_by_id(int(transaction_id))
        except PayBridgeError as exc:
            raise InDoubtError(f"cannot look {transaction_id} up: {exc}",
                               reference=transaction_id) from exc  # fmt: skip
        kinds = change_kinds(record) if record is not None else []
        if kind in kinds:
            return {"found": kind, "amount": str(record.amount) if record else None,
                    "at": self._now()}  # fmt: skip
        if first:
            return None  # never sent by this store: an absence is simply "send it"
        if kind == "capture" and "void" in kinds:
            raise DataError(f"authorization {transaction_id} was voided, not captured",
                            fields={"transaction_id": "voided"})  # fmt: skip
        waited = self.clock.now() - sent_at if sent_at is not None else self.grace
        if waited < self.grace:  # the next look comes when an absence proves something
            raise InDoubtError(f"PayTrace shows no {kind} of {transaction_id} yet",
                               reference=transaction_id,
                               retry_after=(self.grace - waited).total_seconds() + 1)  # fmt: skip
        return None

    def _now(self) -> str:
        return self.clock.now().replace(microsecond=0).isoformat()
