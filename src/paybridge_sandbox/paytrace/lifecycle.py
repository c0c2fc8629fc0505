"""What happens to a card transaction after it exists: capture, void, settle, adjust, receipts, Level 3.

Settlement (here and nightly, see ``scheduler``) moves every pending transaction into a new batch.
``/v1/transactions/settle`` answers 175 with the batch number (response shape [U]). Adjust
(path a setting, default ``/v1/transactions/adjust``) answers 180 [U]. No real e-mail is sent by
``email_receipt``; the address is recorded as ``receipt_emailed_to``.
"""

from __future__ import annotations

from datetime import datetime

from paybridge_sandbox.paytrace.charges import AUTHORIZATION, REFUND, Handler, source_transaction
from paybridge_sandbox.paytrace.checks import settle_checks
from paybridge_sandbox.paytrace.state import (
    AUTH_ONLY,
    PENDING,
    SETTLED,
    VOIDED,
    Batch,
    PayTraceSandbox,
    RequestContext,
)
from paybridge_sandbox.paytrace.wire import JsonObject, fail, read_amount, read_str


def capture(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    """Full or partial (≤ authorized) capture; the transaction keeps its id (spec §5.5)."""
    txn = source_transaction(sandbox, body)
    if txn.transaction_type != AUTHORIZATION or txn.status != AUTH_ONLY:
        raise fail("816")
    amount = read_amount(body, required=False)
    amount = txn.authorized_amount if amount is None else amount
    if amount <= 0:
        raise fail("39")
    if amount > txn.authorized_amount:
        raise fail("57")
    txn.amount = amount
    txn.status = PENDING
    sandbox.state.changed(txn)
    return {
        "success": True,
        "response_code": 112,
        "status_message": "Your transaction was successfully captured.",
        "transaction_id": txn.transaction_id,
        "external_transaction_id": "",
    }


def void(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    """Unsettled sales, captures, authorizations and refunds can be voided; else 818."""
    txn = source_transaction(sandbox, body)
    if txn.status not in (PENDING, AUTH_ONLY):
        raise fail("818")
    txn.status = VOIDED
    sandbox.state.changed(txn)
    if txn.parent_id is not None:
        parent = sandbox.state.transactions[txn.parent_id]
        parent.refunded -= txn.amount
        sandbox.state.changed(parent)
    return {
        "success": True,
        "response_code": 109,
        "status_message": "Your transaction was successfully voided.",
        "transaction_id": txn.transaction_id,
    }


def settle_pending(sandbox: PayTraceSandbox, when: datetime) -> Batch | None:
    """Close the open batch: every pending transaction becomes settled in a new batch."""
    state = sandbox.state
    settle_checks(sandbox)
    if not state.pending:
        return None
    batch = Batch(batch_number=state.counters.batch_number, settled_at=when)
    state.counters.batch_number += 1
    for transaction_id in list(state.pending):
        txn = state.transactions[transaction_id]
        txn.status = SETTLED
        txn.batch_number = batch.batch_number
        txn.settled_at = when
        state.changed(txn)
        batch.transaction_ids.append(transaction_id)
    state.batches[batch.batch_number] = batch
    state.mark("batches", batch.batch_number)
    state.mark("meta", "counters")
    return batch


def settle(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    batch = settle_pending(sandbox, ctx.now)
    reply: JsonObject = {
        "success": True,
        "response_code": 175,
        "status_message": "The batch was successfully settled.",
        "transaction_count": 0 if batch is None else len(batch.transaction_ids),
    }
    if batch is not None:
        reply["batch_number"] = batch.batch_number
    return reply


def adjust(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    txn = source_transaction(sandbox, body)
    amount = read_amount(body)
    assert amount is not None  # required=True raises instead
    if txn.status not in (PENDING, AUTH_ONLY) or txn.transaction_type == REFUND or amount <= 0:
        raise fail("62")
    txn.amount = amount
    if txn.status == AUTH_ONLY:
        txn.authorized_amount = amount
    sandbox.state.changed(txn)
    return {
        "success": True,
        "response_code": 180,
        "status_message": "The transaction amount was successfully adjusted.",
        "transaction_id": txn.transaction_id,
    }


def email_receipt(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    txn = source_transaction(sandbox, body)
    email = read_str(body, "email").strip()
    if "@" not in email or " " in email:
        raise fail("50")
    txn.receipt_emailed_to = email
    sandbox.state.changed(txn)
    return {
        "success": True,
        "response_code": 149,
        "status_message": f"Your transaction receipt was successfully sent to {email}.",
    }


def _level_three(brand: str) -> Handler:
    def handle(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
        txn = source_transaction(sandbox, body)
        if txn.card is None or txn.card.brand != brand:
            raise fail("59")
        if txn.status != PENDING or txn.transaction_type == REFUND:
            raise fail("63")
        items = body.get("line_items", [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise fail("55")
        _check_booleans(body, items)
        txn.level3_line_items += len(items)
        sandbox.state.changed(txn)
        return {
            "success": True,
            "response_code": 170,
            "status_message": (
                "Visa/MasterCard enhanced data was successfully added to Transaction ID "
                f"{txn.transaction_id}. {len(items)} line item records were created."
            ),
        }

    return handle


def _check_booleans(body: JsonObject, items: list[JsonObject]) -> None:
    """MasterCard flags must be JSON booleans: strings "true" were rejected live (spec §5.9)."""
    flags = ("additional_tax_included", "discount_included", "tax_included")
    for source in (body, *items):
        for flag in flags:
            if flag in source and not isinstance(source[flag], bool):
                raise fail("64")


ROUTES: dict[str, Handler] = {
    "/v1/transactions/authorization/capture": capture,
    "/v1/transactions/void": void,
    "/v1/transactions/settle": settle,
    "/v1/transactions/email_receipt": email_receipt,
    "/v1/level_three/visa": _level_three("VISA"),
    "/v1/level_three/mastercard": _level_three("MASTERCARD"),
}
