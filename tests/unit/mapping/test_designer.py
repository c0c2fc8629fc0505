"""The designer's pure half: source fields of a sample, what the three controls assign, a
template rewritten as a new version (compiling), and the diff between versions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from paybridge.mapping import SHIPPED_DIR, TemplateError, compile_text
from paybridge.mapping.designer import (
    assignment,
    new_version_text,
    source_fields,
    source_path,
    text_diff,
)

LINE = (SHIPPED_DIR / "payment_to_customer_payment_line.yaml").read_text(encoding="utf-8")


def test_source_fields_flatten_a_sample_in_order() -> None:
    sample = {"amount": {"amount": Decimal("12.30"), "currency": "USD"}, "kind": "sale",
              "discretionary_data": {}, "tags": ["a"]}  # fmt: skip
    assert source_fields(sample) == [
        ("amount.amount", "12.30"), ("amount.currency", '"USD"'), ("kind", '"sale"'),
        ("discretionary_data", "{}"), ("tags", '["a"]'),
    ]  # fmt: skip


def test_a_picked_source_wins_and_odd_names_are_quoted() -> None:
    assert assignment("description", "upper", "concat('x')") == "upper(description)"
    assert assignment("", "upper", "concat('x', kind)") == "concat('x', kind)"
    assert assignment("", "", "") == ""
    assert source_path("discretionary_data.Region Code") == 'discretionary_data."Region Code"'
    assert source_path("a.2x") == 'a."2x"'


def test_a_new_version_keeps_what_it_does_not_change_and_compiles() -> None:
    text = new_version_text(
        LINE, 2,
        {"PaymentNotes": "upper(description)", "CreditAmount": "var('amount')",
         "PaymentMethodName": None},
        "from the console",
    )  # fmt: skip
    assert text.startswith("# payment_to_customer_payment_line version 2: from the console\n")
    template, problems = compile_text(text, "draft")
    assert template is not None, problems
    rules = {rule.name: rule for rule in template.fields}
    assert template.version == 2 and rules["PaymentNotes"].expression == "upper(description)"
    assert rules["CreditAmount"].expression == "var('amount')"
    assert rules["CreditAmount"].optional and rules["CreditAmount"].declared_type == "decimal"
    assert "PaymentMethodName" not in rules
    assert rules["PaymentReference"].expression == "transaction_id"


def test_not_a_template_is_refused() -> None:
    with pytest.raises(TemplateError):
        new_version_text("fields: [", 2, {})
    with pytest.raises(TemplateError):
        new_version_text("name: x\n", 2, {})


def test_the_diff_shows_meaning_not_layout() -> None:
    new = new_version_text(LINE, 2, {"PaymentNotes": "upper(description)"})
    diff = text_diff(LINE, new, "v1", "v2")
    changed = [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == ["+  PaymentNotes: upper(description)"]
    assert text_diff(LINE, new_version_text(LINE, 3, {}), "v1", "v3") == ""
