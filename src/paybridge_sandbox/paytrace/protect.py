"""PayTrace Protect (hosted fields): the client key and the calls that take hpf_token/enc_key (§5.15, §9).

In the real flow the browser sends the card to PayTrace and gets ``hpf_token``/``enc_key``; here
``POST /_sandbox/protect/tokenize`` (emulator-only) plays the browser's part. Tokens are single-use
by default (``protect_token_single_use``), since reuse is not documented. The client key answer
carries ``clientKey`` plus the usual envelope (other fields of the real answer are unknown).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from decimal import Decimal

from paybridge_sandbox.paytrace.cards import csc_response, read_card
from paybridge_sandbox.paytrace.charges import (
    AUTHORIZATION,
    SALE,
    Handler,
    charge,
    charge_reply,
    positive_amount,
)
from paybridge_sandbox.paytrace.customers import (
    apply_profile,
    check_new_customer_id,
    existing,
    profile_message,
    save_new_customer,
)
from paybridge_sandbox.paytrace.state import PayTraceSandbox, ProtectToken, RequestContext
from paybridge_sandbox.paytrace.wire import ApiError, JsonObject, fail, read_str


def tokenize(sandbox: PayTraceSandbox, body: JsonObject) -> JsonObject:
    """Emulator-only: what protect.min.js would return after the shopper typed a card."""
    errors = ApiError()
    card = read_card(body, errors)
    errors.raise_if_any()
    assert card is not None  # read_card returns a card whenever it added no error
    token = str(uuid.uuid4())
    enc_key = base64.b64encode(secrets.token_bytes(32)).decode()
    sandbox.state.protect_tokens[token] = ProtectToken(
        enc_key, card, csc_response(card, body.get("csc"))
    )
    return {"hpf_token": token, "enc_key": enc_key}


def redeem(sandbox: PayTraceSandbox, body: JsonObject) -> ProtectToken:
    token = read_str(body, "hpf_token")
    found = sandbox.state.protect_tokens.get(token)
    if found is None or not secrets.compare_digest(found.enc_key, read_str(body, "enc_key")):
        raise fail("54")
    if sandbox.settings.protect_token_single_use:
        del sandbox.state.protect_tokens[token]
    return found


def client_key(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    key = secrets.token_urlsafe(48)
    sandbox.state.client_keys.add(key)
    return {
        "success": True,
        "response_code": 1,
        "status_message": "Your request has been successfully completed.",
        "clientKey": key,
    }


def _protected_charge(kind: str) -> Handler:
    def handle(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
        amount = positive_amount(body, allow_zero=kind == AUTHORIZATION)
        protected = redeem(sandbox, body)
        reply = charge(sandbox, ctx, body, kind, protected.card, amount=amount)
        return _with_csc(sandbox, reply, protected.csc_response)

    return handle


def _with_csc(sandbox: PayTraceSandbox, reply: JsonObject, csc: str) -> JsonObject:
    txn = sandbox.state.transactions[int(reply["transaction_id"])]
    txn.csc_response = csc
    sandbox.state.changed(txn)
    return charge_reply(txn, show_mask=True)


def sale_with_customer(
    sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject
) -> JsonObject:
    """Charge and store the card under ``customer_id`` (the customer is kept only if approved)."""
    errors = ApiError()
    check_new_customer_id(sandbox, body, errors)
    amount: Decimal | None = None
    try:
        amount = positive_amount(body)
    except ApiError as bad:
        errors.errors.update(bad.errors)
    errors.raise_if_any()
    assert amount is not None
    protected = redeem(sandbox, body)
    reply = _with_csc(
        sandbox,
        charge(sandbox, ctx, body, SALE, protected.card, amount=amount),
        protected.csc_response,
    )
    if reply["success"]:
        save_new_customer(sandbox, ctx, body, protected.card, None)
        txn = sandbox.state.transactions[int(reply["transaction_id"])]
        txn.customer_id = read_str(body, "customer_id").strip()
        sandbox.state.changed(txn)
        reply["customer_id"] = txn.customer_id
    return reply


def create_customer(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    errors = ApiError()
    check_new_customer_id(sandbox, body, errors)
    errors.raise_if_any()
    protected = redeem(sandbox, body)
    reply = save_new_customer(sandbox, ctx, body, protected.card, None)
    reply.pop("masked_card_number", None)  # the captured Protect answer has no masked number
    return reply


def update_customer(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    customer = existing(sandbox, body)
    customer.card = redeem(sandbox, body).card
    apply_profile(customer, body)
    sandbox.state.mark("customers", customer.customer_id)
    return {
        "success": True,
        "response_code": 161,
        "status_message": profile_message(customer, "updated"),
        "customer_id": customer.customer_id,
    }


ROUTES: dict[str, Handler] = {
    "/v1/payment_fields/token/create": client_key,
    "/v1/transactions/sale/pt_protect": _protected_charge(SALE),
    "/v1/transactions/authorization/pt_protect": _protected_charge(AUTHORIZATION),
    "/v1/transactions/sale/pt_protect_customer": sale_with_customer,
    "/v1/customer/pt_protect_create": create_customer,
    "/v1/customer/pt_protect_update": update_customer,
}

# The client-key call has an empty body in every integration seen (spec §5.15).
NO_INTEGRATOR_ID = frozenset({"/v1/payment_fields/token/create"})
