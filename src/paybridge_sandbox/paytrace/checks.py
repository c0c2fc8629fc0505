"""ACH checks (spec §5.14): sale and hold by account or customer, fund, void, refund.

Checks are kept apart from card transactions (they are not in the card export). A pending or
funded check settles with the nightly/forced batch close. Declines (125) use the card trigger
amounts 0.29 and 1.12 (emulator choice) and carry ``ach_code`` 0 / ``ach_message`` "" like the
only public capture. Fund/void/refund of an unknown check, or one in the wrong state, is 80.
"""

from __future__ import annotations

from decimal import Decimal

from paybridge_sandbox.paytrace.charges import DECLINE_AMOUNTS, Handler, positive_amount
from paybridge_sandbox.paytrace.customers import read_check
from paybridge_sandbox.paytrace.state import Check, PayTraceSandbox, RequestContext
from paybridge_sandbox.paytrace.wire import (
    ApiError,
    JsonObject,
    customer_not_found,
    fail,
    read_amount,
    read_str,
    read_transaction_id,
)

PENDING = "pending"
HELD = "held"
VOIDED = "voided"
SETTLED = "settled"
DECLINED = "declined"


def _source(sandbox: PayTraceSandbox, body: JsonObject) -> tuple[str, str, str]:
    """(customer_id, account last four, routing) from a vault ``customer_id`` or ``check{}``.

    Problems with the customer, the account and the amount are reported together (30/45/46/39).
    """
    errors = ApiError()
    customer_id = read_str(body, "customer_id").strip()
    customer = sandbox.state.customers.get(customer_id) if customer_id else None
    if customer_id and (customer is None or not customer.check_account_last4):
        errors.add("30", customer_not_found(customer_id))
    account = read_check(body, errors) if "check" in body or not customer_id else None
    try:
        positive_amount(body)
    except ApiError as bad:
        errors.errors.update(bad.errors)
    errors.raise_if_any()
    if customer is not None:
        return customer_id, customer.check_account_last4, customer.check_routing
    assert account is not None  # no customer and no error means the check was read
    return "", account[0], account[1]


def _new_check(
    sandbox: PayTraceSandbox,
    ctx: RequestContext,
    kind: str,
    status: str,
    amount: Decimal,
    **fields: object,
) -> Check:
    state = sandbox.state
    check = Check(
        check_transaction_id=state.counters.check_transaction_id,
        kind=kind,
        status=status,
        amount=amount,
        created_at=ctx.now,
        **fields,  # type: ignore[arg-type]
    )
    state.counters.check_transaction_id += 1
    state.checks[check.check_transaction_id] = check
    state.mark("checks", check.check_transaction_id)
    state.mark("meta", "counters")
    return check


def _process(kind: str) -> Handler:
    def handle(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
        customer_id, last4, routing = _source(sandbox, body)
        amount = positive_amount(body)
        declined = amount in DECLINE_AMOUNTS
        status = DECLINED if declined else (HELD if kind == "hold" else PENDING)
        check = _new_check(
            sandbox,
            ctx,
            kind,
            status,
            amount,
            customer_id=customer_id,
            account_last4=last4,
            routing=routing,
        )
        if declined:
            return {
                "success": False,
                "response_code": 125,
                "status_message": "Your check was NOT successfully processed.",
                "check_transaction_id": check.check_transaction_id,
                "ach_code": 0,
                "ach_message": "",
            }
        return {
            "success": True,
            "response_code": 120,
            "status_message": "Your check was successfully processed.",
            "check_transaction_id": check.check_transaction_id,
        }

    return handle


def _existing(sandbox: PayTraceSandbox, body: JsonObject, states: tuple[str, ...]) -> Check:
    check_id = read_transaction_id(body, "check_transaction_id", code="60")
    check = sandbox.state.checks.get(check_id)
    if check is None or check.status not in states:
        raise fail("80")
    return check


def _managed(check: Check) -> JsonObject:
    return {
        "success": True,
        "response_code": 124,
        "status_message": "Your check was successfully managed.",
        "check_transaction_id": check.check_transaction_id,
    }


def fund(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    check = _existing(sandbox, body, (HELD,))
    amount = read_amount(body, required=False)
    if amount is not None:
        if amount <= 0 or amount > check.amount:
            raise fail("39")
        check.amount = amount
    check.status = PENDING
    sandbox.state.mark("checks", check.check_transaction_id)
    return _managed(check)


def void(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    check = _existing(sandbox, body, (HELD, PENDING))
    check.status = VOIDED
    sandbox.state.mark("checks", check.check_transaction_id)
    return _managed(check)


def refund(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    check = _existing(sandbox, body, (PENDING, SETTLED))
    if check.kind == "refund":
        raise fail("80")
    amount = read_amount(body, required=False)
    available = check.amount - check.refunded
    amount = available if amount is None else amount
    if amount <= 0 or amount > available:
        raise fail("56" if amount > 0 else "39")
    check.refunded += amount
    sandbox.state.mark("checks", check.check_transaction_id)
    new = _new_check(
        sandbox,
        ctx,
        "refund",
        PENDING,
        amount,
        customer_id=check.customer_id,
        account_last4=check.account_last4,
        routing=check.routing,
        parent_id=check.check_transaction_id,
    )
    return {
        "success": True,
        "response_code": 122,
        "status_message": "Your check was successfully refunded.",
        "check_transaction_id": new.check_transaction_id,
    }


def settle_checks(sandbox: PayTraceSandbox) -> int:
    settled = 0
    for check in sandbox.state.checks.values():
        if check.status == PENDING:
            check.status = SETTLED
            sandbox.state.mark("checks", check.check_transaction_id)
            settled += 1
    return settled


ROUTES: dict[str, Handler] = {
    "/v1/checks/sale/by_account": _process("sale"),
    "/v1/checks/sale/by_customer": _process("sale"),
    "/v1/checks/hold/by_account": _process("hold"),
    "/v1/checks/hold/by_customer": _process("hold"),
    "/v1/checks/manage/fund": fund,
    "/v1/checks/manage/void": void,
    "/v1/checks/refund/by_transaction": refund,
}
