"""EMULATOR-ONLY custom service ``PayBridgeSandbox/SalesOrders``: invoice, credit or cancel an order.

Real F&O has no OData action that invoices a sales order (spec §3.3: invoices come from posting
the order in the client or a batch job), nor one that makes a credit note or cancels the
remainder. These operations stand in for a person doing so, so that tests and demos reach the
states PayBridge reads through standard entities:

- ``invoice`` ``{"dataAreaId", "SalesOrderNumber", "Lines": [{"InventoryLotId", "Quantity"}]}``
  (no ``Lines``: every open quantity) posts a ``SalesInvoiceHeadersV2`` row with its
  ``SalesInvoiceV2Lines``, the invoice's ``CustTransactions`` row and its ``CustTransOpens``
  open amount, and moves the order to ``Backorder``/``PartiallyInvoiced`` or ``Invoiced``.
- ``creditNote`` (same body; quantities already invoiced) posts a credit note against the same
  order, as F&O's "Credit note" on a sales order does: an invoice with negative quantities and a
  negative total, and a negative customer transaction.
- ``cancel`` ``{"dataAreaId", "SalesOrderNumber"}`` cancels what is not invoiced: ``Canceled``
  when nothing was, else ``Invoiced`` (F&O's status once the remainder is cancelled).

An invoice line carries its order line's ``LineCreationSequenceNumber``; the invoiced quantity of
an order line is the sum over the order's invoice lines, so nothing private is stored.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from paybridge_sandbox.dynamics.posting import PostingError, new_row, replace_row
from paybridge_sandbox.dynamics.rules import RuleContext
from paybridge_sandbox.dynamics.state import Sandbox
from paybridge_sandbox.dynamics.store import Row

SERVICE = "PayBridgeSandbox/SalesOrders"
OPERATIONS = ("invoice", "creditNote", "cancel")
_CENT = Decimal("0.01")


def run_operation(sandbox: Sandbox, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """One operation, all-or-nothing; ``PostingError`` says why F&O would refuse it."""
    ctx = sandbox.engine.context()
    company = str(request.get("dataAreaId", "")).lower()
    number = str(request.get("SalesOrderNumber", ""))
    header = ctx.find("SalesOrderHeadersV2", dataAreaId=company, SalesOrderNumber=number)
    if header is None:
        raise PostingError(f"Sales order {number} does not exist in company {company}.")
    with sandbox.store.transaction():
        if operation == "cancel":
            return _cancel(ctx, header)
        credit = operation == "creditNote"
        wanted = _wanted(request.get("Lines"))
        return _post_document(ctx, header, wanted, credit=credit, date=_date(ctx, request))


def _wanted(raw: Any) -> dict[str, Decimal] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise PostingError("Lines must be a list of {InventoryLotId, Quantity} objects.")
    wanted: dict[str, Decimal] = {}
    for item in raw:
        quantity = Decimal(str(item.get("Quantity", "0")))
        if quantity <= 0:
            raise PostingError(f"Quantity of line {item.get('InventoryLotId')} must be positive.")
        wanted[str(item.get("InventoryLotId", "")).lower()] = quantity
    return wanted


def _date(ctx: RuleContext, request: dict[str, Any]) -> datetime:
    text = request.get("InvoiceDate")
    if not text:
        return ctx.today()
    day = datetime.fromisoformat(str(text)[:10])
    return ctx.today().replace(year=day.year, month=day.month, day=day.day)


def _order_lines(ctx: RuleContext, header: Row) -> list[Row]:
    h = header.values
    rows = ctx.find_where(
        "SalesOrderLinesV3", SalesOrderNumber=h["SalesOrderNumber"], dataAreaId=h["dataAreaId"]
    )
    return sorted(rows, key=lambda r: r.values["LineCreationSequenceNumber"])


def invoiced_quantities(ctx: RuleContext, header: Row) -> dict[int, Decimal]:
    """Net invoiced quantity per order line (by ``LineCreationSequenceNumber``)."""
    h = header.values
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for invoice in ctx.find_where(
        "SalesInvoiceHeadersV2", SalesOrderNumber=h["SalesOrderNumber"], dataAreaId=h["dataAreaId"]
    ):
        for line in ctx.find_where(
            "SalesInvoiceV2Lines",
            InvoiceNumber=invoice.values["InvoiceNumber"],
            dataAreaId=h["dataAreaId"],
        ):
            seq = int(line.values["LineCreationSequenceNumber"])
            totals[seq] += Decimal(line.values["InvoicedQuantity"])
    return totals


def _post_document(
    ctx: RuleContext,
    header: Row,
    wanted: dict[str, Decimal] | None,
    *,
    credit: bool,
    date: datetime,
) -> dict[str, Any]:
    h = header.values
    if not credit and h["SalesOrderStatus"] in {"Invoiced", "Canceled"}:
        raise PostingError(f"Sales order {h['SalesOrderNumber']} is {h['SalesOrderStatus']}.")
    done = invoiced_quantities(ctx, header)
    picked = _pick(_order_lines(ctx, header), done, wanted, credit)
    if not picked:
        raise PostingError(f"Nothing to {'credit' if credit else 'invoice'} on the order.")
    company = h["dataAreaId"]
    prefix = "CreditNote" if credit else "Invoice"
    number = ctx.number(f"{company}/Sales{prefix}Number")
    voucher = ctx.number(f"{company}/Voucher/Sales{prefix}")
    sign = Decimal(-1) if credit else Decimal(1)
    total = Decimal(0)
    for seq, (line, quantity) in enumerate(picked, start=1):
        total += _invoice_line(ctx, line, number, voucher, date, sign * quantity, seq)
    new_row(ctx, "SalesInvoiceHeadersV2", {
        "dataAreaId": company, "InvoiceNumber": number, "InvoiceDate": date,
        "LedgerVoucher": voucher, "SalesOrderNumber": h["SalesOrderNumber"],
        "InvoiceCustomerAccountNumber": h["InvoiceCustomerAccountNumber"],
        "CurrencyCode": h["CurrencyCode"], "TotalInvoiceAmount": total,
        "PaymentTermsName": h["PaymentTermsName"], "CustomersOrderReference": h["CustomersOrderReference"],
    })  # fmt: skip
    _customer_transaction(ctx, h, number, voucher, date, total)
    _set_status(ctx, header)
    return {"dataAreaId": company, "InvoiceNumber": number, "SalesOrderNumber":
            h["SalesOrderNumber"], "TotalInvoiceAmount": total, "LedgerVoucher": voucher}  # fmt: skip


def _pick(
    lines: list[Row], done: dict[int, Decimal], wanted: dict[str, Decimal] | None, credit: bool
) -> list[tuple[Row, Decimal]]:
    picked: list[tuple[Row, Decimal]] = []
    known = {str(r.values["InventoryLotId"]).lower() for r in lines}
    for lot in set(wanted or {}) - known:
        raise PostingError(f"Order line {lot} does not exist on the order.")
    for row in lines:
        v = row.values
        invoiced = done.get(int(v["LineCreationSequenceNumber"]), Decimal(0))
        room = invoiced if credit else Decimal(v["OrderedSalesQuantity"]) - invoiced
        if v["SalesOrderLineStatus"] == "Canceled" and not credit:
            room = Decimal(0)
        quantity = room if wanted is None else wanted.get(str(v["InventoryLotId"]).lower())
        if quantity is None or quantity <= 0:
            continue
        if quantity > room:
            what = "credited" if credit else "invoiced"
            raise PostingError(f"Line {v['InventoryLotId']}: only {room} can be {what}.")
        picked.append((row, quantity))
    return picked


def _invoice_line(
    ctx: RuleContext, line: Row, number: str, voucher: str, date: datetime,
    quantity: Decimal, seq: int,
) -> Decimal:  # fmt: skip
    v = line.values
    ordered = Decimal(v["OrderedSalesQuantity"]) or Decimal(1)
    amount = (Decimal(v["LineAmount"]) * quantity / ordered).quantize(_CENT)
    new_row(ctx, "SalesInvoiceV2Lines", {
        "dataAreaId": v["dataAreaId"], "InvoiceNumber": number, "InvoiceDate": date,
        "LedgerVoucher": voucher, "LineCreationSequenceNumber": v["LineCreationSequenceNumber"],
        "ProductNumber": v["ItemNumber"], "ProductName": v["LineDescription"],
        "ProductDescription": v["LineDescription"], "InvoicedQuantity": quantity,
        "SalesPrice": v["SalesPrice"], "SalesUnitSymbol": v["SalesUnitSymbol"],
        "LineAmount": amount, "CurrencyCode": v["CurrencyCode"],
    })  # fmt: skip
    del seq  # invoice lines keep the order line's sequence number (see the module docstring)
    return amount


def _customer_transaction(
    ctx: RuleContext, h: dict[str, Any], number: str, voucher: str, date: datetime, total: Decimal
) -> None:
    company = h["dataAreaId"]
    account = h["InvoiceCustomerAccountNumber"]
    trans = new_row(ctx, "CustTransactions", {
        "dataAreaId": company, "AccountNum": account, "Invoice": number, "Voucher": voucher,
        "TransDate": date, "DocumentDate": date, "DueDate": date, "AmountCur": total,
        "AmountMST": total, "CurrencyCode": h["CurrencyCode"], "TransType": "Sales",
        "PaymReference": h["SalesOrderNumber"], "Txt": f"Invoice {number}",
        "PaymTermId": h["PaymentTermsName"], "PaymMode": h["CustomerPaymentMethodName"],
        "OrderAccount": h["OrderingCustomerAccountNumber"], "SysDataAreaId": company,
        "ExchRate": Decimal(100),
    })  # fmt: skip
    new_row(ctx, "CustTransOpens", {
        "dataAreaId": company, "AccountNum": account, "TransDate": date, "DueDate": date,
        "AmountCur": total, "AmountMST": total, "RefRecId": trans.rec_id, "SysDataAreaId": company,
    })  # fmt: skip


def _set_status(ctx: RuleContext, header: Row, *, cancel: bool = False) -> None:
    done = invoiced_quantities(ctx, header)
    lines = _order_lines(ctx, header)
    any_invoiced = False
    all_invoiced = True
    for row in lines:
        v = row.values
        invoiced = done.get(int(v["LineCreationSequenceNumber"]), Decimal(0))
        full = invoiced >= Decimal(v["OrderedSalesQuantity"])
        any_invoiced |= invoiced > 0
        status = "Invoiced" if full or (cancel and invoiced > 0) else v["SalesOrderLineStatus"]
        if cancel and invoiced <= 0:
            status = "Canceled"
        all_invoiced &= status in {"Invoiced", "Canceled"}
        if status != v["SalesOrderLineStatus"]:
            replace_row(ctx, "SalesOrderLinesV3", row, SalesOrderLineStatus=status)
    if cancel and not any_invoiced:
        order, processing = "Canceled", "Canceled"
    elif all_invoiced and lines:
        order, processing = "Invoiced", "Invoiced"
    elif any_invoiced:
        order, processing = "Backorder", "PartiallyInvoiced"
    else:
        return
    fresh = ctx.find("SalesOrderHeadersV2", dataAreaId=header.values["dataAreaId"],
                     SalesOrderNumber=header.values["SalesOrderNumber"]) or header  # fmt: skip
    replace_row(ctx, "SalesOrderHeadersV2", fresh, SalesOrderStatus=order,
             SalesOrderProcessingStatus=processing)  # fmt: skip


def _cancel(ctx: RuleContext, header: Row) -> dict[str, Any]:
    h = header.values
    if h["SalesOrderStatus"] in {"Invoiced", "Canceled"}:
        raise PostingError(f"Sales order {h['SalesOrderNumber']} is {h['SalesOrderStatus']}.")
    _set_status(ctx, header, cancel=True)
    fresh = ctx.find("SalesOrderHeadersV2", dataAreaId=h["dataAreaId"],
                     SalesOrderNumber=h["SalesOrderNumber"]) or header  # fmt: skip
    return {"dataAreaId": h["dataAreaId"], "SalesOrderNumber": h["SalesOrderNumber"],
            "SalesOrderStatus": fresh.values["SalesOrderStatus"]}  # fmt: skip
