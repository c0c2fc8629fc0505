"""Every shipped template on realistic samples: the exact records the flows will send."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from paybridge.mapping import CompiledTemplate, TemplateSet, load_templates
from paybridge.model import Transaction
from tests.conftest import conformance_dir
from tests.unit.mapping.samples import (
    D365_CUSTOMER,
    D365_INVOICE,
    D365_ORDER,
    PAYMENT_CONTEXT,
    PAYTRACE_CUSTOMER,
    SAMPLES,
    SETTLEMENT_CONTEXT,
    settlement_line,
    transaction,
)


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return load_templates()


def payment_line(templates: TemplateSet) -> CompiledTemplate:
    return templates.get("payment_to_customer_payment_line")


def test_every_shipped_template_maps_its_sample_cleanly(templates: TemplateSet) -> None:
    assert set(SAMPLES) == set(templates.names())
    for name, (source, context) in SAMPLES.items():
        result = templates.get(name).apply(source, context=context)
        assert result.errors == {}, name
        assert result.record, name


def test_sale_with_invoice_credits_the_customer_and_marks_the_invoice(
    templates: TemplateSet,
) -> None:
    result = payment_line(templates).apply(transaction(), context=PAYMENT_CONTEXT)
    assert result.errors == {}
    assert result.record == {
        "dataAreaId": "usmf",
        "JournalBatchNumber": "USMF-000123",
        "AccountType": "Cust",
        "AccountDisplayValue": "US\\-001",
        "TransactionDate": "2026-03-07T12:00:00Z",
        "CurrencyCode": "USD",
        "CreditAmount": Decimal("51.88"),
        "OffsetAccountType": "Bank",
        "OffsetAccountDisplayValue": "USMF\\-OPER",
        "PaymentReference": "125391271",
        "PaymentId": "PT-125391271-sale",
        "MarkedInvoice": "USMF-CIV-000042",
        "MarkedInvoiceCompany": "usmf",
        "SettleVoucher": "SelectedTransact",
        "IsPrepayment": "No",
        "TransactionText": "PayTrace sale 125391271 xxxx5439",
        "PaymentMethodName": "CREDITCARD",
    }
    assert type(result.record["CreditAmount"]) is Decimal


def test_capture_of_an_order_is_a_prepayment(templates: TemplateSet) -> None:
    source = transaction(kind="capture", invoice_id=None, order_id="000869")
    record = payment_line(templates).apply(source, context=PAYMENT_CONTEXT).record
    assert record["CreditAmount"] == Decimal("51.88")
    assert record["IsPrepayment"] == "Yes"
    assert "MarkedInvoice" not in record
    assert "SettleVoucher" not in record


def test_refund_debits_the_customer_without_marking(templates: TemplateSet) -> None:
    source = transaction(kind="refund", transaction_id="125391300")
    record = payment_line(templates).apply(source, context=PAYMENT_CONTEXT).record
    assert record["DebitAmount"] == Decimal("51.88")
    assert "CreditAmount" not in record
    assert "MarkedInvoice" not in record
    assert record["PaymentId"] == "PT-125391300-refund"
    assert record["IsPrepayment"] == "No"


def test_void_is_a_reversal_with_a_distinct_payment_id(templates: TemplateSet) -> None:
    sale = payment_line(templates).apply(transaction(), context=PAYMENT_CONTEXT).record
    void = payment_line(templates).apply(transaction(kind="void"), context=PAYMENT_CONTEXT).record
    assert void["DebitAmount"] == sale["CreditAmount"]
    assert void["PaymentReference"] == sale["PaymentReference"] == "125391271"
    assert void["PaymentId"] != sale["PaymentId"]
    assert void["TransactionText"] == "PayTrace void 125391271 reversal xxxx5439"


def test_payment_line_rounds_by_currency_and_defaults_to_utc(templates: TemplateSet) -> None:
    context = {k: v for k, v in PAYMENT_CONTEXT.items() if k != "time_zone"}
    jpy = transaction(amount={"amount": "1234.5", "currency": "JPY"}, masked_card=None)
    result = payment_line(templates).apply(jpy, context=context)
    assert result.record["CreditAmount"] == Decimal("1234")
    assert result.record["TransactionDate"] == "2026-03-08T12:00:00Z"
    assert result.record["TransactionText"] == "PayTrace sale 125391271"


def test_payment_line_finds_the_account_through_the_enricher(templates: TemplateSet) -> None:
    class Customers:
        def lookup(self, kind: str, key: str) -> dict[str, str] | None:
            return (
                {"CustomerAccount": "US-009"}
                if (kind, key) == ("customer_by_paytrace_id", "PT9")
                else None
            )

    context = {k: v for k, v in PAYMENT_CONTEXT.items() if k != "customer_account"}
    result = payment_line(templates).apply(
        transaction(customer_id="PT9"), context=context, enricher=Customers()
    )
    assert result.record["AccountDisplayValue"] == "US\\-009"
    unknown = payment_line(templates).apply(
        transaction(customer_id="PT0"), context=context, enricher=Customers()
    )
    assert "AccountDisplayValue" in unknown.errors


def test_payment_line_reports_every_missing_piece(templates: TemplateSet) -> None:
    source = transaction(kind="authorization")
    result = payment_line(templates).apply(source, context={})
    assert "not in table 'payment_journal_side'" in result.errors["CreditAmount"]
    assert "ctx('company')" in result.errors["dataAreaId"]
    assert "ctx('bank_account')" in result.errors["OffsetAccountDisplayValue"]
    assert result.record["PaymentReference"] == "125391271"
    with pytest.raises(Exception, match="could not map") as caught:
        result.raise_for_errors()
    assert caught.value.fields == result.errors  # type: ignore[attr-defined]


def test_authorization_holds_or_releases_the_order(templates: TemplateSet) -> None:
    template = templates.get("authorization_to_sales_order_status")
    source, context = SAMPLES["authorization_to_sales_order_status"]
    assert template.apply(source, context=context).record == {
        "dataAreaId": "usmf",
        "SalesOrderNumber": "000869",
        "IsSalesProcessingStopped": "No",
        "CustomerPaymentMethodName": "CREDITCARD",
    }
    declined = transaction(kind="authorization", status="declined", order_id="000869")
    assert template.apply(declined, context=context).record["IsSalesProcessingStopped"] == "Yes"
    no_order = template.apply(
        transaction(kind="authorization", status="authorized"), context=context
    )
    assert "SalesOrderNumber" in no_order.errors


def test_paytrace_customer_to_d365_person_and_organization(templates: TemplateSet) -> None:
    template = templates.get("paytrace_customer_to_d365_customer")
    person = template.apply(
        PAYTRACE_CUSTOMER,
        context={"company": "usmf", "customer_group": "30", "party_type": "Person"},
    )
    assert person.record == {
        "dataAreaId": "usmf",
        "CustomerAccount": "C-1733439821",
        "PartyType": "Person",
        "PersonFirstName": "Nathan",
        "PersonMiddleName": "Q.",
        "PersonLastName": "Williams",
        "CustomerGroupId": "30",
        "SalesCurrencyCode": "USD",
        "AddressStreet": "1234 Main St.\nUnit 5",
        "AddressCity": "Los Angeles",
        "AddressState": "CA",
        "AddressZipCode": "90210",
        "AddressCountryRegionId": "USA",
        "PrimaryContactEmail": "nathan@example.com",
    }
    organization = template.apply(
        PAYTRACE_CUSTOMER, context={"company": "usmf", "customer_group": "30"}
    )
    assert organization.record["OrganizationName"] == "Nathan Q. Williams"
    assert organization.record["PartyType"] == "Organization"
    assert "PersonFirstName" not in organization.record


def test_d365_customer_to_paytrace_profile_and_back(templates: TemplateSet) -> None:
    outbound = templates.get("d365_customer_to_paytrace_customer").apply(D365_CUSTOMER)
    assert outbound.record == {
        "customer_id": "US-027",
        "billing_address": {
            "name": "Birch Company",
            "street_address": "456 Peachtree St",
            "street_address2": "Suite 900",
            "city": "Atlanta",
            "state": "GA",
            "zip": "30303",
            "country": "US",
        },
        "email": "ap@birch.example",
        "phone": "404-555-0134",
    }
    back = templates.get("paytrace_customer_to_d365_customer").apply(
        outbound.record, context={"company": "usmf", "customer_group": "30"}
    )
    for field in ("CustomerAccount", "OrganizationName", "AddressStreet", "AddressCountryRegionId"):
        assert back.record[field] == D365_CUSTOMER[field]
    person = dict(D365_CUSTOMER, OrganizationName="", PersonFirstName="Ana", PersonLastName="Lee")
    name = templates.get("d365_customer_to_paytrace_customer").apply(person).record
    assert name["billing_address"]["name"] == "Ana Lee"


def test_invoice_to_sale_carries_level2_data(templates: TemplateSet) -> None:
    result = templates.get("invoice_to_paytrace_sale").apply(D365_INVOICE)
    assert result.record == {
        "customer_id": "US-027",
        "amount": "4309.50",
        "invoice_id": "CIV-000708",
        "customer_reference_id": "PO20260042Birch",
        "tax_amount": "309.50",
        "description": "Invoice CIV-000708 (usmf)",
    }
    euro = templates.get("invoice_to_paytrace_sale").apply(dict(D365_INVOICE, CurrencyCode="EUR"))
    assert "not one of ['USD']" in euro.errors["amount"]
    floats = templates.get("invoice_to_paytrace_sale").apply(
        dict(D365_INVOICE, TotalInvoiceAmount=4309.5)
    )
    assert "float" in floats.errors["amount"]


def test_order_to_authorization_needs_calculated_totals(templates: TemplateSet) -> None:
    template = templates.get("order_to_paytrace_authorization")
    record = template.apply(D365_ORDER).record
    assert record["amount"] == "4309.50"
    assert record["tax_amount"] == "309.50"
    assert record["invoice_id"] == "000869"
    assert record["email"] == "ap@birch.example"
    uncalculated = dict(D365_ORDER, AreTotalsCalculated="No", OrderTotalAmount=Decimal(0))
    assert "AreTotalsCalculated=No" in template.apply(uncalculated).errors["amount"]
    given = template.apply(uncalculated, context={"amount": "120"})
    assert given.record["amount"] == "120.00"
    assert "tax_amount" not in given.record


def test_settlement_line_to_general_journal_line(templates: TemplateSet) -> None:
    template = templates.get("settlement_to_general_journal_line")
    record = template.apply(settlement_line(), context=SETTLEMENT_CONTEXT).record
    assert list(record.items()) == [
        ("dataAreaId", "usmf"),
        ("JournalBatchNumber", "USMF-GJ-0007"),
        ("LineNumber", Decimal(1)),
        ("TransDate", "2026-04-10T12:00:00Z"),
        ("AccountType", "Bank"),
        ("AccountDisplayValue", "USMF\\-OPER"),  # a bank account's '-' is escaped
        ("OffsetAccountType", "Ledger"),
        ("OffsetAccountDisplayValue", "110180-001"),  # a ledger account's '-' is a dimension
        ("CurrencyCode", "USD"),
        ("DebitAmount", Decimal("1399.50")),
        ("CreditAmount", Decimal(0)),
        ("Text", "PayTrace batch 571 mastercard/visa"),
        ("PaymentReference", "571"),
    ]
    refunds_win = settlement_line(side="credit", amount={"amount": "90.5", "currency": "USD"})
    negative = template.apply(refunds_win, context={"line_number": 2}).record
    assert (negative["DebitAmount"], negative["CreditAmount"]) == (Decimal(0), Decimal("90.50"))
    assert negative["LineNumber"] == Decimal(2)


def test_paytrace_export_record_to_canonical_transaction(templates: TemplateSet) -> None:
    folder = conformance_dir("paytrace")
    body = json.loads(
        (folder / "transactions_export_by_date_range.response.json").read_text(),
        parse_float=Decimal,
    )
    template = templates.get("paytrace_export_to_transaction")
    result = template.apply(body["transactions"][0], context={"kind": "sale"})
    assert result.errors == {}
    assert isinstance(result.model, Transaction)
    assert result.model.key == "paytrace:79388123:sale"
    assert result.model.status == "approved"  # the sale; its settlement is a fact of its own
    assert result.model.batch_number == "571"
    assert result.model.amount.amount == Decimal(110)
    assert result.model.occurred_at.isoformat() == "2015-04-10T23:06:30+00:00"
    assert result.model.settled_at is not None
    assert result.model.masked_card == "************5454"
    assert result.model.customer_id is None
    settled = template.apply(body["transactions"][0], context={"kind": "settlement"}).model
    assert isinstance(settled, Transaction) and settled.key == "paytrace:79388123:settlement"
    assert settled.status == "settled" and settled.occurred_at == result.model.settled_at


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("sale", "approved"),
        ("capture", "approved"),
        ("refund", "approved"),
        ("authorization", "authorized"),
        ("void", "voided"),
        ("settlement", "settled"),
        ("decline", "declined"),
    ],
)
def test_the_status_follows_the_fact(templates: TemplateSet, kind: str, status: str) -> None:
    result = templates.get("paytrace_export_to_transaction").apply(
        SAMPLES["paytrace_export_to_transaction"][0], context={"kind": kind}
    )
    assert (result.record["kind"], result.record["status"]) == (kind, status)


def test_without_a_kind_the_transaction_type_decides(templates: TemplateSet) -> None:
    template = templates.get("paytrace_export_to_transaction")
    source = dict(SAMPLES["paytrace_export_to_transaction"][0], transaction_type="Refund")
    assert template.apply(source).record["kind"] == "refund"
    odd = template.apply(dict(source, transaction_type="Odd"))
    assert "'ODD' is not in table 'paytrace_transaction_type_to_kind'" in odd.errors["kind"]
    assert odd.model is None


def test_batch_number_only_from_a_gb_status_code(templates: TemplateSet) -> None:
    template = templates.get("paytrace_export_to_transaction")
    sample = SAMPLES["paytrace_export_to_transaction"][0]
    for code, batch in (("GB571", "571"), (" gb12 ", "12"), ("Y", None), ("GBX", None)):
        record = template.apply(dict(sample, status_code=code), context={"kind": "sale"}).record
        assert record.get("batch_number") == batch, code


def test_canonical_target_validation_errors_become_field_errors(templates: TemplateSet) -> None:
    result = templates.get("paytrace_export_to_transaction").apply(
        SAMPLES["paytrace_export_to_transaction"][0],
        context={"kind": "sale", "currency": "DOLLARS"},
    )
    assert "three-letter ISO 4217" in result.errors["amount.currency"]
    assert result.model is None
