"""Preview with --explain and the versioned dry run between two template versions."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from paybridge.mapping import (
    compile_text,
    dry_run_diff,
    format_diff,
    load_templates,
    preview,
    render_json,
)
from tests.unit.mapping.samples import PAYMENT_CONTEXT, transaction


def test_preview_prints_record_and_errors() -> None:
    template = load_templates().get("payment_to_customer_payment_line")
    text = preview(template, transaction(), context=PAYMENT_CONTEXT)
    assert text.startswith(
        "template payment_to_customer_payment_line@1: canonical.Transaction -> "
        "d365.CustomerPaymentJournalLines"
    )
    assert '"CreditAmount": 51.88,' in text  # an exact number, not a float or a string
    assert "errors: none" in text
    assert "explain:" not in text
    broken = preview(template, transaction(), context={})
    assert "errors:\n  dataAreaId: no value: ctx('company') produced null" in broken


def test_preview_explain_shows_expression_and_value_per_field() -> None:
    template = load_templates().get("payment_to_customer_payment_line")
    text = preview(template, transaction(kind="refund"), context=PAYMENT_CONTEXT, explain=True)
    assert "  let side = lookup('payment_journal_side', kind)\n      -> \"debit\" (let)" in text
    assert (
        "  DebitAmount = if(var('side') == 'debit', var('amount'))\n      -> 51.88 (expression)"
        in text
    )
    assert "  LineNumber = ctx('line_number')\n      -> null (omitted (optional, no value))" in text
    failing = preview(
        template, transaction(kind="authorization"), context=PAYMENT_CONTEXT, explain=True
    )
    assert (
        "  let side = lookup('payment_journal_side', kind)\n      -> ERROR 'authorization'"
        in failing
    )
    assert "CreditAmount: let credit: let side: 'authorization' is not in table" in failing


def test_explain_marks_defaults() -> None:
    text = (
        "name: t\nversion: 1\nsource: d365.X\ntarget: d365.Y\n"
        "fields:\n  A:\n    expr: a\n    default: n/a\n"
    )
    template, _ = compile_text(text)
    assert template is not None
    result = template.apply({"a": ""}, explain=True)
    assert result.record == {"A": "n/a"}
    assert result.explain[0].note == "default"


def test_render_json_keeps_decimals_exact() -> None:
    rendered = render_json({"a": Decimal("0.10"), "b": [1, "x", None, True], "c": {}})
    assert (
        rendered
        == '{\n  "a": 0.10,\n  "b": [\n    1,\n    "x",\n    null,\n    true\n  ],\n  "c": {}\n}'
    )


def test_dry_run_diff_between_versions(tmp_path: Path) -> None:
    v1 = load_templates().get("payment_to_customer_payment_line")
    text = Path(v1.file).read_text().replace("version: 1", "version: 2")
    text = text.replace(
        "TransactionText: join_nonempty(' ', 'PayTrace', kind,",
        "TransactionText: join_nonempty(' ', 'Card', kind,",
    )
    text = text.replace(
        "  PaymentMethodName:\n    expr: ctx('payment_method_name')\n    optional: true\n", ""
    )
    text += "  PaymentNotes:\n    expr: invoice_id\n    optional: true\n"
    v2, problems = compile_text(text, str(tmp_path / "v2.yaml"))
    assert v2 is not None, problems
    diffs = dry_run_diff(v1, v2, transaction(), context=PAYMENT_CONTEXT)
    by_field = {d.field: d for d in diffs}
    assert set(by_field) == {"TransactionText", "PaymentMethodName", "PaymentNotes"}
    assert by_field["TransactionText"].change == "changed"
    assert by_field["PaymentMethodName"].change == "removed"
    assert by_field["PaymentNotes"].change == "added"
    report = format_diff(v1, v2, diffs)
    assert report.startswith(
        "dry run payment_to_customer_payment_line@1 -> payment_to_customer_payment_line@2: 3 field(s) differ"
    )
    assert (
        '    - "PayTrace sale 125391271 xxxx5439"\n    + "Card sale 125391271 xxxx5439"' in report
    )
    assert dry_run_diff(v1, v1, transaction(), context=PAYMENT_CONTEXT) == []
    assert format_diff(v1, v1, []).endswith("no differences")


def test_dry_run_diff_shows_errors_and_nested_fields() -> None:
    shipped = load_templates()
    old = shipped.get("invoice_to_paytrace_sale")
    text = Path(old.file).read_text().replace("version: 1", "version: 2")
    text = text.replace("expect(CurrencyCode, ['USD'])", "expect(CurrencyCode, ['CAD'])")
    text = text.replace("  tax_amount:", "  discretionary_data.Company: dataAreaId\n  tax_amount:")
    new, problems = compile_text(text, "v2.yaml")
    assert new is not None, problems
    from tests.unit.mapping.samples import D365_INVOICE

    diffs = {d.field: d for d in dry_run_diff(old, new, D365_INVOICE)}
    assert diffs["amount"].old == "4309.50"
    assert "not one of ['CAD']" in (diffs["amount"].new_error or "")
    assert diffs["discretionary_data.Company"].change == "added"
    assert diffs["discretionary_data.Company"].new == "usmf"
    assert "+ ERROR" in format_diff(old, new, list(diffs.values()))
