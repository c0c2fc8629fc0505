"""Card sales, authorizations and card refunds: keyed, by customer, by transaction (spec §5.1-5.3, 5.7).

Declines are deterministic: amounts 0.29 and 1.12 decline (spec §8); 0.29 on an authorization
says EXPIRED CARD, and so does any charge of a card whose expiry month has passed in the
merchant's time zone (``decline_expired_cards``). Swiped and encrypted (E2EE) variants are not emulated: they need track data or
PayTrace's private key, which a sandbox must not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from paybridge_sandbox.paytrace.cards import CardOnFile, csc_response, read_card
from paybridge_sandbox.paytrace.state import (
    AUTH_ONLY,
    DECLINED,
    PENDING,
    SETTLED,
    PayTraceSandbox,
    RequestContext,
    Transaction,
)
from paybridge_sandbox.paytrace.wire import (
    ApiError,
    JsonObject,
    customer_not_found,
    fail,
    read_amount,
    read_object,
    read_str,
    read_transaction_id,
)

Handler = Callable[[PayTraceSandbox, RequestContext, JsonObject], JsonObject | str]

DECLINE_AMOUNTS = {Decimal("0.29"), Decimal("1.12")}
APPROVED_MESSAGE = "  NO  MATCH - Approved and completed"
DO_NOT_HONOR = "    DECLINE - Do not honor"
EXPIRED_CARD = "  EXPIRED CARD - Expired card"
SALE = "SALE"
AUTHORIZATION = "AUTHORIZATION"
REFUND = "REFUND"


def positive_amount(body: JsonObject, *, allow_zero: bool = False) -> Decimal:
    amount = read_amount(body)
    assert amount is not None  # read_amount(required=True) raises instead of returning None
    if amount < 0 or (amount == 0 and not allow_zero):
        raise fail("39")
    return amount


def _details(body: JsonObject) -> JsonObject:
    """The optional fields every sale/auth/refund may carry (spec §5, §6)."""
    tax = read_amount(body, "tax_amount", required=False)
    return {
        "invoice_id": read_str(body, "invoice_id"),
        "description": read_str(body, "description"),
        "customer_reference_id": read_str(body, "customer_reference_id"),
        "email": read_str(body, "email"),
        "tax_amount": tax,
        "billing_address": read_object(body, "billing_address"),
        "shipping_address": read_object(body, "shipping_address"),
        "discretionary_data": read_object(body, "discretionary_data"),
    }


def charge(
    sandbox: PayTraceSandbox,
    ctx: RequestContext,
    body: JsonObject,
    kind: str,
    card: CardOnFile | None,
    *,
    amount: Decimal,
    customer_id: str = "",
    show_mask: bool = True,
) -> JsonObject:
    """Record one card transaction (approved or declined) and answer like PayTrace."""
    state = sandbox.state
    expired = (
        card is not None
        and sandbox.settings.decline_expired_cards
        and card_expired(card, ctx.now.astimezone(ZoneInfo(sandbox.settings.merchant_timezone)))
    )
    declined = expired or amount in DECLINE_AMOUNTS
    csc = csc_response(card, body.get("csc")) if card is not None else ""
    approval = "" if declined else state.next_approval_code()
    if declined:
        trigger = kind == AUTHORIZATION and amount == Decimal("0.29")
        message = EXPIRED_CARD if expired or trigger else DO_NOT_HONOR
        status = DECLINED
    else:
        message = APPROVED_MESSAGE
        status = AUTH_ONLY if kind == AUTHORIZATION else PENDING
    txn = Transaction(
        transaction_id=state.next_transaction_id(),
        transaction_type=kind,
        status=status,
        amount=amount,
        authorized_amount=amount,
        created_at=ctx.now,
        card=card,
        customer_id=customer_id,
        approval_code=approval,
        approval_message=message,
        avs_response="No Match",
        csc_response=csc,
        created_by=ctx.username,
        from_ip=ctx.from_ip,
        **_details(body),
    )
    sandbox.add_transaction(txn)
    return charge_reply(txn, show_mask)


def card_expired(card: CardOnFile, local_now: datetime) -> bool:
    """A card is good through the last day of its expiry month (the merchant's calendar); after
    that the issuer declines it: ``102`` with ``EXPIRED CARD - Expired card`` (spec §5.1), never
    a validation error, and the decline still gets a transaction id."""
    return (card.expiration_year, card.expiration_month) < (local_now.year, local_now.month)


def charge_reply(txn: Transaction, show_mask: bool) -> JsonObject:
    approved = txn.status != DECLINED
    reply: JsonObject = {
        "success": approved,
        "response_code": 101 if approved else 102,
        "status_message": (
            "Your transaction was successfully approved."
            if approved
            else "Your transaction was not approved."
        ),
        "transaction_id": txn.transaction_id,
        "approval_code": txn.approval_code,
        "approval_message": txn.approval_message,
        "avs_response": txn.avs_response,
        "csc_response": txn.csc_response,
        "external_transaction_id": "",
    }
    if txn.discretionary_data:
        reply["discretionary_data"] = txn.discretionary_data
    if show_mask and txn.card is not None:
        reply["masked_card_number"] = txn.card.masked_x
    return reply


def _keyed(kind: str) -> Handler:
    def handle(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
        errors = ApiError()
        card = read_card(body, errors)
        try:
            amount = positive_amount(body, allow_zero=kind == AUTHORIZATION)
        except ApiError as bad:
            errors.errors.update(bad.errors)
        errors.raise_if_any()
        return charge(sandbox, ctx, body, kind, card, amount=amount)

    return handle


def vault_card(sandbox: PayTraceSandbox, body: JsonObject) -> tuple[str, CardOnFile]:
    customer_id = read_str(body, "customer_id")
    customer = sandbox.state.customers.get(customer_id)
    if customer is None or customer.card is None:
        raise fail("30", customer_not_found(customer_id))
    return customer_id, customer.card


def _by_customer(kind: str) -> Handler:
    def handle(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
        customer_id, card = vault_card(sandbox, body)
        amount = positive_amount(body, allow_zero=kind == AUTHORIZATION)
        return charge(
            sandbox, ctx, body, kind, card, amount=amount, customer_id=customer_id, show_mask=False
        )

    return handle


def source_transaction(sandbox: PayTraceSandbox, body: JsonObject) -> Transaction:
    """The transaction named by ``transaction_id``: 58 when blank/non-numeric, 811 when unknown."""
    txn = sandbox.state.transactions.get(read_transaction_id(body))
    if txn is None:
        raise fail("811")
    return txn


def _by_transaction(kind: str) -> Handler:
    def handle(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
        source = source_transaction(sandbox, body)
        if source.card is None:
            raise fail("811")
        amount = positive_amount(body, allow_zero=kind == AUTHORIZATION)
        return charge(
            sandbox,
            ctx,
            body,
            kind,
            source.card,
            amount=amount,
            customer_id=source.customer_id,
            show_mask=False,
        )

    return handle


def refund_reply(txn: Transaction) -> JsonObject:
    reply: JsonObject = {
        "success": True,
        "response_code": 106,
        "status_message": "Your transaction was successfully refunded.",
        "transaction_id": txn.transaction_id,
        "external_transaction_id": "",
    }
    if txn.card is not None:
        reply["masked_card_number"] = txn.card.masked_x
    return reply


def new_refund(
    sandbox: PayTraceSandbox,
    ctx: RequestContext,
    body: JsonObject,
    card: CardOnFile | None,
    amount: Decimal,
    **links: object,
) -> Transaction:
    details = _details(body)
    details.update(links)
    txn = Transaction(
        transaction_id=sandbox.state.next_transaction_id(),
        transaction_type=REFUND,
        status=PENDING,
        amount=amount,
        authorized_amount=amount,
        created_at=ctx.now,
        card=card,
        csc_response="",
        created_by=ctx.username,
        from_ip=ctx.from_ip,
        **details,
    )
    return sandbox.add_transaction(txn)


def refund_keyed(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    errors = ApiError()
    card = read_card(body, errors)
    try:
        amount = positive_amount(body)
    except ApiError as bad:
        errors.errors.update(bad.errors)
    errors.raise_if_any()
    return refund_reply(new_refund(sandbox, ctx, body, card, amount))


def refund_to_customer(
    sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject
) -> JsonObject:
    customer_id, card = vault_card(sandbox, body)
    amount = positive_amount(body)
    return refund_reply(new_refund(sandbox, ctx, body, card, amount, customer_id=customer_id))


def refund_for_transaction(
    sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject
) -> JsonObject:
    """Only settled sales/captures refund (817 otherwise); partial refunds add up to the amount."""
    source = source_transaction(sandbox, body)
    if source.status != SETTLED or source.transaction_type == REFUND:
        raise fail("817")
    amount = read_amount(body, required=False)
    available = source.amount - source.refunded
    amount = available if amount is None else amount
    if amount <= 0 or amount > available:
        raise fail("56" if amount > 0 else "39")
    source.refunded += amount
    sandbox.state.changed(source)
    refund = new_refund(
        sandbox,
        ctx,
        body,
        source.card,
        amount,
        parent_id=source.transaction_id,
        customer_id=source.customer_id,
    )
    return refund_reply(refund)


ROUTES: dict[str, Handler] = {
    "/v1/transactions/sale/keyed": _keyed(SALE),
    "/v1/transactions/authorization/keyed": _keyed(AUTHORIZATION),
    "/v1/transactions/sale/by_customer": _by_customer(SALE),
    "/v1/transactions/authorization/by_customer": _by_customer(AUTHORIZATION),
    "/v1/transactions/sale/by_transaction": _by_transaction(SALE),
    "/v1/transactions/authorization/by_transaction": _by_transaction(AUTHORIZATION),
    "/v1/transactions/refund/keyed": refund_keyed,
    "/v1/transactions/refund/to_customer": refund_to_customer,
    "/v1/transactions/refund/for_transaction": refund_for_transaction,
}
