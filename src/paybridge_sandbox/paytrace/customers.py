"""The customer vault: create, update, delete, export (spec §5.12).

Only the masked card (BIN, last four, expiry) and the last four of a checking account are kept.
``export`` filters by ``customer_id`` when given and otherwise lists every profile; the full
field list of the real export is not public (spec §13.4), so it returns the fields the spec names.
"""

from __future__ import annotations

from paybridge_sandbox.paytrace.cards import CardOnFile, read_card
from paybridge_sandbox.paytrace.charges import Handler
from paybridge_sandbox.paytrace.state import Customer, PayTraceSandbox, RequestContext
from paybridge_sandbox.paytrace.wire import (
    ApiError,
    JsonObject,
    customer_not_found,
    fail,
    read_object,
    read_str,
)

_ROUTING_LENGTH = 9


def read_check(body: JsonObject, errors: ApiError) -> tuple[str, str] | None:
    """``check{account_number, routing_number}`` → (last four, routing), adding 45/46."""
    check = read_object(body, "check")
    account = str(check.get("account_number") or "").strip()
    routing = str(check.get("routing_number") or "").strip()
    if not (account.isdigit() and 4 <= len(account) <= 17):
        errors.add("45")
    if not (routing.isdigit() and len(routing) == _ROUTING_LENGTH and _aba_ok(routing)):
        errors.add("46")
    if "45" in errors.errors or "46" in errors.errors:
        return None
    return account[-4:], routing


def _aba_ok(routing: str) -> bool:
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(routing, weights, strict=True)) % 10 == 0


def _payment(
    body: JsonObject, errors: ApiError
) -> tuple[CardOnFile | None, tuple[str, str] | None]:
    if "check" in body and "credit_card" not in body:
        return None, read_check(body, errors)
    return read_card(body, errors), None


def apply_profile(customer: Customer, body: JsonObject) -> None:
    """Addresses, contact fields and discretionary data present in ``body`` replace the old ones."""
    for key in ("billing_address", "shipping_address", "discretionary_data"):
        if key in body:
            setattr(customer, key, read_object(body, key))
    for key in ("email", "phone", "fax"):
        if key in body:
            setattr(customer, key, read_str(body, key))


def profile_message(customer: Customer, verb: str) -> str:
    name = str(customer.billing_address.get("name") or "")
    return f"The customer profile for {customer.customer_id}/{name} was successfully {verb}."


def save_new_customer(
    sandbox: PayTraceSandbox,
    ctx: RequestContext,
    body: JsonObject,
    card: CardOnFile | None,
    check: tuple[str, str] | None,
) -> JsonObject:
    customer_id = read_str(body, "customer_id").strip()
    customer = Customer(customer_id=customer_id, created_at=ctx.now, card=card)
    if check is not None:
        customer.check_account_last4, customer.check_routing = check
    apply_profile(customer, body)
    sandbox.state.customers[customer_id] = customer
    sandbox.state.mark("customers", customer_id)
    reply: JsonObject = {
        "success": True,
        "response_code": 160,
        "status_message": profile_message(customer, "created"),
        "customer_id": customer_id,
    }
    if card is not None:
        reply["masked_card_number"] = card.masked_x
    return reply


def check_new_customer_id(sandbox: PayTraceSandbox, body: JsonObject, errors: ApiError) -> None:
    customer_id = read_str(body, "customer_id").strip()
    if not customer_id:
        errors.add("38")
    elif customer_id in sandbox.state.customers:
        errors.add("171")


def create(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    errors = ApiError()
    check_new_customer_id(sandbox, body, errors)
    card, check = _payment(body, errors)
    if errors.errors:
        if card is not None:
            errors.extra["masked_card_number"] = card.masked_x
        raise errors
    return save_new_customer(sandbox, ctx, body, card, check)


def existing(sandbox: PayTraceSandbox, body: JsonObject) -> Customer:
    customer_id = read_str(body, "customer_id").strip()
    customer = sandbox.state.customers.get(customer_id)
    if customer is None:
        raise fail("30", customer_not_found(customer_id))
    return customer


def update(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    customer = existing(sandbox, body)
    errors = ApiError()
    if "credit_card" in body or "check" in body:
        card, check = _payment(body, errors)
        errors.raise_if_any()
        if card is not None:
            customer.card = card
        if check is not None:
            customer.check_account_last4, customer.check_routing = check
    apply_profile(customer, body)
    sandbox.state.mark("customers", customer.customer_id)
    reply: JsonObject = {
        "success": True,
        "response_code": 161,
        "status_message": profile_message(customer, "updated"),
        "customer_id": customer.customer_id,
    }
    if customer.card is not None:
        reply["masked_card_number"] = customer.card.masked_x
    return reply


def delete(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    customer = existing(sandbox, body)
    del sandbox.state.customers[customer.customer_id]
    sandbox.state.mark("customers", customer.customer_id)
    return {
        "success": True,
        "response_code": 162,
        "status_message": profile_message(customer, "deleted"),
        "customer_id": customer.customer_id,
    }


def _masked_account(last4: str) -> str:
    return "xxxx" + last4 if last4 else ""


def customer_record(customer: Customer, include_bin: bool) -> JsonObject:
    card: JsonObject = {"masked_number": "", "expiration_month": 0, "expiration_year": 0}
    if customer.card is not None:
        masked = customer.card.masked_star(True) if include_bin else customer.card.masked_x
        card = {
            "masked_number": masked,
            "expiration_month": customer.card.expiration_month,
            "expiration_year": customer.card.expiration_year,
        }
    return {
        "customer_id": customer.customer_id,
        "credit_card": card,
        "check": {
            "masked_account_number": _masked_account(customer.check_account_last4),
            "routing_number": customer.check_routing,
        },
        "billing_address": customer.billing_address,
        "shipping_address": customer.shipping_address,
        "email": customer.email,
        "phone": customer.phone,
        "fax": customer.fax,
        "discretionary_data": customer.discretionary_data,
    }


def export(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    wanted = read_str(body, "customer_id").strip()
    include_bin = body.get("include_bin") is True
    customers = sandbox.state.customers
    if wanted:
        chosen = [customers[wanted]] if wanted in customers else []
    else:
        chosen = list(customers.values())
    return {
        "success": True,
        "response_code": 1,
        "status_message": "Your request has been successfully completed.",
        "customers": [customer_record(c, include_bin) for c in chosen],
    }


ROUTES: dict[str, Handler] = {
    "/v1/customer/create": create,
    "/v1/customer/update": update,
    "/v1/customer/delete": delete,
    "/v1/customer/export": export,
}
