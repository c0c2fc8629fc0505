"""What a charge reads from D365: the invoice or sales order, its customer, currency and open amount."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from paybridge.connectors.dynamics import DynamicsClient
from paybridge.errors import DataError, FatalError

if TYPE_CHECKING:
    from paybridge.charging.records import ChargeRequest

log = logging.getLogger("paybridge.charging.service")

INVOICES = "SalesInvoiceHeadersV2"
ORDERS = "SalesOrderHeadersV2"
ORDER_LINES = "SalesOrderLinesV3"
CUSTOMER_TRANSACTIONS = "CustTransactions"


@dataclass(frozen=True)
class Document:
    """A D365 invoice or sales order as far as charging it is concerned."""

    kind: Literal["invoice", "sales_order"]
    company: str
    number: str
    account: str
    currency: str
    total: Decimal
    open_amount: Decimal


def _amount(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0))


async def read_document(dynamics: DynamicsClient, request: ChargeRequest) -> Document:
    """The document the request names; a DataError naming the field when D365 has none."""
    company = request.company.lower()
    if request.invoice_number is not None:
        return await _invoice(dynamics, company, request.invoice_number)
    assert request.sales_order_number is not None
    return await _order(dynamics, company, request.sales_order_number)


async def _invoice(dynamics: DynamicsClient, company: str, number: str) -> Document:
    rows = await dynamics.find_by_reference(INVOICES, "InvoiceNumber", number, company=company)
    if not rows:
        raise DataError(
            "no such invoice",
            fields={"invoice_number": f"no invoice {number} in company {company}"},
        )
    header = rows[0]
    account = str(header.get("InvoiceCustomerAccountNumber") or "")
    total = _amount(header.get("TotalInvoiceAmount"))
    return Document(
        kind="invoice", company=company, number=number, account=account,
        currency=str(header.get("CurrencyCode") or ""), total=total,
        open_amount=await _invoice_open(dynamics, company, number, account, total),
    )  # fmt: skip


async def _invoice_open(
    dynamics: DynamicsClient, company: str, number: str, account: str, total: Decimal
) -> Decimal:
    """What is still open on the invoice: its customer transaction less what was settled.

    ``CustTransactions`` is not exposed in every F&O version (spec 3.3); without it the invoice
    total is the limit.
    """
    try:
        rows = await dynamics.find_by_reference(
            CUSTOMER_TRANSACTIONS, "Invoice", number, company=company
        )
    except (DataError, FatalError) as exc:
        log.warning("open amount of %s/%s unknown, using its total: %s", company, number, exc)
        return total
    own = [r for r in rows if r.get("AccountNum") == account and _amount(r.get("AmountCur")) > 0]
    if not own:
        return total
    return sum(
        (_amount(r.get("AmountCur")) - _amount(r.get("SettleAmountCur")) for r in own),
        Decimal(0),
    )


async def _order(dynamics: DynamicsClient, company: str, number: str) -> Document:
    rows = await dynamics.find_by_reference(ORDERS, "SalesOrderNumber", number, company=company)
    if not rows:
        raise DataError(
            "no such sales order",
            fields={"sales_order_number": f"no sales order {number} in company {company}"},
        )
    header = rows[0]
    if header.get("SalesOrderStatus") == "Canceled":
        raise DataError(
            "canceled sales order",
            fields={"sales_order_number": f"sales order {number} is canceled"},
        )
    account = str(
        header.get("InvoiceCustomerAccountNumber")
        or header.get("OrderingCustomerAccountNumber")
        or ""
    )
    total = _amount(header.get("OrderTotalAmount"))
    if total <= 0:  # totals not calculated on the header: add up the lines
        lines = await dynamics.find_by_reference(
            ORDER_LINES, "SalesOrderNumber", number, company=company
        )
        total = sum((_amount(line.get("LineAmount")) for line in lines), Decimal(0))
    return Document(
        kind="sales_order", company=company, number=number, account=account,
        currency=str(header.get("CurrencyCode") or ""), total=total, open_amount=total,
    )  # fmt: skip
