"""EventIntake with a scripted PayTrace: what it publishes, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from paybridge.clock import ManualClock
from paybridge.connectors.paytrace import TransactionRecord
from paybridge.mapping import load_templates
from paybridge.o2c.events import ClaimRefused, EventIntake, InboundEvent, parse_event
from paybridge.o2c.facts import EXPORT_TEMPLATE, PAYMENT_TOPIC, UNREADABLE_TOPIC, FactTranslator
from paybridge.runtime.queue import SqlQueue
from paybridge.store import open_engine

pytestmark = pytest.mark.anyio


def record(tid: int, **values: Any) -> TransactionRecord:
    base: dict[str, Any] = {
        "transaction_id": tid, "transaction_type": "SALE", "amount": "110.00",
        "invoice_id": "INV-1", "customer_id": "C-1", "status_code": "P",
        "status_message": "Pending settlement", "approval_code": "A1",
        "created": {"at": "3/10/2026 10:00:00 AM"},
        "credit_card": {"masked_number": "************5454"},
    }  # fmt: skip
    return TransactionRecord.model_validate({**base, **values})


class ScriptedPayTrace:
    def __init__(self, *records: TransactionRecord) -> None:
        self.records = {r.transaction_id: r for r in records}
        self.asked: list[int] = []

    async def export_by_id(self, transaction_id: int) -> TransactionRecord | None:
        self.asked.append(transaction_id)
        return self.records.get(transaction_id)


def intake(tmp_path: Path, *records: TransactionRecord) -> tuple[EventIntake, SqlQueue]:
    engine = open_engine(f"sqlite:///{tmp_path / 'pb.db'}")
    queue = SqlQueue(engine, ManualClock())
    paytrace = ScriptedPayTrace(*records)
    facts = FactTranslator(
        load_templates().get(EXPORT_TEMPLATE), currency="USD", timezone="America/Los_Angeles"
    )
    return EventIntake(paytrace, queue, engine, facts), queue


async def test_a_settled_sale_publishes_sale_and_settlement_as_the_poller_would(
    tmp_path: Path,
) -> None:
    settled = record(7, status_code="GB12", status_message="GB12", settled="3/10/2026 8:00:00 PM")
    events, queue = intake(tmp_path, settled)
    result = await events.accept(InboundEvent(type="payment.processed", transaction_id=7))
    assert [(f.key, f.new) for f in result.facts] == [
        ("paytrace:7:sale", True), ("paytrace:7:settlement", True),
    ]  # fmt: skip
    payload = queue.payload("paytrace:7:sale")
    assert payload is not None and payload["amount"] == {"amount": "110.00", "currency": "USD"}
    assert payload["occurred_at"].startswith("2026-03-10T17:00:00")  # 10:00 PDT as UTC
    assert payload["masked_card"] == "************5454"
    again = await events.accept(InboundEvent(type="payment.processed", transaction_id=7))
    assert [f.new for f in again.facts] == [False, False]


async def test_a_refund_claim_needs_a_refund(tmp_path: Path) -> None:
    events, queue = intake(tmp_path, record(8), record(9, transaction_type="REFUND"))
    with pytest.raises(ClaimRefused) as caught:
        await events.accept(InboundEvent(type="payment.refunded", transaction_id=8))
    assert caught.value.fields == {"type": "PayTrace shows this transaction as sale"}
    assert queue.stats().ready == 0
    ok = await events.accept(InboundEvent(type="payment.refunded", transaction_id=9))
    assert [f.kind for f in ok.facts] == ["refund"]


async def test_an_unknown_transaction_is_refused_naming_the_field(tmp_path: Path) -> None:
    events, _ = intake(tmp_path)
    with pytest.raises(ClaimRefused) as caught:
        await events.accept(InboundEvent(type="payment.voided", transaction_id=404))
    assert "transaction_id" in caught.value.fields


async def test_an_untranslatable_record_is_kept_as_unreadable(tmp_path: Path) -> None:
    broken = record(10, created={"at": "yesterday-ish"})
    events, queue = intake(tmp_path, broken)
    result = await events.accept(InboundEvent(type="payment.processed", transaction_id=10))
    assert result.facts[0].key == "paytrace:10:sale"
    with queue.engine.connect() as conn:
        from sqlalchemy import select

        from paybridge.store.schema import inbox
        from paybridge.store.schema import queue as queue_table

        topic = conn.execute(select(queue_table.c.topic)).scalar()
        source = conn.execute(select(inbox.c.source)).scalar()
    assert topic == UNREADABLE_TOPIC != PAYMENT_TOPIC and source == "event"
    payload = queue.payload("paytrace:10:sale")
    assert payload is not None and payload["record"]["created"]["at"] == "yesterday-ish"
    assert "not a PayTrace date-time" in payload["reason"] and "occurred_at" in payload["reason"]


def test_parse_event_refuses_extra_fields_and_bad_types() -> None:
    assert parse_event(b'{"type":"payment.voided","transaction_id":3}').transaction_id == 3
    for bad in ({"type": "payment.processed", "transaction_id": 0}, {"type": "x"}):
        with pytest.raises(ValidationError):
            parse_event(json.dumps(bad).encode())
