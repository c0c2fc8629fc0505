"""Transaction exports (by_id, by_date_range with every §5.10 filter) and batch reports (§5.11).

Emulator choices where the real behaviour is not public: ``transaction_type`` STR/FWD matches
nothing (store-and-forward is not emulated) and an unknown type matches nothing;
``including_text`` is a case-insensitive substring search over invoice_id, description,
customer_id, customer_reference_id, the billing name, receipt e-mail, approval code and
discretionary values. Batch summaries carry number, settled time, counts and amounts (the legacy
fields); their exact v1 names are not public.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from paybridge_sandbox.paytrace.charges import Handler
from paybridge_sandbox.paytrace.records import export_body, parse_us_date, us_datetime
from paybridge_sandbox.paytrace.state import (
    DECLINED,
    PENDING,
    SETTLED,
    VOIDED,
    Batch,
    PayTraceSandbox,
    RequestContext,
    Transaction,
)
from paybridge_sandbox.paytrace.wire import (
    OK_EXPORT,
    JsonObject,
    fail,
    read_str,
    read_transaction_id,
)

_BY_TYPE = {"SALE", "AUTHORIZATION", "REFUND"}
_BY_STATUS = {"VOID": VOIDED, "SETTLED": SETTLED, "PENDING": PENDING, "DECLINED": DECLINED}


def _type_filter(value: str) -> Callable[[Transaction], bool] | None:
    wanted = value.strip().upper()
    if not wanted:
        return None
    if wanted in _BY_TYPE:
        return lambda txn: txn.transaction_type == wanted
    status = _BY_STATUS.get(wanted)
    if status is not None:
        return lambda txn: txn.status == status
    return lambda txn: False


def _text_of(txn: Transaction) -> str:
    parts = [
        txn.invoice_id,
        txn.description,
        txn.customer_id,
        txn.customer_reference_id,
        str(txn.billing_address.get("name") or ""),
        txn.receipt_emailed_to,
        txn.email,
        txn.approval_code,
        *(str(v) for v in txn.discretionary_data.values()),
    ]
    return "\n".join(parts).lower()


def _filters(body: JsonObject) -> list[Callable[[Transaction], bool]]:
    checks: list[Callable[[Transaction], bool]] = []
    if body.get("transaction_id") not in (None, ""):
        wanted_id = read_transaction_id(body)
        checks.append(lambda txn: txn.transaction_id == wanted_id)
    by_type = _type_filter(read_str(body, "transaction_type"))
    if by_type is not None:
        checks.append(by_type)
    customer_id = read_str(body, "customer_id")
    if customer_id:
        checks.append(lambda txn: txn.customer_id == customer_id)
    text = read_str(body, "including_text").strip().lower()
    if text:
        checks.append(lambda txn: text in _text_of(txn))
    return checks


def by_date_range(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> str:
    """Transactions created (merchant-local date) from start_date to end_date inclusive."""
    first = parse_us_date(body.get("start_date"), "48")
    last = parse_us_date(body.get("end_date"), "49")
    checks = _filters(body)
    txns = sandbox.state.transactions
    chosen = [txns[i] for i in sandbox.state.ids_between(first, last)]
    if checks:
        chosen = [txn for txn in chosen if all(check(txn) for check in checks)]
    return export_body(sandbox, chosen, body.get("include_bin") is True)


def by_id(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> str:
    txn = sandbox.state.transactions.get(read_transaction_id(body))
    if txn is None:
        raise fail("811")
    return export_body(sandbox, [txn], body.get("include_bin") is True)


def _batch_number(body: JsonObject) -> int | None:
    if body.get("batch_number") in (None, ""):
        return None
    return read_transaction_id(body, "batch_number", code="51")


def batch_summary(sandbox: PayTraceSandbox, batch: Batch) -> JsonObject:
    txns = [sandbox.state.transactions[i] for i in batch.transaction_ids]
    sales = [t.amount for t in txns if t.transaction_type != "REFUND"]
    refunds = [t.amount for t in txns if t.transaction_type == "REFUND"]
    return {
        "number": batch.batch_number,
        "settled": us_datetime(sandbox.local(batch.settled_at)),
        "transaction_count": len(txns),
        "sales_count": len(sales),
        "sales_amount": _total(sales),
        "refund_count": len(refunds),
        "refund_amount": _total(refunds),
        "net_amount": _total(sales) - _total(refunds),
    }


def _total(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal("0.00"))


def _find_batch(sandbox: PayTraceSandbox, body: JsonObject) -> Batch:
    number = _batch_number(body)
    batches = sandbox.state.batches
    if number is None:
        if not batches:
            raise fail("51")
        return batches[max(batches)]
    batch = batches.get(number)
    if batch is None:
        raise fail("51")
    return batch


def export_one(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    batch = _find_batch(sandbox, body)
    return {
        "success": True,
        "response_code": 1,
        "status_message": OK_EXPORT,
        "batch": batch_summary(sandbox, batch),
    }


def export_batches(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    first = parse_us_date(body.get("start_date"), "48")
    last = parse_us_date(body.get("end_date"), "49")
    chosen = [
        batch_summary(sandbox, batch)
        for batch in sandbox.state.batches.values()
        if first <= sandbox.local(batch.settled_at).date() <= last
    ]
    return {"success": True, "response_code": 1, "status_message": OK_EXPORT, "batches": chosen}


def transaction_list(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> str:
    batch = _find_batch(sandbox, body)
    txns = [sandbox.state.transactions[i] for i in batch.transaction_ids]
    return export_body(sandbox, txns, body.get("include_bin") is True)


ROUTES: dict[str, Handler] = {
    "/v1/transactions/export/by_date_range": by_date_range,
    "/v1/transactions/export/by_id": by_id,
    "/v1/batches/export_one": export_one,
    "/v1/batches/export": export_batches,
    "/v1/batches/transaction_list": transaction_list,
}
