"""Emulator-only admin API under /_sandbox/ (not part of PayTrace), for tests, demos and chaos runs.

- ``POST /_sandbox/clock/advance {"seconds": n}`` moves the sandbox clock (then runs what is due);
  ``POST /_sandbox/clock/set {"now": "<ISO-8601 with zone>"}`` freezes it at a time.
- ``GET /_sandbox/state/summary``: counts of transactions by type/status, customers, batches.
- ``GET /_sandbox/faults``: the fault report; ``POST /_sandbox/faults`` with a ``FaultPlan.configure``
  command (``profile``, ``seed``, ``script``, ``clear_script``, ``reset_counts``).
- ``POST /_sandbox/protect/tokenize {"credit_card": {...}, "csc": "999"}`` stands in for PayTrace's
  hosted fields in the browser: it returns an ``hpf_token``/``enc_key`` pair for the Protect calls.
- ``POST /_sandbox/checks/settle {"check_transaction_id": n}``: the ACH network funds a pending
  check now (the batch close does it for all); ``POST /_sandbox/checks/return
  {"check_transaction_id": n, "code": "R01"}``: the receiving bank returns a pending or settled
  check with a NACHA R-code. How a real PayTrace account learns of returns is not public (§13).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from starlette.requests import Request

from paybridge_sandbox.paytrace.checks import return_check, settle_check
from paybridge_sandbox.paytrace.protect import tokenize
from paybridge_sandbox.paytrace.state import PayTraceSandbox
from paybridge_sandbox.paytrace.wire import ApiError, JsonObject, parse_json_body

Reply = tuple[int, JsonObject]


def summary(sandbox: PayTraceSandbox) -> JsonObject:
    state = sandbox.state
    by_kind = Counter(f"{txn.transaction_type}:{txn.status}" for txn in state.transactions.values())
    return {
        "now": sandbox.clock.now().isoformat(),
        "transactions": len(state.transactions),
        "by_type_and_status": dict(sorted(by_kind.items())),
        "pending_settlement": len(state.pending),
        "customers": len(state.customers),
        "batches": len(state.batches),
        "recurrences": len(state.recurrences),
        "checks": len(state.checks),
        "live_tokens": sum(1 for exp in state.tokens.values() if exp > sandbox.clock.now()),
    }


def _clock(sandbox: PayTraceSandbox, action: str, body: JsonObject) -> Reply:
    try:
        if action == "advance":
            sandbox.clock.advance(float(body.get("seconds", 0)))
        elif action == "set":
            sandbox.clock.set(datetime.fromisoformat(str(body["now"])))
        else:
            return 404, {"error": f"unknown clock action {action!r}"}
    except (KeyError, ValueError, TypeError) as problem:
        return 400, {"error": str(problem)}
    sandbox.run_scheduler()
    return 200, {"now": sandbox.clock.now().isoformat()}


async def handle(sandbox: PayTraceSandbox, request: Request, path: str) -> Reply:
    try:
        body = parse_json_body(await request.body()) if request.method == "POST" else {}
    except ApiError as error:
        return 400, error.body()
    route = path.removeprefix("/_sandbox/")
    if route.startswith("clock/") and request.method == "POST":
        return _clock(sandbox, route.removeprefix("clock/"), body)
    if route == "state/summary":
        return 200, summary(sandbox)
    if route == "faults":
        return _faults(sandbox, request.method, body)
    if route in ("checks/settle", "checks/return") and request.method == "POST":
        return _check_event(sandbox, route.removeprefix("checks/"), body)
    if route == "protect/tokenize" and request.method == "POST":
        try:
            return 200, tokenize(sandbox, body)
        except ApiError as error:
            return 400, error.body()
    return 404, {"error": "unknown sandbox admin route"}


def _check_event(sandbox: PayTraceSandbox, event: str, body: JsonObject) -> Reply:
    try:
        check = sandbox.state.checks[int(str(body.get("check_transaction_id")))]
    except (KeyError, ValueError):
        return 404, {"error": f"no check {body.get('check_transaction_id')!r}"}
    try:
        if event == "return":
            return_check(sandbox, check, str(body.get("code") or "").strip().upper())
        else:
            settle_check(sandbox, check)
    except ValueError as problem:
        return 409, {"error": str(problem)}
    return 200, {"check_transaction_id": check.check_transaction_id, "status": check.status}


def _faults(sandbox: PayTraceSandbox, method: str, body: dict[str, Any]) -> Reply:
    plan = sandbox.faults
    if plan is None:
        return 404, {"error": "no fault layer"}
    if method != "POST":
        return 200, plan.report()
    try:
        return 200, plan.configure(json.loads(json.dumps(body, default=str)))
    except (ValueError, KeyError, TypeError) as problem:
        return 400, {"error": str(problem)}
