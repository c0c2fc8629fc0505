"""Benchmark: the compiled payment-line template against a hand-written Python function.

Prints records per second for both, in the same run, and their ratio; exits non-zero when the two
produce different records (or, with --min-ratio, when the template is too slow).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from paybridge.mapping import load_templates
from paybridge.model import Money, Transaction, currency_exponent

TEMPLATE = "payment_to_customer_payment_line"
CONTEXT = {
    "company": "usmf",
    "journal_batch_number": "USMF-000123",
    "customer_account": "US-001",
    "bank_account": "USMF OPER",
    "payment_method_name": "CREDITCARD",
    "time_zone": "America/Los_Angeles",
}
_SIDE = {"sale": "credit", "capture": "credit", "refund": "debit", "void": "debit"}
_DASH = re.compile(r"(?<!\\)-")


def hand_written(tx: Mapping[str, Any], ctx: Mapping[str, Any]) -> dict[str, Any]:
    """What a developer would write by hand for one customer: the same record, no template."""
    kind, amount = tx["kind"], tx["amount"]
    side = _SIDE[kind]
    currency = amount["currency"]
    value = Decimal(amount["amount"]).quantize(
        Decimal(1).scaleb(-currency_exponent(currency)), rounding=ROUND_HALF_EVEN
    )
    moment = datetime.fromisoformat(tx["occurred_at"]).astimezone(ZoneInfo(ctx["time_zone"]))
    invoice, order, masked = tx.get("invoice_id"), tx.get("order_id"), tx.get("masked_card")
    record: dict[str, Any] = {
        "dataAreaId": ctx["company"],
        "JournalBatchNumber": ctx["journal_batch_number"],
        "AccountType": "Cust",
        "AccountDisplayValue": _DASH.sub(r"\\-", ctx["customer_account"]),
        "TransactionDate": f"{moment.date().isoformat()}T12:00:00Z",
        "CurrencyCode": currency,
        "CreditAmount" if side == "credit" else "DebitAmount": value,
        "OffsetAccountType": "Bank",
        "OffsetAccountDisplayValue": _DASH.sub(r"\\-", ctx["bank_account"]),
        "PaymentReference": tx["transaction_id"],
        "PaymentId": f"PT-{tx['transaction_id']}-{kind}",
    }
    if side == "credit" and invoice:
        record.update(MarkedInvoice=invoice, MarkedInvoiceCompany=ctx["company"],
                      SettleVoucher="SelectedTransact")  # fmt: skip
    record["IsPrepayment"] = "Yes" if side == "credit" and order and not invoice else "No"
    words = ["PayTrace", kind, tx["transaction_id"]] + (["reversal"] if kind == "void" else [])
    digits = re.sub(r"\D", "", masked or "")
    record["TransactionText"] = " ".join(words + ([f"xxxx{digits[-4:]}"] if digits else []))
    record["PaymentMethodName"] = ctx["payment_method_name"]
    return record


def sample_transactions(count: int) -> list[dict[str, Any]]:
    kinds = ["sale", "capture", "refund", "void"]
    start = datetime(2026, 3, 7, 23, 30, tzinfo=UTC)
    return [
        Transaction(
            transaction_id=str(400000000 + i),
            kind=kinds[i % 4],
            status="approved",
            amount=Money.of(f"{(i % 9000) + 1}.{i % 1000:03d}", "USD" if i % 5 else "JPY"),
            occurred_at=start + timedelta(minutes=37 * i),
            invoice_id=f"INV-{i}" if i % 3 == 0 else None,
            order_id=f"SO-{i}" if i % 2 == 0 else None,
            masked_card="xxxxxxxxxxxx5439" if i % 7 else None,
        ).model_dump(mode="json")
        for i in range(count)
    ]


def rates(
    first: Callable[[], object], second: Callable[[], object], count: int, repeat: int
) -> tuple[float, float]:
    """Best of ``repeat`` runs each, interleaved so that a change in machine load hits both."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, fn in enumerate((first, second)):
            started = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - started)
    return count / best[0], count / best[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--min-ratio", type=float, default=0.0)
    args = parser.parse_args(argv)
    template = load_templates().get(TEMPLATE)
    rows = sample_transactions(args.records)
    for row in rows:
        mapped = template.apply(row, context=CONTEXT)
        if mapped.errors or mapped.record != hand_written(row, CONTEXT):
            print(f"MISMATCH for {row['transaction_id']}: {mapped.record} {mapped.errors}")
            return 1
    hand, compiled = rates(
        lambda: [hand_written(r, CONTEXT) for r in rows],
        lambda: [template.apply(r, context=CONTEXT) for r in rows],
        len(rows),
        args.repeat,
    )
    ratio = compiled / hand
    print(f"hand-written function: {hand:12,.0f} records/s")
    print(f"compiled template:     {compiled:12,.0f} records/s  ({template.ref})")
    print(f"ratio template/hand:   {ratio:12.2f}  (target >= 0.50)")
    return 0 if ratio >= args.min_ratio else 2


if __name__ == "__main__":
    sys.exit(main())
