"""Loading: schema, expression and function checks with file:line:field, all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from paybridge.errors import ConfigError
from paybridge.mapping import (
    SHIPPED_DIR,
    TemplateError,
    TemplateSet,
    compile_text,
    load_overlay,
    load_template,
    load_templates,
    origin,
)

GOOD = """\
name: demo
version: 1
source: canonical.Transaction
target: d365.CustomerPaymentJournalLines
fields:
  PaymentReference: transaction_id
"""

BROKEN = """\
name: Demo Template
version: 0
source: canonical.Transaction
target: d365.CustomerPaymentJournalLines
context:
  company: legal entity
colour: blue
fields:
  dataAreaId: ctx('compnay')
  CurrencyCode: amount.currency ||
  CreditAmount: round_mony(amount.amount, amount.currency)
  DebitAmount: lookup('no_such_table', kind)
  TransactionText: concat()
  AccountType:
    expr: "'Cust'"
    typo: true
  IsPrepayment:
    type: text
"""


def test_a_good_template_loads() -> None:
    template, problems = compile_text(GOOD, "good.yaml")
    assert problems == []
    assert template is not None
    assert template.ref == "demo@1"
    assert template.apply({"transaction_id": "7"}).record == {"PaymentReference": "7"}


def test_every_problem_is_reported_with_file_line_and_field() -> None:
    template, problems = compile_text(BROKEN, "broken.yaml")
    assert template is None
    found = {(p.line, p.field) for p in problems}
    text = "\n".join(str(p) for p in problems)
    assert (1, "name") in found
    assert (2, "version") in found
    assert (7, "colour") in found
    assert "broken.yaml:9: dataAreaId: ctx('compnay') is not declared under 'context:'" in text
    assert "(did you mean 'company'?)" in text
    assert "broken.yaml:10: CurrencyCode: invalid expression" in text
    assert (
        "broken.yaml:11: CreditAmount: unknown function round_mony() (did you mean round_money()?)"
        in text
    )
    assert "broken.yaml:12: DebitAmount: unknown lookup table 'no_such_table'" in text
    assert "broken.yaml:13: TransactionText: concat() takes 1 to any arguments, got 0" in text
    assert "broken.yaml:16: AccountType.typo: unknown key" in text
    assert any(p.field == "IsPrepayment" and "'expr' is required" in p.message for p in problems)
    assert any(p.field == "IsPrepayment.type" for p in problems)
    assert len(problems) >= 11


def test_load_template_raises_a_config_error_listing_all(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    with pytest.raises(TemplateError) as caught:
        load_template(path)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.reaction == "fix-config"
    message = str(caught.value)
    assert f"{path}:9: dataAreaId" in message
    assert f"{path}:11: CreditAmount" in message
    assert message.startswith(f"{len(caught.value.problems)} template problems")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nversion: 1\nfields: [a\n", ":4: invalid YAML"),
        ("", ":1: the file is empty"),
        ("- a\n- b\n", "a template is a mapping"),
        (GOOD + "  PaymentReference: kind\n", ":7: PaymentReference: duplicate key"),
        (GOOD.replace("d365.Customer", "erp.Customer"), ":4: target: unknown target system 'erp'"),
        (GOOD.replace("canonical.Transaction", "canonical.Nope"), "unknown canonical model 'Nope'"),
        (GOOD.replace("  PaymentReference", "  Payment.Reference"), "D365 fields are flat"),
        (GOOD + "  x: var('nope')\n", "var('nope') names no earlier 'let:' value"),
        (
            GOOD + "  x: enrich('customer_by_acount', a)\n",
            "unknown enrich kind 'customer_by_acount'",
        ),
        (GOOD + "  x: lookup(t, a)\n", "lookup() needs the table name as a quoted string"),
        (GOOD + "  x: lengthh(a)\n", "unknown function lengthh() (did you mean length()?)"),
        (GOOD + "  x: length(a, b)\n", "length() takes 1 arguments, got 2"),
        (GOOD + "  y:\n    expr: a\n    optional: maybe\n", "optional is true or false"),
        (GOOD + "  z: 12\n", "a field is an expression string or a mapping"),
        (GOOD + "  w: ''\n", "expression is empty"),
    ],
)
def test_single_problems(text: str, expected: str) -> None:
    template, problems = compile_text(text, "t.yaml")
    assert template is None
    assert any(expected in str(p) for p in problems), [str(p) for p in problems]


@pytest.mark.parametrize(
    ("target", "field", "expected"),
    [
        ("paytrace.sale_by_customer", "credit_card.number", "never carry card"),
        ("paytrace.sale_by_customer", "csc", "never carry card"),
        ("paytrace.customer_create", "check.account_number", "never carry card"),
        ("paytrace.sale_by_customer", "colour", "has no field 'colour'"),
        ("paytrace.sale_by_customer", "billing_address.planet", "billing_address takes one of"),
        ("paytrace.sale_by_customer", "discretionary_data.a.b", "one level of names"),
        ("paytrace.capture", "amount.value", "single value"),
        ("paytrace.teleport", "amount", "unknown PayTrace request"),
        ("canonical.Customer", "colour", "Customer has no field 'colour'"),
    ],
)
def test_target_fields_are_checked_at_load(target: str, field: str, expected: str) -> None:
    text = f"name: t\nversion: 1\nsource: d365.X\ntarget: {target}\nfields:\n  {field}: a\n"
    template, problems = compile_text(text, "t.yaml")
    assert template is None
    assert any(expected in p.message for p in problems), [str(p) for p in problems]


def test_a_folder_loads_all_or_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD.replace("version: 1", "version: 2"))
    loaded = load_templates(tmp_path)
    assert isinstance(loaded, TemplateSet)
    assert loaded.versions("demo") == [1, 2]
    assert loaded.get("demo").version == 2
    assert loaded.by_ref("demo@1").version == 1
    (tmp_path / "c.yaml").write_text(BROKEN)
    (tmp_path / "d.yml").write_text(GOOD)  # demo@1 again, from another file
    with pytest.raises(TemplateError) as caught:
        load_templates(tmp_path)
    files = {Path(p.file).name for p in caught.value.problems}
    assert files == {"c.yaml", "d.yml"}
    assert any("demo@1 is also defined in" in p.message for p in caught.value.problems)


def test_a_folder_is_laid_over_the_shipped_templates(tmp_path: Path) -> None:
    """A folder holding one edited template: that name maps with the folder's highest version,
    its shipped version stays for dry-run, and every other name stays shipped."""
    name = "payment_to_customer_payment_line"
    shipped = load_templates()
    v1 = (SHIPPED_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    (tmp_path / "mine.yaml").write_text(
        v1.replace("version: 1\n", "version: 2\n") + "  PaymentNotes: description\n"
    )
    (tmp_path / "new.yaml").write_text(GOOD)
    overlay = load_overlay(tmp_path)
    assert set(overlay.names()) == {*shipped.names(), "demo"}
    assert overlay.versions(name) == [1, 2]
    mine = overlay.get(name)
    assert (mine.version, origin(mine)) == (2, str(tmp_path / "mine.yaml"))
    assert overlay.in_use(mine) and not overlay.in_use(overlay.get(name, 1))
    assert origin(overlay.get(name, 1)) == "shipped"
    other = overlay.get("invoice_to_paytrace_sale")
    assert origin(other) == "shipped" and other.fingerprint == shipped.get(other.name).fingerprint
    assert origin(overlay.get("demo")) == str(tmp_path / "new.yaml")


def test_a_folder_copy_of_a_shipped_version_replaces_it(tmp_path: Path) -> None:
    name = "invoice_to_paytrace_sale"
    v1 = (SHIPPED_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    (tmp_path / "copy.yaml").write_text(v1 + "  discretionary_data.Note: \"'x'\"\n")
    overlay = load_overlay(tmp_path)
    assert overlay.versions(name) == [1]
    assert origin(overlay.get(name)) == str(tmp_path / "copy.yaml")
    assert overlay.get(name).fingerprint != load_templates().get(name).fingerprint


def test_a_broken_folder_template_refuses_the_overlay(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BROKEN)
    with pytest.raises(TemplateError) as caught:
        load_overlay(tmp_path)
    assert {Path(p.file).name for p in caught.value.problems} == {"bad.yaml"}


def test_empty_folder_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="no template files"):
        load_templates(tmp_path)
    with pytest.raises(TemplateError, match="cannot read"):
        load_template(tmp_path / "missing.yaml")


def test_template_set_lookups_and_version_pins(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    loaded = load_templates(tmp_path)
    template = loaded.get("demo")
    assert loaded.check_pins({"demo@1": template.fingerprint}) == []
    changed = loaded.check_pins({"demo@1": "0" * 16})
    assert len(changed) == 1
    assert "changed since it was recorded" in changed[0]
    with pytest.raises(KeyError, match="no template named"):
        loaded.get("other")
    with pytest.raises(KeyError, match="has no version 9"):
        loaded.get("demo", 9)
    with pytest.raises(KeyError, match="not a template reference"):
        loaded.by_ref("demo")
    assert [t.ref for t in loaded.latest()] == ["demo@1"]
    assert len(loaded) == 1


def test_fingerprint_ignores_comments_but_not_content() -> None:
    first, _ = compile_text(GOOD, "a.yaml")
    commented, _ = compile_text("# a comment\n" + GOOD, "b.yaml")
    changed, _ = compile_text(GOOD.replace("transaction_id", "order_id"), "c.yaml")
    assert first is not None
    assert commented is not None
    assert changed is not None
    assert first.fingerprint == commented.fingerprint != changed.fingerprint


def test_shipped_templates_all_load() -> None:
    loaded = load_templates()
    assert set(loaded.names()) == {
        "authorization_to_sales_order_status",
        "d365_customer_to_paytrace_customer",
        "invoice_to_paytrace_sale",
        "order_to_paytrace_authorization",
        "payment_to_customer_payment_line",
        "paytrace_customer_to_d365_customer",
        "paytrace_export_to_transaction",
        "settlement_to_general_journal_line",
    }
