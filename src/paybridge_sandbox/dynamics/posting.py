"""EMULATOR-ONLY custom services: ``POST /api/services/PayBridgeSandbox/Journals/post`` (here)
and ``PayBridgeSandbox/SalesOrders/invoice|creditNote|cancel`` (``invoicing.py``).

Real F&O has no standard OData action that posts a journal; integrators post with a batch job or
a custom X++ JSON service (``LedgerJournalCheckPost``). This service stands in for the latter so
tests and demos can reach "posted and settled" states. Body ``{"dataAreaId": "usmf",
"JournalBatchNumber": "USMF-000001"}``. It checks every voucher balances and that marked invoices
are not over-settled, then sets ``IsPosted=Yes``, writes a payment ``CustTransactions`` row per
customer line and settles marked invoices against their ``CustTransOpens`` remaining amounts.
Failures answer like F&O custom services: 500 with ``{"Message", "ExceptionType", "ActivityId"}``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

from paybridge_sandbox.dynamics.odata import Reply
from paybridge_sandbox.dynamics.rules import RuleContext, split_display
from paybridge_sandbox.dynamics.rules.journals import open_amount
from paybridge_sandbox.dynamics.state import Sandbox
from paybridge_sandbox.dynamics.store import Row
from paybridge_sandbox.dynamics.values import default_value, dumps

SERVICE = "PayBridgeSandbox/Journals"
REVERSAL = "PayBridgeSandbox/Settlements"  # reversal.py: "Reverse transaction" of a payment
_JOURNALS = (
    ("CustomerPaymentJournalHeaders", "CustomerPaymentJournalLines"),
    ("LedgerJournalHeaders", "LedgerJournalLines"),
)


class PostingError(Exception):
    """A refusal to post (F&O: the journal check's Infolog)."""


def handle_service(sandbox: Sandbox, path: str, body: bytes) -> Reply:
    from paybridge_sandbox.dynamics import invoicing  # it builds on this module's row helpers

    path = path.strip("/")
    if path in {"", "PayBridgeSandbox", SERVICE, REVERSAL, invoicing.SERVICE}:
        return _listing(path)
    prefix = f"{invoicing.SERVICE}/"
    operation = path.removeprefix(prefix) if path.startswith(prefix) else ""
    if path not in (f"{SERVICE}/post", f"{REVERSAL}/reverse") and (
        operation not in invoicing.OPERATIONS
    ):
        return _failure(sandbox, f"Service operation '{path}' was not found.", 404)
    try:
        request = json.loads(body or b"{}", parse_float=Decimal)
        if not isinstance(request, dict):
            raise PostingError("The request body must be a JSON object.")
        company = str(request.get("dataAreaId", ""))
        if operation in invoicing.OPERATIONS:
            result = invoicing.run_operation(sandbox, operation, request)
        elif path.startswith(REVERSAL):
            from paybridge_sandbox.dynamics.reversal import reverse_payment

            result = reverse_payment(
                sandbox, company, str(request.get("PaymentId", "")), str(request.get("Reason", ""))
            )
        else:
            result = post_journal(sandbox, company, str(request.get("JournalBatchNumber", "")))
    except (PostingError, json.JSONDecodeError, ArithmeticError) as exc:
        return _failure(sandbox, str(exc), 500)
    return Reply(200, dumps(result), {"Content-Type": "application/json; charset=utf-8"})


def _listing(path: str) -> Reply:
    if path == "":
        payload: dict[str, Any] = {"ServiceGroups": [{"Name": "PayBridgeSandbox"}]}
    elif path == "PayBridgeSandbox":
        payload = {
            "Services": [{"Name": "Journals"}, {"Name": "SalesOrders"}, {"Name": "Settlements"}]
        }
    elif path == SERVICE:
        payload = {"Operations": [{"Name": "post"}]}
    elif path == REVERSAL:
        payload = {"Operations": [{"Name": "reverse"}]}
    else:
        payload = {"Operations": [{"Name": n} for n in ("invoice", "creditNote", "cancel")]}
    return Reply(200, dumps(payload), {"Content-Type": "application/json; charset=utf-8"})


def _failure(sandbox: Sandbox, message: str, status: int) -> Reply:
    body = {
        "Message": message,
        "ExceptionType": "XppServicesException",
        "ActivityId": sandbox.activity_id(),
    }
    return Reply(status, dumps(body), {"Content-Type": "application/json; charset=utf-8"})


def post_journal(sandbox: Sandbox, company: str, batch: str) -> dict[str, Any]:
    """Check and post one journal atomically; returns what was posted and settled."""
    ctx = sandbox.engine.context()
    header_set, line_set, header = _find_header(ctx, company, batch)
    if header.values["IsPosted"] == "Yes":
        raise PostingError(f"Journal {batch} has already been posted.")
    lines = sorted(
        ctx.find_where(line_set, JournalBatchNumber=batch, dataAreaId=company),
        key=lambda r: r.values["LineNumber"],
    )
    if not lines:
        raise PostingError(f"Journal {batch} has no lines to post.")
    _check_balanced(line_set, lines)
    settlements = _settlements(ctx, line_set, lines)
    with sandbox.store.transaction():
        _set_posted(ctx, header_set, header)
        for row in lines:
            _post_customer_line(ctx, line_set, row)
        for (inv_company, invoice), amount in settlements.items():
            _settle(ctx, inv_company, invoice, amount)
    return {
        "dataAreaId": company,
        "JournalBatchNumber": batch,
        "IsPosted": "Yes",
        "Vouchers": sorted({r.values["Voucher"] for r in lines}),
        "SettledInvoices": [
            {"InvoiceCompany": c, "Invoice": i, "Amount": a} for (c, i), a in settlements.items()
        ],
    }


def _find_header(ctx: RuleContext, company: str, batch: str) -> tuple[str, str, Row]:
    for header_set, line_set in _JOURNALS:
        header = ctx.find(header_set, dataAreaId=company, JournalBatchNumber=batch)
        if header is not None:
            return header_set, line_set, header
    raise PostingError(f"Journal {batch} does not exist in company {company}.")


def _net(values: dict[str, Any]) -> Decimal:
    return Decimal(values["DebitAmount"]) - Decimal(values["CreditAmount"])


def _check_balanced(line_set: str, lines: list[Row]) -> None:
    """Lines without an offset account must balance per voucher (F&O's voucher check)."""
    open_by_voucher: dict[str, Decimal] = defaultdict(Decimal)
    date_field = "TransactionDate" if line_set == "CustomerPaymentJournalLines" else "TransDate"
    dates: dict[str, Any] = {}
    for row in lines:
        v = row.values
        if not v["OffsetAccountDisplayValue"]:
            open_by_voucher[v["Voucher"]] += _net(v)
            dates[v["Voucher"]] = v[date_field]
    for voucher, difference in open_by_voucher.items():
        if difference != 0:
            when = dates[voucher]
            raise PostingError(
                f"The transactions on voucher {voucher} do not balance as per "
                f"{when.month}/{when.day}/{when.year}. (accounting currency: "
                f"{abs(difference):.2f} - reporting currency: {abs(difference):.2f})"
            )


def _settlements(
    ctx: RuleContext, line_set: str, lines: list[Row]
) -> dict[tuple[str, str], Decimal]:
    """Marked amounts per invoice; refuse when more than the invoice's remaining amount."""
    if line_set != "CustomerPaymentJournalLines":
        return {}
    marked: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in lines:
        v = row.values
        if v["MarkedInvoice"]:
            company = str(v["MarkedInvoiceCompany"] or v["dataAreaId"]).lower()
            marked[(company, v["MarkedInvoice"])] += -_net(v)
        for settled in ctx.find_where(
            "PaymentJournalLineSettledInvoices",
            JournalBatchNumber=v["JournalBatchNumber"],
            JournalLineCompany=v["dataAreaId"],
            JournalLineNumber=v["LineNumber"],
        ):
            s = settled.values
            marked[(s["InvoiceCompany"], s["InvoiceNumber"])] += s[
                "SettlementAmountInInvoiceCurrency"
            ]
    batch = lines[0].values["JournalBatchNumber"]
    for (company, invoice), amount in marked.items():
        remaining = _remaining(ctx, company, invoice) - _reserved_elsewhere(
            ctx, company, invoice, batch
        )
        if amount > remaining:
            raise PostingError(
                f"The amount of the invoice {amount:.2f} is greater than the "
                f"remaining amount {remaining:.2f}."
            )
    return dict(marked)


def _remaining(ctx: RuleContext, company: str, invoice: str) -> Decimal:
    trans = ctx.find_where("CustTransactions", Invoice=invoice, dataAreaId=company)
    return open_amount(ctx, trans[0]) if trans else Decimal(0)


def _reserved_elsewhere(ctx: RuleContext, company: str, invoice: str, batch: str) -> Decimal:
    """What other unposted journals already mark against the invoice."""
    total = Decimal(0)
    for row in ctx.find_where("CustomerPaymentJournalLines", MarkedInvoice=invoice):
        v = row.values
        same_company = str(v["MarkedInvoiceCompany"] or v["dataAreaId"]).lower() == company
        other = v["JournalBatchNumber"] != batch
        if same_company and other and _unposted(ctx, v["dataAreaId"], v["JournalBatchNumber"]):
            total += -_net(v)
    for row in ctx.find_where(
        "PaymentJournalLineSettledInvoices", InvoiceNumber=invoice, InvoiceCompany=company
    ):
        s = row.values
        if s["JournalBatchNumber"] != batch and _unposted(
            ctx, s["JournalLineCompany"], s["JournalBatchNumber"]
        ):
            total += s["SettlementAmountInInvoiceCurrency"]
    return total


def _unposted(ctx: RuleContext, company: str, batch: str) -> bool:
    header = ctx.find("CustomerPaymentJournalHeaders", dataAreaId=company, JournalBatchNumber=batch)
    return header is not None and header.values["IsPosted"] == "No"


def _set_posted(ctx: RuleContext, header_set: str, header: Row) -> None:
    values = dict(header.values, IsPosted="Yes")
    table = ctx.store.table(header_set)
    ctx.store.put(
        header_set, table.key_of(values), Row(values, header.rec_id, ctx.rng.randint(2, 2**31 - 1))
    )


def _post_customer_line(ctx: RuleContext, line_set: str, row: Row) -> None:
    v = row.values
    if v["AccountType"] != "Cust":
        return
    date = v["TransactionDate" if line_set == "CustomerPaymentJournalLines" else "TransDate"]
    account = split_display(v["AccountDisplayValue"])[0]
    amount = _net(v)
    trans = new_row(
        ctx,
        "CustTransactions",
        {
            "dataAreaId": v["dataAreaId"],
            "AccountNum": account,
            "Voucher": v["Voucher"],
            "TransDate": date,
            "DocumentDate": date,
            "AmountCur": amount,
            "AmountMST": amount,
            "CurrencyCode": v["CurrencyCode"],
            "TransType": "Payment",
            "SysDataAreaId": v["dataAreaId"],
            "PaymReference": v.get("PaymentReference", ""),
            "PaymId": v.get("PaymentId", ""),
            "PostingProfile": v.get("PostingProfile", ""),
            "ExchRate": Decimal(100),
            "Txt": v.get("TransactionText", v.get("Text", "")),
        },
    )
    settled = -amount if v.get("MarkedInvoice") else Decimal(0)
    for other in ctx.find_where(
        "PaymentJournalLineSettledInvoices",
        JournalBatchNumber=v["JournalBatchNumber"],
        JournalLineCompany=v["dataAreaId"],
        JournalLineNumber=v["LineNumber"],
    ):
        settled += other.values["SettlementAmountInInvoiceCurrency"]
    open_part = amount + settled
    if open_part != 0:
        new_row(
            ctx,
            "CustTransOpens",
            {
                "dataAreaId": v["dataAreaId"],
                "AccountNum": account,
                "TransDate": date,
                "DueDate": date,
                "AmountCur": open_part,
                "AmountMST": open_part,
                "RefRecId": trans.rec_id,
                "SysDataAreaId": v["dataAreaId"],
            },
        )
    else:
        replace_row(ctx, "CustTransactions", trans, SettleAmountCur=amount, Closed=date)


def _settle(ctx: RuleContext, company: str, invoice: str, amount: Decimal) -> None:
    trans = ctx.find_where("CustTransactions", Invoice=invoice, dataAreaId=company)[0]
    remaining = amount
    for opened in ctx.find_where(
        "CustTransOpens", RefRecId=trans.values["SysRecId"], dataAreaId=company
    ):
        take = min(remaining, Decimal(opened.values["AmountCur"]))
        left = Decimal(opened.values["AmountCur"]) - take
        remaining -= take
        table = ctx.store.table("CustTransOpens")
        key = table.key_of(opened.values)
        if left == 0:
            ctx.store.remove("CustTransOpens", key)  # F&O deletes a fully settled open item
        else:
            replace_row(ctx, "CustTransOpens", opened, AmountCur=left, AmountMST=left)
    total = Decimal(trans.values["SettleAmountCur"]) + amount
    changes: dict[str, Any] = {
        "SettleAmountCur": total,
        "SettleAmountMST": total,
        "LastSettleDate": ctx.today(),
    }
    if total >= Decimal(trans.values["AmountCur"]):
        changes["Closed"] = ctx.today()
    replace_row(ctx, "CustTransactions", trans, **changes)


def new_row(ctx: RuleContext, entity_set: str, supplied: dict[str, Any]) -> Row:
    entity = ctx.store.schema.sets[entity_set]
    values = {f.name: default_value(entity, f, ctx.store.schema) for f in entity.fields}
    values.update(supplied)
    rec_id = ctx.store.new_rec_id()
    values["SysRecId"] = rec_id
    row = Row(values, rec_id, 1)
    table = ctx.store.table(entity_set)
    ctx.store.put(entity_set, table.key_of(values), row)
    return row


def replace_row(ctx: RuleContext, entity_set: str, row: Row, **changes: Any) -> None:
    values = dict(row.values, **changes)
    table = ctx.store.table(entity_set)
    ctx.store.put(
        entity_set, table.key_of(values), Row(values, row.rec_id, ctx.rng.randint(2, 2**31 - 1))
    )
