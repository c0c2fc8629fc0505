"""The review queue: held payments a person releases (post) or confirms (fraud), audited.

Release moves a score from held to released (a compare-and-set, so two operators cannot both
decide) and wakes its waiting ``payment`` message; the posting itself stays the handler's, with
its intents, so a release never posts twice, whichever worker holds the message then. Confirm
moves it to confirmed: the message ends unposted; with ``void`` the PayTrace transaction is
voided first, once (an intent, looked up by its export record after an unknown outcome), and a
refusal (already settled) leaves the review open and says so. Confirm also labels any scored
transaction as fraud (a chargeback learned later), which the next retraining learns from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paybridge.connectors.paytrace import PayTraceClient
from paybridge.connectors.paytrace.accounts import PayTraceAccounts
from paybridge.connectors.paytrace.requests import VoidRequest
from paybridge.errors import DataError, PayBridgeError
from paybridge.insight.store import (
    ALERTED,
    CLEAR,
    CONFIRMED,
    HELD,
    RELEASED,
    InsightStore,
    ScoreRow,
)
from paybridge.keys import fact_account
from paybridge.runtime.intents import IntentStore
from paybridge.runtime.queue import SqlQueue
from paybridge.security.audit import AuditLog

VOID_STEP = "insight.void"


@dataclass(frozen=True)
class Decision:
    key: str
    state: str
    message: str


class ReviewDesk:
    def __init__(
        self, store: InsightStore, queue: SqlQueue, audit: AuditLog, paytrace: PayTraceClient,
        intents: IntentStore, accounts: PayTraceAccounts | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.queue = queue
        self.audit = audit
        self.paytrace = paytrace
        self.intents = intents
        # Every merchant account: a void goes to the account the transaction belongs to (a raw
        # id means something only within its own account).
        self.accounts = accounts

    def list(self, state: str | None = HELD, limit: int = 100) -> list[ScoreRow]:
        return self.store.listing(state, limit)

    def _row(self, key: str) -> ScoreRow:
        row = self.store.get(key)
        if row is None:
            raise DataError(f"key: no scored transaction {key!r}", fields={"key": key})
        return row

    def release(self, key: str, *, actor: str, note: str = "", client: str = "") -> Decision:
        """Let a held payment post; refused (DataError) unless it is held."""
        row = self._row(key)
        if not self.store.decide(key, to=RELEASED, actor=actor, note=note, from_states=[HELD]):
            raise DataError(f"key: {key} is {self._row(key).state}, not held", fields={"key": key})
        woken = self.queue.wake(key)
        self._audit(actor, "insight.release", row, client, {"note": note, "woken": woken})
        return Decision(key, RELEASED, "released: it posts on the worker's next pass")

    async def confirm(
        self, key: str, *, actor: str, note: str = "", void: bool = False, client: str = ""
    ) -> Decision:
        """Confirm fraud: a held payment ends unposted (voided in PayTrace first with ``void``)."""
        row = self._row(key)
        if row.state == CONFIRMED:
            return Decision(key, CONFIRMED, f"already confirmed by {row.decided_by}")
        if void:
            if row.state != HELD:
                raise DataError(f"key: only a held payment is voided here ({key} is {row.state})",
                                fields={"key": key})  # fmt: skip
            await self._void(row, actor, client)
        froms = [HELD, CLEAR, ALERTED, RELEASED]
        if not self.store.decide(key, to=CONFIRMED, actor=actor, note=note, from_states=froms):
            raise DataError(f"key: {key} changed meanwhile; look again", fields={"key": key})
        self.queue.wake(key)
        self._audit(actor, "insight.confirm", row, client, {"note": note, "void": void})
        was = {HELD: "it will not be posted", RELEASED: "it was released earlier and may be posted"}
        return Decision(
            key, CONFIRMED, f"confirmed as fraud; {was.get(row.state, 'labelled for retraining')}"
        )

    async def _void(self, row: ScoreRow, actor: str, client: str) -> None:
        if not row.transaction_id.isdigit():
            raise DataError(f"key: {row.key} is no PayTrace card transaction to void",
                            fields={"key": row.key})  # fmt: skip
        tid = int(row.transaction_id)
        account = fact_account(row.key)
        if account and self.accounts is None:
            raise DataError(f"key: {row.key} is of merchant account {account!r}, not configured",
                            fields={"key": row.key})  # fmt: skip
        gateway = self.accounts.named(account).client if self.accounts else self.paytrace
        intent = self.intents.plan(row.key, VOID_STEP, "paytrace", str(tid), {"by": actor})

        async def send() -> dict[str, Any]:
            reply = await gateway.void(VoidRequest(transaction_id=tid))
            return {"transaction_id": reply.transaction_id}

        async def find() -> dict[str, Any] | None:
            record = await gateway.export_by_id(tid)
            return {"transaction_id": tid} if record is not None and record.is_voided else None

        try:
            await self.intents.execute_once(intent, send, find)
        except PayBridgeError as exc:
            self._audit(actor, "insight.void", row, client, {"error": str(exc)}, outcome="refused")
            raise DataError(
                f"PayTrace did not void {tid}: {exc}. The review stays open: release it and "
                "refund instead if it has settled.", fields={"key": row.key},
            ) from exc  # fmt: skip
        self._audit(actor, "insight.void", row, client, {"transaction_id": tid})

    def _audit(
        self, actor: str, action: str, row: ScoreRow, client: str, detail: dict[str, Any],
        outcome: str = "ok",
    ) -> None:  # fmt: skip
        self.audit.record(
            actor=actor, action=action, target=row.key, client=client, outcome=outcome,
            detail={"score": row.score, "model_version": row.model_version, **detail},
        )  # fmt: skip
