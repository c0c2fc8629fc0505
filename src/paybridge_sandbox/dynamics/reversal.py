"""EMULATOR-ONLY custom service: ``POST /api/services/PayBridgeSandbox/Settlements/reverse``.

F&O reverses a posted customer payment with "Reverse transaction" (``TransactionReversal_Cust``):
a reversing voucher debits the customer again and the settlement with the invoice is undone,
so the invoice is open again. No standard OData action does this; an integrator exposes it
through a custom X++ service, which this stands in for (like the journal posting service).
Body ``{"dataAreaId": "usmf", "PaymentId": "PT-ACH900001-sale", "Reason": "R01: ..."}``: the
posted payment is the ``CustTransactions`` row whose ``PaymId`` is ``PaymentId``. Reversing it
twice answers ``{"Reversed": false}`` with what the first reversal did (idempotent, so a caller
whose answer was lost can ask again). Failures answer 500 like F&O custom services.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from paybridge_sandbox.dynamics.posting import PostingError, new_row, replace_row
from paybridge_sandbox.dynamics.rules import RuleContext
from paybridge_sandbox.dynamics.state import Sandbox

SERVICE = "PayBridgeSandbox/Settlements"
SUFFIX = "-reversal"


def reverse_payment(sandbox: Sandbox, company: str, payment_id: str, reason: str) -> dict[str, Any]:
    """Reverse the posted payment ``payment_id`` of ``company``; re-open what it settled."""
    ctx = sandbox.engine.context()
    company = company.lower()
    payments = [
        r for r in ctx.find_where("CustTransactions", PaymId=payment_id, dataAreaId=company)
        if r.values["TransType"] == "Payment"
    ]  # fmt: skip
    if not payments:
        raise PostingError(f"No posted payment {payment_id} in company {company}.")
    done = ctx.find_where("CustTransactions", PaymId=payment_id + SUFFIX, dataAreaId=company)
    invoice = _settled_invoice(ctx, company, payment_id)
    if done:
        return _answer(company, payment_id, invoice, -Decimal(done[0].values["AmountCur"]), False)
    payment = payments[0]
    amount = -Decimal(payment.values["AmountCur"])  # a payment is a credit: negative
    with sandbox.store.transaction():
        if invoice is not None:
            _reopen(ctx, company, invoice, amount)
        new_row(ctx, "CustTransactions", {
            **{k: payment.values[k] for k in ("dataAreaId", "AccountNum", "CurrencyCode",
                                              "SysDataAreaId", "PostingProfile")},
            "Voucher": payment.values["Voucher"], "TransDate": ctx.today(),
            "DocumentDate": ctx.today(), "AmountCur": amount, "AmountMST": amount,
            "TransType": "Payment", "PaymId": payment_id + SUFFIX,
            "PaymReference": payment.values.get("PaymReference", ""), "ExchRate": Decimal(100),
            "Txt": f"Reversal of {payment_id}: {reason}"[:60],
            "SettleAmountCur": amount, "SettleAmountMST": amount, "Closed": ctx.today(),
        })  # fmt: skip
        settled = -amount
        replace_row(ctx, "CustTransactions", payment, SettleAmountCur=-settled,
                    SettleAmountMST=-settled, Closed=ctx.today())  # fmt: skip
    return _answer(company, payment_id, invoice, amount, True)


def _settled_invoice(ctx: RuleContext, company: str, payment_id: str) -> str | None:
    for line in ctx.find_where("CustomerPaymentJournalLines", PaymentId=payment_id):
        v = line.values
        if str(v["dataAreaId"]).lower() == company and v["MarkedInvoice"]:
            return str(v["MarkedInvoice"])
    return None


def _reopen(ctx: RuleContext, company: str, invoice: str, amount: Decimal) -> None:
    """Undo ``amount`` of the invoice's settlement: its open item comes back."""
    (trans,) = ctx.find_where("CustTransactions", Invoice=invoice, dataAreaId=company)[:1]
    settled = max(Decimal(0), Decimal(trans.values["SettleAmountCur"]) - amount)
    replace_row(ctx, "CustTransactions", trans, SettleAmountCur=settled, SettleAmountMST=settled,
                Closed=None)  # fmt: skip
    opened = ctx.find_where("CustTransOpens", RefRecId=trans.values["SysRecId"], dataAreaId=company)
    if opened:
        left = Decimal(opened[0].values["AmountCur"]) + amount
        replace_row(ctx, "CustTransOpens", opened[0], AmountCur=left, AmountMST=left)
        return
    new_row(ctx, "CustTransOpens", {
        "dataAreaId": company, "AccountNum": trans.values["AccountNum"],
        "TransDate": trans.values["TransDate"], "DueDate": trans.values.get("DueDate"),
        "AmountCur": amount, "AmountMST": amount, "RefRecId": trans.values["SysRecId"],
        "SysDataAreaId": company,
    })  # fmt: skip


def _answer(
    company: str, payment_id: str, invoice: str | None, amount: Decimal, reversed_now: bool
) -> dict[str, Any]:
    return {
        "dataAreaId": company, "PaymentId": payment_id, "Reversed": reversed_now,
        "ReopenedInvoice": invoice, "Amount": amount,
    }  # fmt: skip
