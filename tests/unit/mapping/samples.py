"""Realistic sources and contexts for the shipped templates, shared by the mapping tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from paybridge.model import JournalLine, Money, Transaction

PAYMENT_CONTEXT = {
    "company": "usmf",
    "journal_batch_number": "USMF-000123",
    "customer_account": "US-001",
    "bank_account": "USMF-OPER",
    "payment_method_name": "CREDITCARD",
    "time_zone": "America/Los_Angeles",
}


def transaction(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "transaction_id": "125391271",
        "kind": "sale",
        "status": "approved",
        "amount": Money.of("51.885", "USD"),
        "occurred_at": datetime(2026, 3, 8, 6, 30, tzinfo=UTC),  # 7 March in Los Angeles
        "customer_id": "US-001",
        "invoice_id": "USMF-CIV-000042",
        "masked_card": "xxxxxxxxxxxx5439",
    }
    fields.update(changes)
    return Transaction(**fields).model_dump(mode="json")


def settlement_line(**changes: Any) -> dict[str, Any]:
    """One line of a settlement batch's journal as the reconciliation plans it."""
    fields: dict[str, Any] = {
        "kind": "general",
        "company": "usmf",
        "transaction_date": date(2026, 4, 10),
        "account_type": "Bank",
        "account": "USMF-OPER",
        "offset_account_type": "Ledger",
        "offset_account": "110180-001",
        "side": "debit",
        "amount": Money.of("1399.50", "USD"),
        "text": "PayTrace batch 571 mastercard/visa",
        "payment_reference": "571",
        "journal_batch_number": "USMF-GJ-0007",
    }
    fields.update(changes)
    return JournalLine(**fields).model_dump(mode="json")


SETTLEMENT_CONTEXT = {"line_number": 1}

PAYTRACE_CUSTOMER = {
    "customer_id": "C-1733439821",
    "credit_card": {"masked_number": "xxxxxxxxxxxx5439", "expiration_month": 12},
    "billing_address": {
        "name": "Nathan Q. Williams",
        "street_address": "1234 Main St.",
        "street_address2": "Unit 5",
        "city": "Los Angeles",
        "state": "CA",
        "zip": "90210",
        "country": "US",
    },
    "email": "nathan@example.com",
    "phone": "",
    "discretionary_data": {},
}

D365_CUSTOMER = {
    "dataAreaId": "usmf",
    "CustomerAccount": "US-027",
    "PartyType": "Organization",
    "OrganizationName": "Birch Company",
    "PersonFirstName": "",
    "PersonLastName": "",
    "AddressStreet": "456 Peachtree St\nSuite 900",
    "AddressCity": "Atlanta",
    "AddressState": "GA",
    "AddressZipCode": "30303",
    "AddressCountryRegionId": "USA",
    "PrimaryContactEmail": "ap@birch.example",
    "PrimaryContactPhone": "404-555-0134",
    "CustomerGroupId": "30",
}

D365_INVOICE = {
    "dataAreaId": "usmf",
    "InvoiceNumber": "CIV-000708",
    "InvoiceDate": "2026-07-15T12:00:00Z",
    "InvoiceCustomerAccountNumber": "US-027",
    "SalesOrderNumber": "000869",
    "CurrencyCode": "USD",
    "TotalInvoiceAmount": Decimal("4309.5"),
    "TotalTaxAmount": Decimal("309.50"),
    "CustomersOrderReference": "PO #2026-0042 / Birch",
}

D365_ORDER = {
    "dataAreaId": "usmf",
    "SalesOrderNumber": "000869",
    "OrderingCustomerAccountNumber": "US-027",
    "InvoiceCustomerAccountNumber": "US-027",
    "CurrencyCode": "USD",
    "AreTotalsCalculated": "Yes",
    "OrderTotalAmount": Decimal("4309.50"),
    "OrderTotalTaxAmount": Decimal("309.5"),
    "CustomersOrderReference": "PO-2026-0042",
    "Email": "ap@birch.example",
}

PAYTRACE_EXPORT_RECORD = {
    "transaction_id": 79388123,
    "credit_card": {"masked_number": "************5454", "expiration_month": 12},
    "transaction_type": "SALE",
    "description": "",
    "amount": 110,
    "invoice_id": "inv1234",
    "tax_amount": "8.10",
    "customer_reference_id": "PO123456",
    "approval_code": "VTLMC1",
    "approval_message": "EXACT MATCH - Approved and completed",
    "status_code": "GB571",
    "status_message": "GB571",
    "created": {"through": "API", "at": "4/10/2015 4:06:30 PM", "by": "sandbox123"},
    "settled": "4/10/2015 8:13:45 PM",
    "customer_id": "",
}

# One realistic source and context per shipped template (the property tests reuse these).
SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "payment_to_customer_payment_line": (transaction(), PAYMENT_CONTEXT),
    "authorization_to_sales_order_status": (
        transaction(kind="authorization", status="authorized", order_id="000869", invoice_id=None),
        {"company": "usmf", "payment_method_name": "CREDITCARD"},
    ),
    "paytrace_customer_to_d365_customer": (
        PAYTRACE_CUSTOMER,
        {"company": "usmf", "customer_group": "30", "party_type": "Person"},
    ),
    "d365_customer_to_paytrace_customer": (D365_CUSTOMER, {}),
    "invoice_to_paytrace_sale": (D365_INVOICE, {}),
    "order_to_paytrace_authorization": (D365_ORDER, {}),
    "settlement_to_general_journal_line": (settlement_line(), SETTLEMENT_CONTEXT),
    "paytrace_export_to_transaction": (PAYTRACE_EXPORT_RECORD, {"kind": "sale"}),
}
