"""What a charge reads of a D365 header: the fields its template's expressions and lets read."""

from __future__ import annotations

from paybridge.charging.documents import template_reads
from paybridge.mapping import compile_text, load_templates


def test_the_shipped_charge_templates_read_these_header_fields() -> None:
    templates = load_templates()
    assert template_reads(templates.get("invoice_to_paytrace_sale")) == {
        "InvoiceCustomerAccountNumber", "TotalInvoiceAmount", "CurrencyCode", "InvoiceNumber",
        "CustomersOrderReference", "TotalTaxAmount", "dataAreaId",
    }  # fmt: skip
    order = template_reads(templates.get("order_to_paytrace_authorization"))
    assert {"AreTotalsCalculated", "OrderTotalAmount", "Email", "OrderTotalTaxAmount"} <= order


def test_fields_inside_projections_and_functions_are_told_apart() -> None:
    text = """
name: reads_probe
version: 1
source: d365.SalesInvoiceHeadersV2
target: paytrace.sale_by_customer
let:
  only_in_let: LetField
fields:
  customer_id: ctx('paytrace_customer_id') || Account
  amount: money_string(Total, 'USD')
  invoice_id: Lines[?Kind == 'x'].Number | [0]
  description: concat(Head.Inner, var('only_in_let'))
"""
    template, problems = compile_text(text)
    assert template is not None, problems
    assert template_reads(template) == {"LetField", "Account", "Total", "Lines", "Head"}
