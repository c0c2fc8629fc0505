"""Two workers screening the same fact at once: one score row, one alert, one verdict (SQLite
and PostgreSQL: a refused insert must not abort the transaction holding the other scores)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

pytest.importorskip("sklearn", reason="needs the insight extra")

import numpy as np
from sqlalchemy import func, select

from paybridge.clock import ManualClock
from paybridge.insight.features import FEATURES, Seen
from paybridge.insight.models import ModelCache, Retrainer
from paybridge.insight.screen import InsightScreen, Policy
from paybridge.insight.store import InsightStore
from paybridge.model import Money, Transaction, TransactionKind, TransactionStatus
from paybridge.o2c.screening import Verdict
from paybridge.runtime.queue import SqlQueue
from paybridge.store.database import open_engine
from paybridge.store.schema import queue
from paybridge.store.schema_insight import insight_scores

AT = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


def tx(tid: str, amount: str, kind: TransactionKind = TransactionKind.SALE) -> Transaction:
    return Transaction(
        transaction_id=tid, kind=kind, status=TransactionStatus.APPROVED,
        amount=Money(amount=Decimal(amount), currency="USD"), occurred_at=AT, customer_id="C1",
        masked_card="************5454", avs_response="No Match", client_ip="203.0.113.9",
    )  # fmt: skip


@pytest.mark.anyio
async def test_two_screens_of_one_fact_agree_and_alert_once(store_url: str) -> None:
    engine = open_engine(store_url)
    clock = ManualClock(AT)

    def screen() -> InsightScreen:
        store = InsightStore(engine, clock)
        return InsightScreen(
            store, ModelCache(store, clock), SqlQueue(engine, clock), Policy(threshold=0.19), clock
        )

    first, second = screen(), screen()
    history = [tx(str(n), "10.00") for n in range(1, 4)]
    await first.screen(history)
    spike = tx("9", "900.00")
    # Both passed the "already scored?" look before either wrote: both score and write.
    first._score([spike], first.models.current())
    second._score([spike], second.models.current())
    a, b = await first.screen([spike]), await second.screen([spike])
    assert a == b and a[0].verdict is Verdict.HOLD
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).where(insight_scores.c.key == spike.key)).scalar()
        alerts = conn.execute(select(func.count()).where(queue.c.topic == "alert")).scalar()
    assert rows == 1 and alerts == 1


@pytest.mark.anyio
async def test_declines_are_scored_but_never_held(store_url: str) -> None:
    engine = open_engine(store_url)
    clock = ManualClock(AT)
    store = InsightStore(engine, clock)
    screen = InsightScreen(
        store, ModelCache(store, clock), SqlQueue(engine, clock), Policy(threshold=0.01), clock
    )
    decline = tx("7", "2.00", TransactionKind.DECLINE)
    (verdict,) = await screen.screen([decline])
    assert verdict.verdict is Verdict.PASS
    row = store.get(decline.key)
    assert row is not None and row.state == "alerted" and row.card == "************5454"


def test_scores_with_an_older_feature_set_are_left_out_of_training(store_url: str) -> None:
    """After an upgrade that adds features, the stored rows of the older release (shorter
    vectors) neither break retraining nor the model every screen rebuilds: they are left out."""
    engine = open_engine(store_url)
    clock = ManualClock(AT)
    store = InsightStore(engine, clock)
    rng = np.random.default_rng(1)
    with engine.begin() as conn:
        for n in range(120):
            width = len(FEATURES) - 3 if n < 60 else len(FEATURES)  # the first 60: old release
            seen = Seen(key=f"paytrace:{n}:sale", at=AT, kind="sale", amount=10.0, customer="C1")
            money = {"transaction_id": str(n), "amount": "10.00", "currency": "USD"}
            store.record(
                conn, seen, money, rng.normal(size=width).tolist(), 0.1, (), "old", "clear"
            )
    said = Retrainer(store, limit=1000, seed=3).train()
    assert said.startswith("model if-") and "from 60 scores" in said, said
    model = ModelCache(store, clock).current()
    assert model.forest is not None
    (score,) = model.score_many(rng.normal(size=(1, len(FEATURES))))
    assert 0 <= score.value <= 1


@pytest.mark.anyio
async def test_a_customer_id_means_something_within_its_merchant_account_only(
    store_url: str,
) -> None:
    """Two merchant accounts (``paytrace.accounts``) each have a customer C1: one's history is
    not the other's, and a fraud confirmed on one account's transaction 9 leaves the other
    account's transaction 9 alone."""
    engine = open_engine(store_url)
    clock = ManualClock(AT)
    store = InsightStore(engine, clock)
    screen = InsightScreen(
        store, ModelCache(store, clock), SqlQueue(engine, clock), Policy(threshold=0.99), clock
    )
    await screen.screen([tx(str(n), "10.00") for n in range(1, 6)])  # the main account's C1
    retail = tx("9", "10.00").model_copy(update={"account": "retail"})
    main = tx("9", "10.00")
    await screen.screen([retail, main])
    first, second = store.get(retail.key), store.get(main.key)
    assert first is not None and second is not None
    assert first.customer == "retail/C1" and second.customer == "C1"
    sales = FEATURES.index("customer_sales")
    with engine.connect() as conn:
        rows = conn.execute(
            select(insight_scores.c.key, insight_scores.c.features).where(
                insight_scores.c.key.in_([retail.key, main.key])
            )
        )
        features = {key: json.loads(text) for key, text in rows}
    assert features[retail.key][sales] == 0 and features[main.key][sales] > 0  # log1p(5)
    with engine.begin() as conn:
        conn.execute(
            insight_scores.update()
            .where(insight_scores.c.key == retail.key)
            .values(state="confirmed")
        )
    voids = [t.model_copy(update={"kind": TransactionKind.VOID}) for t in (retail, main)]
    assert store.confirmed([(v.transaction_id, v.account) for v in voids]) == {("9", "retail")}
