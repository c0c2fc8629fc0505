"""Insight's rows: scores (written once per fact), the history they are read against, reviews
(compare-and-set from held), training rows and model versions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from paybridge.clock import Clock
from paybridge.insight.features import FEATURES, Seen
from paybridge.keys import fact_account
from paybridge.store.schema_insight import insight_models, insight_scores

CLEAR, ALERTED, HELD, RELEASED, CONFIRMED = "clear", "alerted", "held", "released", "confirmed"
STATES = (CLEAR, ALERTED, HELD, RELEASED, CONFIRMED)


@dataclass(frozen=True)
class ScoreRow:
    """A recorded score and its review state, as the review queue shows it."""

    id: int
    key: str
    transaction_id: str
    kind: str
    seen_at: datetime
    amount: str
    currency: str
    customer: str
    card: str
    score: float
    reasons: list[str]
    model_version: str
    state: str
    decided_by: str | None
    decided_at: datetime | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["seen_at"] = self.seen_at.isoformat()
        out["decided_at"] = self.decided_at.isoformat() if self.decided_at else None
        return out


def _row(r: Any) -> ScoreRow:
    return ScoreRow(
        r.id, r.key, r.transaction_id, r.kind, r.seen_at, r.amount, r.currency, r.customer,
        r.card, r.score, json.loads(r.reasons), r.model_version, r.state, r.decided_by,
        r.decided_at, r.note,
    )  # fmt: skip


class InsightStore:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def get_many(self, keys: Sequence[str]) -> dict[str, ScoreRow]:
        if not keys:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(insight_scores).where(insight_scores.c.key.in_(keys)))
            return {r.key: _row(r) for r in rows}

    def confirmed(self, transactions: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Of ``transactions`` (raw id, merchant account), those a person confirmed as fraud
        (any of their facts); a raw id means something within its own account only."""
        if not transactions:
            return set()
        c = insight_scores.c
        ids = sorted({tid for tid, _account in transactions})
        query = select(c.transaction_id, c.key).where(
            c.transaction_id.in_(ids), c.state == CONFIRMED
        )
        with self.engine.connect() as conn:
            found = {(str(r.transaction_id), fact_account(r.key)) for r in conn.execute(query)}
        return found & set(transactions)

    def get(self, key: str) -> ScoreRow | None:
        return self.get_many([key]).get(key)

    def history(self, seen: Sequence[Seen], days: int) -> list[Seen]:
        """Earlier transactions of the customers, cards and IPs in ``seen``, oldest first."""
        since = min(s.at for s in seen) - timedelta(days=days)
        c = insight_scores.c
        match = []
        for column, values in ((c.customer, {s.customer for s in seen}), (c.card, {s.card for s in seen}), (c.ip, {s.ip for s in seen})):  # fmt: skip
            values.discard("")
            if values:
                match.append(column.in_(sorted(values)))
        if not match:
            return []
        keys = {s.key for s in seen}
        query = select(c.key, c.seen_at, c.kind, c.amount, c.customer, c.card, c.ip, c.signals)
        query = query.where(c.seen_at >= since, or_(*match)).order_by(c.seen_at, c.id)
        with self.engine.connect() as conn:
            return [_seen(r) for r in conn.execute(query) if r.key not in keys]

    def record(
        self, conn: Connection, seen: Seen, tx: dict[str, str], features: list[float],
        score: float, reasons: Sequence[str], version: str, state: str,
    ) -> bool:  # fmt: skip
        """Insert the score of ``seen`` unless its key has one; False when it had."""
        values = {
            "key": seen.key, "transaction_id": tx["transaction_id"], "kind": seen.kind,
            "seen_at": seen.at, "amount": tx["amount"], "currency": tx["currency"],
            "customer": seen.customer, "card": seen.card, "ip": seen.ip,
            "signals": json.dumps(_signals(seen), sort_keys=True),
            "features": json.dumps([round(f, 6) for f in features]), "score": score,
            "reasons": json.dumps(list(reasons)), "model_version": version, "state": state,
            "scored_at": self.clock.now(),
        }  # fmt: skip
        try:
            with conn.begin_nested():
                conn.execute(insert(insight_scores).values(**values))
        except IntegrityError:
            return False
        return True

    def decide(
        self, key: str, *, to: str, actor: str, note: str, from_states: Sequence[str]
    ) -> bool:
        """Move a score's state from one of ``from_states`` to ``to``: True when this call did."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(insight_scores)
                .where(insight_scores.c.key == key, insight_scores.c.state.in_(from_states))
                .values(state=to, decided_by=actor, decided_at=self.clock.now(), note=note[:2000])
            )
            return bool(result.rowcount)

    def listing(self, state: str | None, limit: int) -> list[ScoreRow]:
        query = select(insight_scores).order_by(insight_scores.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(insight_scores.c.state == state)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def training(
        self, limit: int
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], int, int]:
        """The newest ``limit`` rows' features, whether each is confirmed fraud, and the id range."""
        c = insight_scores.c
        with self.engine.connect() as conn:
            last = conn.execute(select(func.max(c.id))).scalar() or 0
        return self.training_range(max(1, last - limit + 1), last)

    def training_range(
        self, first: int, last: int
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], int, int]:
        c = insight_scores.c
        query = select(c.features, c.state).where(c.id >= first, c.id <= last).order_by(c.id)
        with self.engine.connect() as conn:
            rows = [(json.loads(r.features), r.state == CONFIRMED) for r in conn.execute(query)]
        # Rows scored by a release with other features (before an upgrade) are left out: a
        # model is trained on, and scores, vectors of today's ``FEATURES`` only.
        kept = [(f, confirmed) for f, confirmed in rows if len(f) == len(FEATURES)]
        matrix = np.array([f for f, _ in kept], dtype=np.float64).reshape(-1, len(FEATURES))
        labels = np.array([confirmed for _, confirmed in kept], dtype=bool)
        return matrix, labels, first, last

    def save_model(
        self, version: str, first: int, last: int, rows: int, frauds: int, seed: int
    ) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(insight_models.c.version).where(insight_models.c.version == version)).first():  # fmt: skip
                return
            conn.execute(insert(insight_models).values(
                version=version, trained_at=self.clock.now(), first_id=first, last_id=last,
                rows=rows, frauds=frauds, seed=seed,
            ))  # fmt: skip

    def latest_model(self) -> dict[str, Any] | None:
        query = select(insight_models).order_by(insight_models.c.trained_at.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return dict(row._mapping) if row else None


def _signals(seen: Seen) -> dict[str, Any]:
    return {
        "avs": seen.avs, "csc": seen.csc, "bin_country": seen.bin_country,
        "billing_country": seen.billing_country, "local_hour": seen.local_hour,
    }  # fmt: skip


def _seen(r: Any) -> Seen:
    s = json.loads(r.signals)
    return Seen(
        key=r.key, at=r.seen_at, kind=r.kind, amount=float(r.amount), customer=r.customer,
        card=r.card, ip=r.ip, avs=s.get("avs", ""), csc=s.get("csc", ""),
        bin_country=s.get("bin_country", ""), billing_country=s.get("billing_country", ""),
        local_hour=int(s.get("local_hour", 12)),
    )  # fmt: skip
