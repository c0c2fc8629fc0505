"""Export records (spec §5.10, the help-site example) and the merchant-local date formats."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from paybridge_sandbox.paytrace.state import (
    AUTH_ONLY,
    DECLINED,
    PENDING,
    SETTLED,
    VOIDED,
    PayTraceSandbox,
    Transaction,
)
from paybridge_sandbox.paytrace.wire import JsonObject, fail

_SHIPPING_KEYS = (
    "name",
    "street_address",
    "street_address2",
    "city",
    "county",
    "state",
    "zip",
    "country",
)
_BILLING_KEYS = tuple(k for k in _SHIPPING_KEYS if k != "county")
_STATUS = {
    PENDING: ("Y", "Pending Settlement"),
    AUTH_ONLY: ("N", "Authorization Only"),
    VOIDED: ("N", "Voided"),
    DECLINED: ("N", "Declined"),
}


def us_datetime(local: datetime) -> str:
    """``4/10/2015 4:06:30 PM``: merchant-local, no zone, as PayTrace prints it."""
    hour = local.hour % 12 or 12
    half = "PM" if local.hour >= 12 else "AM"
    return f"{local.month}/{local.day}/{local.year} {hour}:{local:%M:%S} {half}"


def parse_us_date(value: object, code: str) -> date:
    """A request date, ``MM/DD/YYYY`` (single digits tolerated); ``code`` when invalid."""
    if not isinstance(value, str):
        raise fail(code)
    parts = value.strip().split("/")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(parts[2]) != 4:
        raise fail(code)
    try:
        return date(int(parts[2]), int(parts[0]), int(parts[1]))
    except ValueError:
        raise fail(code) from None


def _address(source: JsonObject, keys: tuple[str, ...]) -> dict[str, str]:
    result = {key: str(source.get(key) or "") for key in keys}
    if not result["country"] and any(result.values()):
        result["country"] = "US"
    return result


def status_of(txn: Transaction) -> tuple[str, str]:
    if txn.status == SETTLED:
        label = f"GB{txn.batch_number}"
        return label, label
    return _STATUS[txn.status]


def record(sandbox: PayTraceSandbox, txn: Transaction, include_bin: bool = False) -> JsonObject:
    code, message = status_of(txn)
    card: dict[str, Any] = {"masked_number": "", "expiration_month": 0, "expiration_year": 0}
    if txn.card is not None:
        card = {
            "masked_number": txn.card.masked_star(include_bin),
            "expiration_month": txn.card.expiration_month,
            "expiration_year": txn.card.expiration_year % 100,
        }
    settled = us_datetime(sandbox.local(txn.settled_at)) if txn.settled_at else ""
    out: JsonObject = {
        "transaction_id": txn.transaction_id,
        "credit_card": card,
        "transaction_type": txn.transaction_type,
        "description": txn.description,
        "amount": txn.amount,
        "invoice_id": txn.invoice_id,
        "shipping_address": _address(txn.shipping_address, _SHIPPING_KEYS),
        "billing_address": _address(txn.billing_address, _BILLING_KEYS),
        "receipt_emailed_to": txn.receipt_emailed_to,
        "tax_amount": "" if txn.tax_amount is None else f"{txn.tax_amount:.2f}",
        "customer_reference_id": txn.customer_reference_id,
        "approval_code": txn.approval_code,
        "approval_message": txn.approval_message,
        "avs_response": txn.avs_response,
        "csc_response": txn.csc_response,
        "status_code": code,
        "status_message": message,
        "created": {
            "through": "API",
            "at": us_datetime(sandbox.local(txn.created_at)),
            "by": txn.created_by,
            "from_ip": txn.from_ip,
        },
        "settled": settled,
        "customer_id": txn.customer_id,
    }
    if txn.discretionary_data:  # echoed as on the sale's own reply (spec §6)
        out["discretionary_data"] = txn.discretionary_data
    return out


def record_json(sandbox: PayTraceSandbox, txn: Transaction, include_bin: bool = False) -> str:
    """The record as JSON text, cached until the transaction changes (exports are frequent)."""
    if include_bin:
        return sandbox.renderer.dumps(record(sandbox, txn, True))
    cache = sandbox.state.record_cache
    text = cache.get(txn.transaction_id)
    if text is None:
        text = cache[txn.transaction_id] = sandbox.renderer.dumps(record(sandbox, txn))
    return text


def export_body(sandbox: PayTraceSandbox, txns: list[Transaction], include_bin: bool) -> str:
    """The export envelope with pre-rendered records spliced in."""
    items = ",".join(record_json(sandbox, txn, include_bin) for txn in txns)
    return (
        '{"success":true,"response_code":1,"status_message":"Your request has been successfully '
        'completed.","transactions":[' + items + '],"external_transaction_id":""}'
    )


def amount_text(value: Decimal) -> str:
    return f"{value:.2f}"
