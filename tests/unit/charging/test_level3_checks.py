"""The Level 2/3 pre-flight checks, pure: each finding names its field, and clean data has none."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from paybridge.charging.level3 import Level3Data, Line, check
from paybridge.charging.settings import Level3Settings

D = Decimal
SETTINGS = Level3Settings(enabled=True)
CLEAN = Level3Data(
    invoice="INV-1", po_number="PO-1", tax=D("16.00"), freight=D("5.00"), duty=D("2.00"),
    discount=D("10.00"),
    lines=(Line(1, "A1", "Widget", D("2"), "ea", D("50.00"), D("100.00"), None),
           Line(2, "B2", "Gadget", D("1"), "ea", D("100.00"), D("90.00"), D("10.00"))),
)  # fmt: skip
AMOUNT = D("203.00")  # 190 + 16 + 5 + 2 - 10


def codes(data: Level3Data, amount: Decimal = AMOUNT, **settings: object) -> set[str]:
    chosen = SETTINGS.model_copy(update=settings) if settings else SETTINGS
    return {f"{f.code}:{f.severity}:{f.field}" for f in check(data, amount, chosen)}


def test_clean_data_has_no_findings() -> None:
    assert codes(CLEAN) == set()


def test_a_missing_po_is_an_error_unless_not_required() -> None:
    no_po = replace(CLEAN, po_number=" ")
    assert codes(no_po) == {"po_missing:error:CustomersOrderReference"}
    assert codes(no_po, require_po=False) == {"po_missing:warning:CustomersOrderReference"}


def test_totals_that_differ_from_the_amount_by_more_than_a_cent_are_an_error() -> None:
    assert codes(CLEAN, AMOUNT + D("0.01")) == set()
    assert codes(CLEAN, AMOUNT + D("0.02")) == {"totals_differ:error:amount"}


def test_a_line_without_its_fields_or_with_wrong_math_is_named() -> None:
    broken = Line(3, "", "Thing", None, "ea", D("1"), D("1.00"), None)
    wrong = Line(4, "C3", "Other", D("3"), "ea", D("2.00"), D("7.00"), None)
    data = replace(CLEAN, lines=(*CLEAN.lines, broken, wrong))
    found = codes(data, AMOUNT + D("8.00"))
    assert found == {
        "line_field_missing:error:SalesInvoiceV2Lines[3].ProductNumber",
        "line_field_missing:error:SalesInvoiceV2Lines[3].InvoicedQuantity",
        "line_math:warning:SalesInvoiceV2Lines[4].LineAmount",
    }
    assert codes(replace(CLEAN, lines=()), D("13.00")) == {"no_lines:error:SalesInvoiceV2Lines"}


def test_tax_missing_is_a_warning_and_implausible_tax_an_error() -> None:
    assert codes(replace(CLEAN, tax=None), AMOUNT - D("16")) == {
        "tax_missing:warning:TotalTaxAmount"
    }
    high = replace(CLEAN, tax=D("30.00"))  # 16.7% of 180
    assert codes(high, AMOUNT + D("14")) == {"tax_implausible:error:TotalTaxAmount"}
    assert codes(high, AMOUNT + D("14"), max_tax_rate=D("0.20")) == set()
