"""The payment index follows the queue's ``payment`` messages: exact Decimal amounts, a message
committed late behind a newer one still found, unreadable payloads left out, and the activity
figures (lines per hour, latency) read from the ledger by time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert

from paybridge.console.services import reason_group
from paybridge.keys import LINE_STEP, PAYMENT_TOPIC
from paybridge.model.money import Money
from paybridge.model.transaction import Transaction, TransactionKind, TransactionStatus
from paybridge.ops.activity import Activity, hours_between, quantile
from paybridge.ops.payments import PaymentIndex, PaymentQuery
from paybridge.store import open_engine
from paybridge.store.schema import ledger, queue

T0 = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_engine(store_url)


def message(
    n: int, amount: str, *, status: str = "done", currency: str = "USD"
) -> dict[str, object]:
    tx = Transaction(
        transaction_id=str(100 + n), kind=TransactionKind.SALE, status=TransactionStatus.APPROVED,
        amount=Money.of(amount, currency), occurred_at=T0 + timedelta(minutes=n),
        customer_id=f"C{n % 2}", invoice_id=f"INV-{n}",
    )  # fmt: skip
    return {
        "id": n, "topic": PAYMENT_TOPIC, "key": tx.key, "partition_key": f"paytrace:{100 + n}",
        "payload": json.dumps(tx.model_dump(mode="json")), "status": status, "attempts": 1,
        "not_before": T0, "created_at": T0, "updated_at": T0, "replays": 0,
    }  # fmt: skip


def add(engine: Engine, *rows: dict[str, object]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(queue), list(rows))


def test_amounts_are_exact_and_filters_combine(engine: Engine) -> None:
    add(engine, message(1, "0.10"), message(2, "1234.5"), message(3, "12", currency="JPY"),
        message(4, "0.125", currency="KWD"))  # fmt: skip
    index = PaymentIndex(engine)
    rows, more = index.search(PaymentQuery())
    assert not more and [r.transaction_id for r in rows] == ["104", "103", "102", "101"]
    shown = {r.transaction_id: (str(r.amount.amount), r.amount.currency) for r in rows}
    assert shown == {"101": ("0.10", "USD"), "102": ("1234.50", "USD"), "103": ("12", "JPY"),
                     "104": ("0.125", "KWD")}  # fmt: skip
    found, _ = index.search(PaymentQuery(amount_min=Decimal("0.1"), amount_max=Decimal("0.125")))
    assert {r.transaction_id for r in found} == {"101", "104"}
    found, _ = index.search(PaymentQuery(customer_id="C0", since=T0 + timedelta(minutes=3)))
    assert [r.transaction_id for r in found] == ["104"]
    page, more = index.search(PaymentQuery(limit=3))
    rest, last = index.search(PaymentQuery(limit=3, offset=3))
    assert (
        more
        and not last
        and [r.transaction_id for r in page + rest] == ["104", "103", "102", "101"]
    )


def test_a_message_committed_behind_a_newer_one_is_still_indexed(engine: Engine) -> None:
    index = PaymentIndex(engine)
    add(engine, message(5, "5.00"))
    assert index.catch_up() == 1
    add(engine, message(3, "3.00"), {**message(4, "4.00"), "payload": "{not json"})
    assert index.catch_up() == 1  # 3 found behind 5; 4 cannot be read and is left out
    assert index.catch_up() == 0
    assert {r.transaction_id for r in index.search(PaymentQuery())[0]} == {"103", "105"}


def test_status_comes_from_the_queue_and_the_ledger(engine: Engine) -> None:
    add(engine, message(1, "1.00"), message(2, "2.00", status="dead"), message(3, "3.00"),
        message(4, "4.00", status="ready"))  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(ledger).values(
            event_key="paytrace:101:sale", step=LINE_STEP, system="d365", entity="lines",
            entity_id="usmf/J/1", status="posted", attempts=1, detail="{}",
            at=T0 + timedelta(minutes=1, seconds=42),
        ))  # fmt: skip
    index = PaymentIndex(engine)
    status = {r.transaction_id: r.status for r in index.search(PaymentQuery())[0]}
    assert status == {"101": "posted", "102": "dead", "103": "done", "104": "waiting"}
    for wanted in ("posted", "dead", "done", "waiting"):
        found = index.search(PaymentQuery(status=wanted))[0]
        assert [r.status for r in found] == [wanted]
    activity = Activity(engine)
    hours = hours_between(T0, T0 + timedelta(hours=2))
    assert activity.posted_per_hour(hours) == {hours[0]: 1, hours[1]: 0}
    latency = activity.latency(T0)
    assert latency.lines == 1 and latency.p50_seconds == latency.p99_seconds == 42.0


def test_quantiles_and_reason_groups() -> None:
    assert quantile([], 0.5) is None
    assert (
        quantile([3.0, 1.0, 2.0], 0.5) == 2.0
        and quantile([float(n) for n in range(100)], 0.99) == 98.0
    )
    a = reason_group(
        "no D365 customer for PayTrace customer 'NOBODY-7'; link one with `x` [id: 12]"
    )
    b = reason_group("no D365 customer for PayTrace customer 'C-2'; link one with `x` [id: 99]")
    assert a == b and "NOBODY" not in a
