"""The payment fact through the export template: what the poller, events, heals and billing publish."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from paybridge.connectors.paytrace import TransactionRecord
from paybridge.connectors.paytrace.poller import TransactionChange
from paybridge.keys import PAYMENT_TOPIC, UNREADABLE_TOPIC
from paybridge.mapping import CompiledTemplate, compile_text, load_templates
from paybridge.model import Transaction
from paybridge.o2c.facts import (
    EXPORT_TEMPLATE,
    FactTranslator,
    UntranslatableChange,
    translate_change,
)

LA = "America/Los_Angeles"


@pytest.fixture(scope="module")
def template() -> CompiledTemplate:
    return load_templates().get(EXPORT_TEMPLATE)


def change(kind: str = "sale", **values: Any) -> TransactionChange:
    base: dict[str, Any] = {
        "transaction_id": 7, "transaction_type": "SALE", "amount": "110.00",
        "invoice_id": " INV-1 ", "customer_id": "C-1", "status_code": "GB12",
        "status_message": "GB12", "approval_code": "A1", "description": "order 12",
        "created": {"at": "3/10/2026 10:00:00 AM"}, "settled": "3/10/2026 8:00:00 PM",
        "credit_card": {"masked_number": "************5454", "expiration_month": 12},
    }  # fmt: skip
    record = TransactionRecord.model_validate({**base, **values})
    return TransactionChange(key=f"paytrace:7:{kind}", transaction_id=7, kind=kind, record=record)


def test_a_sale_is_the_fact_the_hand_written_translation_made(template: CompiledTemplate) -> None:
    tx = translate_change(change(), currency="usd", timezone=LA, template=template)
    assert tx == Transaction(
        transaction_id="7", kind="sale", status="approved",
        amount={"amount": Decimal("110.00"), "currency": "USD"},
        occurred_at=datetime(2026, 3, 10, 17, 0, tzinfo=UTC),  # 10:00 PDT
        customer_id="C-1", invoice_id="INV-1", description="order 12", approval_code="A1",
        masked_card="************5454", settled_at=datetime(2026, 3, 11, 3, 0, tzinfo=UTC),
        batch_number="12",
    )  # fmt: skip
    assert repr(tx.amount.amount) == "Decimal('110.00')"
    assert (
        tx.occurred_at.utcoffset() is not None and tx.occurred_at.utcoffset().total_seconds() == 0
    )


@pytest.mark.parametrize(
    ("kind", "status"),
    [("sale", "approved"), ("capture", "approved"), ("refund", "approved"),
     ("authorization", "authorized"), ("void", "voided"), ("settlement", "settled"),
     ("decline", "declined")],
)  # fmt: skip
def test_the_key_and_status_follow_the_change(
    template: CompiledTemplate, kind: str, status: str
) -> None:
    tx = translate_change(change(kind), currency="USD", timezone=LA, template=template)
    assert (tx.key, tx.status) == (f"paytrace:7:{kind}", status)
    settled = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)
    assert tx.occurred_at == (
        settled if kind == "settlement" else datetime(2026, 3, 10, 17, 0, tzinfo=UTC)
    )


def test_merchant_zone_blanks_and_no_batch(template: CompiledTemplate) -> None:
    blank = change(
        customer_id="  ", invoice_id="", credit_card=None, status_code="Y", settled="",
        created={"at": "3/10/2026 10:00 AM"},
    )  # fmt: skip
    tx = translate_change(blank, currency="USD", timezone="America/New_York", template=template)
    assert tx.occurred_at == datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # 10:00 EDT
    assert (tx.customer_id, tx.invoice_id, tx.masked_card, tx.batch_number, tx.settled_at) == (
        None, None, None, None, None,
    )  # fmt: skip
    # No template handed in: the shipped one (kept for callers that pass none).
    assert translate_change(blank, currency="USD", timezone="America/New_York") == tx


def test_free_text_is_redacted_and_an_unreadable_record_keeps_its_reason(
    template: CompiledTemplate,
) -> None:
    facts = FactTranslator(template, currency="USD", timezone=LA)
    env = facts.envelope(change(description="card 4111111111111111 by phone"), "poller")
    assert env.topic == PAYMENT_TOPIC and env.key == "paytrace:7:sale"
    assert "4111111111111111" not in env.payload["description"]
    broken = change(amount=None, created={"at": "4111 1111 1111 1111"})
    env = facts.envelope(broken, "event")
    assert (env.topic, env.key, env.source) == (UNREADABLE_TOPIC, "paytrace:7:sale", "event")
    reason = env.payload["reason"]
    assert reason.startswith("cannot translate: paytrace_export_to_transaction@4")
    assert "amount.amount" in reason and "occurred_at" in reason
    assert "4111 1111 1111 1111" not in str(env.payload)  # a card typed into any field
    with pytest.raises(UntranslatableChange) as caught:
        facts.translate(broken)
    assert set(caught.value.fields) == {"amount.amount", "occurred_at"}
    assert isinstance(caught.value, ValueError)  # as the hand-written translation raised


def with_lines(template: CompiledTemplate, *lines: str) -> CompiledTemplate:
    """The template as a user's copy: version raised, lines added under ``fields:``."""
    text = Path(template.file).read_text(encoding="utf-8").replace("version: 3", "version: 4")
    compiled, problems = compile_text(text + "".join(f"{s}\n" for s in lines), "v4.yaml")
    assert compiled is not None, problems
    return compiled


def test_a_field_added_to_the_template_reaches_the_fact(template: CompiledTemplate) -> None:
    custom = with_lines(
        template,
        "  discretionary_data.Region:", "    expr: upper(discretionary_data.Region)",
        "    optional: true",
    )  # fmt: skip
    region = change(discretionary_data={"Region": "West", "Other": 5})
    tx = translate_change(region, currency="USD", timezone=LA, template=custom)
    assert tx.discretionary_data == {"Region": "WEST", "Other": "5"}
    assert translate_change(change(), currency="USD", timezone=LA, template=custom) == (
        translate_change(change(), currency="USD", timezone=LA, template=template)
    )


def test_paytraces_own_fields_reach_the_fact(template: CompiledTemplate) -> None:
    """Discretionary data (every entry, as text), the Level 2 customer reference and the shop's
    invoice id travel into the canonical Transaction with the shipped template."""
    record = change(
        discretionary_data={"Region": "West", "Seats": 5, "Blank": None, "Tags": ["a"]},
        customer_reference_id=" PO-7781 ",
    )
    tx = translate_change(record, currency="USD", timezone=LA, template=template)
    assert tx.discretionary_data == {"Region": "West", "Seats": "5", "Tags": '["a"]'}
    assert tx.customer_reference_id == "PO-7781"
    assert tx.invoice_id == "INV-1"
    bare = translate_change(change(), currency="USD", timezone=LA, template=template)
    assert bare.discretionary_data == {} and bare.customer_reference_id is None


def test_a_template_must_keep_the_changes_fact(template: CompiledTemplate) -> None:
    text = Path(template.file).read_text(encoding="utf-8").replace("version: 3", "version: 4")
    forced, problems = compile_text(
        text.replace("kind: var('kind')", "kind: \"'sale'\""), "v4.yaml"
    )
    assert forced is not None, problems
    with pytest.raises(UntranslatableChange, match="made the fact paytrace:7:sale of the change"):
        translate_change(change("refund"), currency="USD", timezone=LA, template=forced)
