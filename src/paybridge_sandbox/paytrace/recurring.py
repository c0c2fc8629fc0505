"""Recurring payments (spec §5.13): create/update/delete/export and the nightly runs.

Frequencies: 1 annually, 8 semi-annually, A trimesterly (every 4 months), 2 quarterly,
9 bi-monthly (every 2 months), 3 monthly, 4 bi-weekly, 7 on the 1st & 15th, 5 weekly, 6 daily.
Month steps keep the start day and clamp to the month's end (Jan 31 → Feb 28 → Mar 31).
``total_count`` 999 means indefinite. Runs happen at ``recurring_run_time`` (merchant local) on
the scheduled date and create ordinary transactions (so they show in exports); no e-mail is sent.
Emulator choices [U]: codes 150/151/152/155 carry the texts below; ``export_scheduled`` is the
guessed path; a start date before today is refused with 48.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from decimal import Decimal

from paybridge_sandbox.paytrace.charges import AUTHORIZATION, SALE, Handler, charge
from paybridge_sandbox.paytrace.records import parse_us_date, record
from paybridge_sandbox.paytrace.state import (
    DECLINED,
    PayTraceSandbox,
    Recurrence,
    RequestContext,
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

MONTH_STEPS = {"1": 12, "8": 6, "A": 4, "2": 3, "9": 2, "3": 1}
DAY_STEPS = {"4": 14, "5": 7, "6": 1}
FREQUENCIES = {*MONTH_STEPS, *DAY_STEPS, "7"}
INDEFINITE = 999


def add_months(start: date, months: int) -> date:
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def occurrence(rec: Recurrence, n: int) -> date:
    """The date of run number ``n`` (0-based)."""
    if rec.frequency in MONTH_STEPS:
        return add_months(rec.start_date, n * MONTH_STEPS[rec.frequency])
    if rec.frequency in DAY_STEPS:
        return rec.start_date + timedelta(days=n * DAY_STEPS[rec.frequency])
    first = rec.start_date
    if first.day not in (1, 15):
        first = first.replace(day=15) if first.day < 15 else add_months(first.replace(day=1), 1)
    months, half = divmod(n + (1 if first.day == 15 else 0), 2)
    return add_months(first.replace(day=1), months).replace(day=15 if half else 1)


def _schedule_next(rec: Recurrence) -> None:
    done = rec.total_count != INDEFINITE and rec.runs >= rec.total_count
    rec.next_date = None if done else occurrence(rec, rec.runs)


def recurrence_json(rec: Recurrence) -> JsonObject:
    return {
        "id": rec.recurrence_id,
        "customer_id": rec.customer_id,
        "amount": rec.amount,
        "frequency": rec.frequency,
        "start_date": rec.start_date.strftime("%m/%d/%Y"),
        "next_date": rec.next_date.strftime("%m/%d/%Y") if rec.next_date else "",
        "total_count": rec.total_count,
        "current_count": rec.runs,
        "transaction_type": rec.transaction_type,
        "description": rec.description,
    }


def _read_fields(
    sandbox: PayTraceSandbox, ctx: RequestContext, spec: JsonObject, rec: Recurrence
) -> None:
    errors = ApiError()
    if "amount" in spec:
        amount = read_amount(spec, required=False)
        if amount is None or amount <= 0:
            errors.add("39")
        else:
            rec.amount = amount
    if "frequency" in spec:
        frequency = read_str(spec, "frequency").strip().upper()
        if frequency not in FREQUENCIES:
            errors.add("53")
        rec.frequency = frequency
    if "start_date" in spec:
        try:
            rec.start_date = parse_us_date(spec.get("start_date"), "48")
            if rec.start_date < sandbox.local(ctx.now).date():
                errors.add("48")
        except ApiError:
            errors.add("48")
    if "total_count" in spec:
        count = spec.get("total_count")
        if isinstance(count, bool) or not str(count).strip().isdigit() or int(str(count)) < 1:
            errors.add("1", "Please provide a valid Total Count.")
        else:
            rec.total_count = int(str(count))
    if "transaction_type" in spec:
        kind = read_str(spec, "transaction_type").strip().capitalize()
        if kind not in ("Sale", "Authorization"):
            errors.add("1", "Please provide a valid Transaction Type.")
        rec.transaction_type = kind
    if "description" in spec:
        rec.description = read_str(spec, "description")
    errors.raise_if_any()


def create(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    customer_id = read_str(body, "customer_id").strip()
    if customer_id not in sandbox.state.customers:
        raise fail("30", customer_not_found(customer_id))
    spec = read_object(body, "recurrence")
    errors = ApiError()
    for key, code in (("amount", "39"), ("frequency", "53"), ("start_date", "48")):
        if spec.get(key) in (None, ""):
            errors.add(code)
    errors.raise_if_any()
    state = sandbox.state
    rec = Recurrence(
        recurrence_id=state.counters.recurrence_id,
        customer_id=customer_id,
        amount=Decimal("0.00"),  # set by _read_fields, which checks it
        frequency="3",
        start_date=sandbox.local(ctx.now).date(),
        next_date=None,
        total_count=INDEFINITE,
    )
    _read_fields(sandbox, ctx, spec, rec)
    state.counters.recurrence_id += 1
    _schedule_next(rec)
    state.recurrences[rec.recurrence_id] = rec
    state.mark("recurrences", rec.recurrence_id)
    state.mark("meta", "counters")
    return _reply(150, "Your recurring payment was successfully created.", rec)


def _reply(code: int, message: str, rec: Recurrence) -> JsonObject:
    return {
        "success": True,
        "response_code": code,
        "status_message": message,
        "recurrence": recurrence_json(rec),
    }


def _existing(sandbox: PayTraceSandbox, body: JsonObject) -> tuple[Recurrence, JsonObject]:
    spec = read_object(body, "recurrence")
    rec = sandbox.state.recurrences.get(read_transaction_id(spec, "id", code="52"))
    if rec is None:
        raise fail("52")
    return rec, spec


def update(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    rec, spec = _existing(sandbox, body)
    _read_fields(sandbox, ctx, spec, rec)
    if "start_date" in spec:
        rec.runs = 0
    _schedule_next(rec)
    sandbox.state.mark("recurrences", rec.recurrence_id)
    return _reply(151, "Your recurring payment was successfully updated.", rec)


def delete(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    rec, _spec = _existing(sandbox, body)
    del sandbox.state.recurrences[rec.recurrence_id]
    sandbox.state.mark("recurrences", rec.recurrence_id)
    return _reply(152, "Your recurring payment was successfully deleted.", rec)


def export_scheduled(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    customer_id = read_str(body, "customer_id").strip()
    chosen = [
        recurrence_json(rec)
        for rec in sandbox.state.recurrences.values()
        if not customer_id or rec.customer_id == customer_id
    ]
    return {
        "success": True,
        "response_code": 155,
        "status_message": "Your request has been successfully completed.",
        "recurrences": chosen,
    }


def export_approved(sandbox: PayTraceSandbox, ctx: RequestContext, body: JsonObject) -> JsonObject:
    """Approved transactions made by recurring payments, optionally for one customer."""
    customer_id = read_str(body, "customer_id").strip()
    found = [
        record(sandbox, txn)
        for txn in sandbox.state.transactions.values()
        if txn.recurrence_id is not None
        and txn.status != DECLINED
        and (not customer_id or txn.customer_id == customer_id)
    ]
    return {
        "success": True,
        "response_code": 155,
        "status_message": "Your request has been successfully completed.",
        "transactions": found,
    }


def run_due(sandbox: PayTraceSandbox, day: date, when: datetime) -> None:
    """Charge every recurrence scheduled on or before ``day`` (called by the scheduler)."""
    state = sandbox.state
    ctx = RequestContext(now=when, from_ip="", username="Recurring")
    for rec in list(state.recurrences.values()):
        if rec.next_date is None or rec.next_date > day:
            continue
        state.mark("recurrences", rec.recurrence_id)
        while rec.next_date is not None and rec.next_date <= day:
            customer = state.customers.get(rec.customer_id)
            if customer is None or customer.card is None:
                rec.next_date = None
                break
            kind = AUTHORIZATION if rec.transaction_type == "Authorization" else SALE
            body: JsonObject = {"description": rec.description}
            reply = charge(
                sandbox,
                ctx,
                body,
                kind,
                customer.card,
                amount=rec.amount,
                customer_id=rec.customer_id,
            )
            txn = state.transactions[int(reply["transaction_id"])]
            txn.recurrence_id = rec.recurrence_id
            state.changed(txn)
            rec.transaction_ids.append(txn.transaction_id)
            rec.runs += 1
            _schedule_next(rec)


ROUTES: dict[str, Handler] = {
    "/v1/recurrence/create": create,
    "/v1/recurrence/update": update,
    "/v1/recurrence/delete": delete,
    "/v1/recurrence/export_scheduled": export_scheduled,
    "/v1/recurrence/export_approved": export_approved,
}
