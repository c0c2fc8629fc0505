"""ACH checks (spec §5.14): sale and hold by account or customer, fund, void, refund, export.

Checks are kept apart from card transactions (they are not in the card export). A pending or
funded check settles with the nightly/forced batch close. Declines (125) use the card trigger
amounts 0.29 and 1.12 (emulator choice) and carry ``ach_code`` 0 / ``ach_message`` "" like the
only public capture. Fund/void/refund of an unknown check, or one in the wrong state, is 80.

The spec names no v1 export of checks [U]: the emulator serves one at
``settings.check_export_path`` (``start_date``/``end_date`` as the card export, optional
``check_transaction_id`` and ``including_text``) whose records carry the check's type, status,
amount, times and, once returned, the NACHA R-code (``ach_code``) and its words
(``ach_message``). How an ACH return reaches a merchant is not public either: the emulator-only
admin calls ``/_sandbox/checks/return`` and ``/_sandbox/checks/settle`` (see ``admin``) return
a check with an R-code and settle (fund) one now.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from paybridge_sandbox.paytrace.charges import DECLINE_AMOUNTS, Handler, positive_amount
from paybridge_sandbox.paytrace.customers import read_check
from paybridge_sandbox.paytrace.records import parse_us_date, us_datetime
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
RETURNED = "returned"
# NACHA return reason codes (the common ones), as the ACH network words them.
RETURN_REASONS = {
    "R01": "Insufficient Funds", "R02": "Account Closed",
    "R03": "No Account/Unable to Locate Account", "R04": "Invalid Account Number Structure",
    "R05": "Unauthorized Debit to Consumer Account Using Corporate SEC Code",
    "R06": "Returned per ODFI's Request", "R07": "Authorization Revoked by Customer",
    "R08": "Payment Stopped", "R09": "Uncollected Funds",
    "R10": "Customer Advises Not Authorized", "R11": "Customer Advises Entry Not in Accordance "
    "with the Terms of the Authorization", "R12": "Account Sold to Another DFI",
    "R13": "Invalid ACH Routing Number", "R14": "Representative Payee Deceased",
    "R15": "Beneficiary or Account Holder Deceased", "R16": "Account Frozen",
    "R17": "File Record Edit Criteria", "R20": "Non-Transaction Account",
    "R29": "Corporate Customer Advises Not Authorized",
}  # fmt: skip


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
            invoice_id=read_str(body, "invoice_id").strip()[:50],
            description=read_str(body, "description").strip(),
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
    check.funded_at = ctx.now
    sandbox.state.mark("checks", check.check_transaction_id)
    return _managed(check)


def void(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    check = _existing(sandbox, body, (HELD, PENDING))
    check.status = VOIDED
    check.voided_at = ctx.now
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
        invoice_id=check.invoice_id,
        description=read_str(body, "description").strip(),
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
            settle_check(sandbox, check)
            settled += 1
    return settled


def settle_check(sandbox: PayTraceSandbox, check: Check) -> None:
    """The ACH network funded the check (emulator-only admin call, or the batch close)."""
    if check.status != PENDING:
        raise ValueError(f"check {check.check_transaction_id} is {check.status}, not pending")
    check.status = SETTLED
    check.settled_at = sandbox.clock.now()
    sandbox.state.mark("checks", check.check_transaction_id)


def return_check(sandbox: PayTraceSandbox, check: Check, code: str) -> None:
    """The receiving bank returned the debit with a NACHA R-code (emulator-only admin call)."""
    if code not in RETURN_REASONS:
        raise ValueError(f"unknown R-code {code!r}; one of {', '.join(RETURN_REASONS)}")
    if check.kind == "refund" or check.status not in (PENDING, SETTLED):
        raise ValueError(f"check {check.check_transaction_id} ({check.kind}, {check.status}) "
                         "cannot be returned")  # fmt: skip
    check.status = RETURNED
    check.returned_at = sandbox.clock.now()
    check.return_code = code
    sandbox.state.mark("checks", check.check_transaction_id)


def _when(sandbox: PayTraceSandbox, moment: datetime | None) -> str:
    return us_datetime(sandbox.local(moment)) if isinstance(moment, datetime) else ""


def check_record(sandbox: PayTraceSandbox, check: Check) -> JsonObject:
    """One check as the emulator's export shows it (field names: emulator choice, spec §13)."""
    return {
        "check_transaction_id": check.check_transaction_id,
        "transaction_type": check.kind.upper(), "status": check.status.upper(),
        "amount": check.amount, "customer_id": check.customer_id,
        "invoice_id": check.invoice_id, "description": check.description,
        "masked_account_number": f"xxxxx{check.account_last4}" if check.account_last4 else "",
        "original_check_transaction_id": check.parent_id or "",
        "created": _when(sandbox, check.created_at), "funded": _when(sandbox, check.funded_at),
        "settled": _when(sandbox, check.settled_at), "voided": _when(sandbox, check.voided_at),
        "returned": _when(sandbox, check.returned_at),
        "ach_code": check.return_code, "ach_message": RETURN_REASONS.get(check.return_code, ""),
    }  # fmt: skip


def _check_filters(body: JsonObject) -> list[Callable[[Check], bool]]:
    filters: list[Callable[[Check], bool]] = []
    if body.get("check_transaction_id") not in (None, ""):
        wanted = read_transaction_id(body, "check_transaction_id", code="60")
        filters.append(lambda check: check.check_transaction_id == wanted)
    text = read_str(body, "including_text").strip().lower()
    if text:
        filters.append(lambda c: text in f"{c.invoice_id} {c.description} {c.customer_id}".lower())
    return filters


def export_checks(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    """Checks created, or changed, on merchant-local days from start_date to end_date."""
    first = parse_us_date(body.get("start_date"), "48")
    last = parse_us_date(body.get("end_date"), "49")
    filters = _check_filters(body)

    def in_range(check: Check) -> bool:
        moments = (check.created_at, check.funded_at, check.settled_at, check.voided_at,
                   check.returned_at)  # fmt: skip
        days = [sandbox.local(m).date() for m in moments if m is not None]
        return any(first <= day <= last for day in days)

    chosen = [
        check_record(sandbox, c)
        for c in sorted(sandbox.state.checks.values(), key=lambda c: c.check_transaction_id)
        if in_range(c) and all(f(c) for f in filters)
    ]
    return {
        "success": True, "response_code": 1,
        "status_message": "Your request has been successfully completed.", "checks": chosen,
    }  # fmt: skip


ROUTES: dict[str, Handler] = {
    "/v1/checks/sale/by_account": _process("sale"),
    "/v1/checks/sale/by_customer": _process("sale"),
    "/v1/checks/hold/by_account": _process("hold"),
    "/v1/checks/hold/by_customer": _process("hold"),
    "/v1/checks/manage/fund": fund,
    "/v1/checks/manage/void": void,
    "/v1/checks/refund/by_transaction": refund,
}
