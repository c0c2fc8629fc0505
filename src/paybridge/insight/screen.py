"""The screen o2c asks before posting: score each transaction once, record it, act by policy.

A transaction is scored the first time it is seen (poller, signed event, own charge: all reach
the ``payment`` handler) against the history of its customer, card and IP in the store, and the
score, reasons, model version and state are written with its alert in one database
transaction. Every later look (a retry, a replay, a second worker, a held message's recheck)
reads that row: the verdict changes only when a person decides.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

from paybridge.clock import Clock
from paybridge.insight.features import History, Seen
from paybridge.insight.model import Model
from paybridge.insight.models import ModelCache
from paybridge.insight.store import ALERTED, CLEAR, CONFIRMED, HELD, InsightStore, ScoreRow
from paybridge.keys import account_transaction
from paybridge.model import Transaction
from paybridge.o2c.screening import PASSED, Screened, Verdict
from paybridge.runtime.alerts import alert_envelope
from paybridge.runtime.envelope import Envelope
from paybridge.runtime.queue import SqlQueue
from paybridge.security.cardguard import redact_text

log = logging.getLogger(__name__)
ALERT_KIND = "payment_held"


@dataclass(frozen=True)
class Policy:
    threshold: float = 0.5
    action: str = "hold"  # hold | alert
    hold_kinds: frozenset[str] = frozenset({"sale", "capture", "refund"})
    recheck_seconds: float = 30.0
    history_days: int = 30
    timezone: str = "America/Los_Angeles"
    bin_countries: dict[str, str] = field(default_factory=dict)

    def state_for(self, kind: str, score: float) -> str:
        if score < self.threshold:
            return CLEAR
        return HELD if self.action == "hold" and kind in self.hold_kinds else ALERTED


class InsightScreen:
    """``o2c.screening.PaymentScreen`` backed by the model, the store and the alert topic."""

    def __init__(
        self, store: InsightStore, models: ModelCache, queue: SqlQueue, policy: Policy, clock: Clock
    ) -> None:
        self.store = store
        self.models = models
        self.queue = queue
        self.policy = policy
        self.clock = clock

    async def screen(self, transactions: Sequence[Transaction]) -> list[Screened]:
        if not transactions:
            return []
        known = self.store.get_many([tx.key for tx in transactions])
        fresh = [tx for tx in transactions if tx.key not in known]
        if fresh:
            # A new model version is rebuilt here (seconds of CPU): off the event loop.
            self._score(fresh, await asyncio.to_thread(self.models.current))
            known = self.store.get_many([tx.key for tx in transactions])
        return [self._verdict(known.get(tx.key)) for tx in transactions]

    def seen(self, tx: Transaction) -> Seen:
        """The scorer's view of a transaction: masked card, IP and the processor's words."""
        card = redact_text(tx.masked_card or "")[:40]  # masked already; the guard makes sure
        digits = card[:6]
        country = next(
            (c for p, c in sorted(self.policy.bin_countries.items(), key=lambda i: -len(i[0]))
             if digits.isdigit() and digits.startswith(p)), "",
        )  # fmt: skip
        return Seen(
            key=tx.key, at=tx.occurred_at, kind=tx.kind.value, amount=float(tx.amount.amount),
            # A customer id means something within its merchant account only: another
            # account's customer of the same id has a history of its own.
            customer=account_transaction(tx.customer_id, tx.account) if tx.customer_id else "",
            card=card, ip=tx.client_ip, avs=tx.avs_response,
            csc=tx.csc_response, bin_country=country, billing_country=tx.billing_country,
            local_hour=tx.occurred_at.astimezone(ZoneInfo(self.policy.timezone)).hour,
        )  # fmt: skip

    def _score(self, fresh: Sequence[Transaction], model: Model) -> None:
        views = [self.seen(tx) for tx in fresh]
        history = History()
        for earlier in self.store.history(views, self.policy.history_days):
            history.add(earlier)
        vectors = []
        for view in sorted(views, key=lambda v: v.at):
            vectors.append((view, history.features(view)))
            history.add(view)
        scores = model.score_many(np.array([v for _, v in vectors]))
        by_key = {tx.key: tx for tx in fresh}
        # The void of a transaction a person confirmed as fraud is that person's own act (review
        # confirm --void): recorded, never alerted again.
        decided = self.store.confirmed(
            [(tx.transaction_id, tx.account) for tx in fresh if tx.kind.value == "void"]
        )
        with self.store.engine.begin() as conn:
            for (view, vector), score in zip(vectors, scores, strict=True):
                tx = by_key[view.key]
                state = self.policy.state_for(view.kind, score.value)
                if view.kind == "void" and (tx.transaction_id, tx.account) in decided:
                    state = CLEAR
                money = {"transaction_id": tx.transaction_id, "amount": str(tx.amount.amount),
                         "currency": tx.amount.currency}  # fmt: skip
                new = self.store.record(conn, view, money, vector.tolist(), score.value,
                                        score.reasons, score.model_version, state)  # fmt: skip
                if new and state in (HELD, ALERTED):
                    self.queue.publish(conn, [self._alert(tx, state, score.value, score.reasons)])

    def _alert(self, tx: Transaction, state: str, score: float, reasons: Sequence[str]) -> Envelope:
        what = "held for review" if state == HELD else "scored above the threshold"
        return alert_envelope(
            ALERT_KIND, tx.key,
            f"PayTrace {tx.kind.value} {tx.transaction_id} ({tx.amount.amount} "
            f"{tx.amount.currency}) {what}: risk {score:.2f}; " + "; ".join(reasons[:3]),
            at=self.clock.now(), severity="warning",
            facts={"transaction": tx.transaction_id, "score": f"{score:.2f}", "state": state},
        )  # fmt: skip

    def _verdict(self, row: ScoreRow | None) -> Screened:
        if row is None:  # cannot happen after _score; posting as usual is never the unsafe side
            return Screened(Verdict.HOLD, "not scored yet", 1.0)
        reasons = "; ".join(row.reasons[:3]) or "no reason given"
        if row.state == HELD:
            return Screened(
                Verdict.HOLD, f"risk {row.score:.2f} ({reasons})", self.policy.recheck_seconds
            )
        if row.state == CONFIRMED and row.kind in self.policy.hold_kinds:
            return Screened(
                Verdict.WITHHOLD, f"confirmed fraud by {row.decided_by}: {row.note or ''}"
            )
        return PASSED
