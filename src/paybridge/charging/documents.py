"""What a charge reads from D365: the invoice or sales order, its customer, currency and open amount.

The header is read with the fields this module needs plus those the charge template reads
(``template_reads``), and nothing else; ``Document.row`` is what the template maps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from jmespath.exceptions import JMESPathError
from jmespath.parser import Parser

from paybridge.connectors.dynamics import DynamicsClient, F, Query
from paybridge.errors import DataError, FatalError
from paybridge.mapping import CompiledTemplate

if TYPE_CHECKING:
    from paybridge.charging.records import ChargeRequest

log = logging.getLogger("paybridge.charging.service")

INVOICES = "SalesInvoiceHeadersV2"
ORDERS = "SalesOrderHeadersV2"
ORDER_LINES = "SalesOrderLinesV3"
CUSTOMER_TRANSACTIONS = "CustTransactions"
# What the document itself needs of each header (the template's fields are added to these).
_NEEDS = {
    INVOICES: frozenset({"dataAreaId", "InvoiceNumber", "InvoiceCustomerAccountNumber",
                         "CurrencyCode", "TotalInvoiceAmount"}),
    ORDERS: frozenset({"dataAreaId", "SalesOrderNumber", "SalesOrderStatus", "CurrencyCode",
                       "InvoiceCustomerAccountNumber", "OrderingCustomerAccountNumber",
                       "OrderTotalAmount"}),
}  # fmt: skip


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
    row: dict[str, Any] = field(default_factory=dict)  # the header as read, for the template


def _amount(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0))


def template_reads(template: CompiledTemplate) -> frozenset[str]:
    """The source fields a template's expressions (and ``let`` values) read from the record."""
    # CompiledTemplate keeps its let expressions private; they read the record like fields do.
    lets = getattr(template, "_lets", ())
    expressions = [rule.expression for rule in template.fields] + [let[1] for let in lets]
    parser = Parser()
    names: set[str] = set()
    for text in expressions:
        try:
            names |= _root_fields(dict(parser.parse(text).parsed))
        except JMESPathError:  # compiled once already: cannot happen, and then reads nothing
            continue
    return frozenset(names)


def _root_fields(node: dict[str, Any]) -> set[str]:
    """Field names evaluated against the record itself (not inside projections or &refs)."""
    kind, children = node["type"], node.get("children", [])
    if kind == "field":
        return {str(node["value"])}
    if kind == "expref":
        return set()
    if kind in ("subexpression", "index_expression", "pipe", "projection", "filter_projection"):
        return _root_fields(children[0]) if children else set()
    return set().union(*(_root_fields(dict(child)) for child in children))


# F&O reads these in an OData ``eq`` as wildcards: ``InvoiceNumber eq '*'`` is every invoice.
WILDCARDS = frozenset("*?")


def _no_wildcards(field_name: str, number: str) -> str:
    if WILDCARDS.intersection(number):
        raise DataError(
            f"invalid {field_name}",
            fields={field_name: "must not contain * or ? (D365 reads them as wildcards)"},
        )
    return number


async def read_document(
    dynamics: DynamicsClient, request: ChargeRequest, fields: Iterable[str] = ()
) -> Document:
    """The document the request names, with ``fields`` of its header too (what a template reads);
    a DataError naming the field when D365 has none, or when the number holds a wildcard (it is
    never sent: D365 would read the company's whole list)."""
    company = request.company.lower()
    if request.invoice_number is not None:
        number = _no_wildcards("invoice_number", request.invoice_number)
        return await _invoice(dynamics, company, number, fields)
    assert request.sales_order_number is not None
    number = _no_wildcards("sales_order_number", request.sales_order_number)
    return await _order(dynamics, company, number, fields)


async def _header(
    dynamics: DynamicsClient,
    entity: str,
    key: str,
    number: str,
    company: str,
    fields: Iterable[str],
) -> dict[str, Any] | None:
    """The header whose ``key`` is exactly ``number`` (F&O's ``eq`` reads ``*`` as a wildcard)."""
    select = sorted(_NEEDS[entity] | set(fields))
    query = Query(
        filter=(F(key) == number) & (F("dataAreaId") == company), select=select,
        cross_company=True,
    )  # fmt: skip
    rows = [row for row in await dynamics.query(entity, query) if row.get(key) == number]
    return rows[0] if rows else None


async def _invoice(
    dynamics: DynamicsClient, company: str, number: str, fields: Iterable[str]
) -> Document:
    header = await _header(dynamics, INVOICES, "InvoiceNumber", number, company, fields)
    if header is None:
        raise DataError(
            "no such invoice",
            fields={"invoice_number": f"no invoice {number} in company {company}"},
        )
    account = str(header.get("InvoiceCustomerAccountNumber") or "")
    total = _amount(header.get("TotalInvoiceAmount"))
    return Document(
        kind="invoice", company=company, number=number, account=account,
        currency=str(header.get("CurrencyCode") or ""), total=total,
        open_amount=await _invoice_open(dynamics, company, number, account, total), row=header,
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


async def _order(
    dynamics: DynamicsClient, company: str, number: str, fields: Iterable[str]
) -> Document:
    header = await _header(dynamics, ORDERS, "SalesOrderNumber", number, company, fields)
    if header is None:
        raise DataError(
            "no such sales order",
            fields={"sales_order_number": f"no sales order {number} in company {company}"},
        )
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
        currency=str(header.get("CurrencyCode") or ""), total=total, open_amount=total, row=header,
    )  # fmt: skip
