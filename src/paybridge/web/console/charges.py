"""Charges and subscriptions: the charges list (the in-doubt ones among them) and a charge's page,
a new charge against a D365 invoice (operator) through the engine's ``ChargeService`` (the one
``POST /v1/charges`` uses), subscriptions with their schedule and dunning state, and pause,
resume, cancel (operator) through the ``SubscriptionStore`` the CLI uses. Every action audited.

A new charge's form carries an idempotency key made when the form was shown, and shows it: a
double click or a resubmit sends the same key, and the service answers what the first came to.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from paybridge.billing.store import SubscriptionStore
from paybridge.charging.service import ChargeRequest, ChargeService, IdempotencyConflict
from paybridge.errors import PayBridgeError
from paybridge.web.console.render import page
from paybridge.web.console.session import ConsoleRefusal, Visitor, needs, posted, services

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Visitor, Depends(needs("viewer"))]
OperatorPost = Annotated[tuple[Visitor, dict[str, str]], Depends(posted("operator"))]
STATUSES = ("approved", "declined", "in_doubt", "pending", "open")
SUB_ACTIONS = ("pause", "resume", "cancel")
UPCOMING = 6
KEY = re.compile(r"console-[0-9a-f]{20}")


def _charges(request: Request) -> ChargeService:
    found = getattr(request.app.state, "charges", None)
    if not isinstance(found, ChargeService):
        raise ConsoleRefusal(404, "charging is not set up on this server")
    return found


def _subscriptions(request: Request) -> SubscriptionStore:
    found = getattr(request.app.state, "console_subscriptions", None)
    if not isinstance(found, SubscriptionStore):
        raise ConsoleRefusal(404, "subscriptions are not set up on this server")
    return found


def _redirect(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


def new_key() -> str:
    return f"console-{secrets.token_hex(10)}"


PAGE_SIZE = 100


def _after(before_at: str, before_key: str) -> tuple[datetime, str] | None:
    """The previous page's last row, from the "Older" link; anything unreadable: the first page."""
    try:
        at = datetime.fromisoformat(before_at)
    except ValueError:
        return None
    return (at, before_key) if at.tzinfo is not None and before_key else None


@router.get("/charges", response_class=HTMLResponse)
async def charges(
    request: Request,
    who: Viewer,
    status: str = "",
    key: str = "",
    before_at: str = "",
    before_key: str = "",
) -> Response:
    """The list, a page at a time, and for operators the form. The form's key is in the page's
    address, so a double click, a reload, or going back and sending the form again is the same
    charge; the "New charge" link (the address without a key) starts another."""
    status = status if status in STATUSES else ""
    if who.can("operator") and not KEY.fullmatch(key):
        query = urlencode({"status": status, "key": new_key()} if status else {"key": new_key()})
        return _redirect(f"/charges?{query}")
    after = _after(before_at, before_key)
    rows = await asyncio.to_thread(
        _charges(request).records.recent, status or None, PAGE_SIZE + 1, after
    )
    # The billing run's periods sent and unanswered are in doubt too (their own table).
    periods = (
        await asyncio.to_thread(_subscriptions(request).in_doubt, PAGE_SIZE)
        if status in ("", "in_doubt") and after is None
        else []
    )
    kept = {k: v for k, v in (("status", status), ("key", key)) if v}
    older = ""
    if len(rows) > PAGE_SIZE:
        rows, last = rows[:PAGE_SIZE], rows[PAGE_SIZE - 1]
        cursor = {"before_at": last.updated_at.isoformat(), "before_key": last.key}
        older = "/charges?" + urlencode({**kept, **cursor})
    return page(request, "charges.html", visitor=who, nav="charges", rows=rows, state=status,
                statuses=STATUSES, key=key, form={}, problems={}, older_url=older, periods=periods,
                newest_url="/charges?" + urlencode(kept) if after else "")  # fmt: skip


def charge_form(form: dict[str, str]) -> tuple[ChargeRequest | None, dict[str, str]]:
    """The form as a ``ChargeRequest``, or the problems by field name."""
    problems: dict[str, str] = {}
    amount: Decimal | None = None
    text = form.get("amount", "").strip()
    if text:
        try:
            amount = Decimal(text)
        except InvalidOperation:
            problems["amount"] = "an amount such as 125.00"
    if problems:
        return None, problems
    try:
        asked = ChargeRequest(
            company=form.get("company", "").strip(), amount=amount,
            invoice_number=form.get("invoice_number", "").strip() or None,
        )  # fmt: skip
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "invoice_number"
            problems[name] = str(error["msg"]).removeprefix("Value error, ")
        return None, problems
    return asked, {}


@router.post("/charges/new")
async def create(request: Request, sent: OperatorPost) -> Response:
    who, form = sent
    key = form.get("idempotency_key", "")
    if not KEY.fullmatch(key):
        raise ConsoleRefusal(400, "the form has no charge key; open Charges again")
    asked, problems = charge_form(form)
    service = _charges(request)
    if asked is None:
        return page(request, "charges.html", 422, visitor=who, nav="charges", rows=[], state="",
                    statuses=STATUSES, key=key or new_key(), form=form, problems=problems)  # fmt: skip
    detail: dict[str, Any] = {"company": asked.company.lower(), "invoice": asked.invoice_number,
                              "amount": None if asked.amount is None else format(asked.amount, "f")}  # fmt: skip
    try:
        outcome = await service.charge(asked, key)
    except IdempotencyConflict as exc:
        _audit(request, who, key, "conflict", {"why": exc.message, **detail})
        if exc.in_progress:  # the first click is charging: its page shows how it ends
            return _redirect(f"/charges/{key}?done=in_progress")
        problems = {"idempotency_key": exc.message}
    except PayBridgeError as exc:
        _audit(request, who, key, "refused", {"why": exc.message, **detail})
        problems = {k: str(v) for k, v in (getattr(exc, "fields", {}) or {}).items()}
        problems.setdefault("charge", exc.message)
    else:
        _audit(request, who, key, outcome.status,
               {"transaction_id": outcome.transaction_id, "replayed": outcome.replayed, **detail})  # fmt: skip
        return _redirect(f"/charges/{key}?done={'replayed' if outcome.replayed else 'made'}")
    return page(request, "charges.html", 422, visitor=who, nav="charges", rows=[], state="",
                statuses=STATUSES, key=key, form=form, problems=problems)  # fmt: skip


def _audit(request: Request, who: Visitor, key: str, outcome: str, detail: dict[str, Any]) -> None:
    services(request).security.audit.record(
        actor=who.actor, action="charge.create", target=f"charge:{key[:100]}", client=who.client,
        outcome=outcome, detail={k: v for k, v in detail.items() if v is not None},
    )  # fmt: skip


@router.get("/charges/{key}", response_class=HTMLResponse)
async def charge(request: Request, who: Viewer, key: str, done: str = "") -> Response:
    outcome = await asyncio.to_thread(_charges(request).state, key)
    record = await asyncio.to_thread(_charges(request).records.get, key)
    if outcome is None or record is None:
        raise ConsoleRefusal(404, "no charge was made with this key")
    return page(request, "charge.html", visitor=who, nav="charges", outcome=outcome,
                record=record, done=done)  # fmt: skip


@router.get("/subscriptions", response_class=HTMLResponse)
async def subscriptions(request: Request, who: Viewer) -> Response:
    rows = await asyncio.to_thread(_subscriptions(request).all)
    return page(request, "subscriptions.html", visitor=who, nav="charges", rows=rows)


def _today(request: Request) -> Any:
    built = services(request)
    return built.security.clock.now().astimezone(built.merchant_zone).date()


@router.get("/subscriptions/{subscription_id}", response_class=HTMLResponse)
async def subscription(
    request: Request, who: Viewer, subscription_id: int, done: str = "", problem: str = ""
) -> Response:  # fmt: skip
    store = _subscriptions(request)
    sub = await asyncio.to_thread(store.get, subscription_id)
    if sub is None:
        raise ConsoleRefusal(404, f"no subscription {subscription_id}")
    periods = [sub.schedule.period(n) for n in range(sub.next_index, sub.next_index + UPCOMING)]
    charges_of = await asyncio.to_thread(store.charges, sub.id)
    policy = {r.name: r for r in services(request).settings if r.name.startswith("billing.")}
    return page(request, "subscription.html", visitor=who, nav="charges", sub=sub,
                upcoming=[p for p in periods if p is not None], charges=charges_of, policy=policy,
                done=done if done in SUB_ACTIONS else "", problem=problem[:300])  # fmt: skip


@router.post("/subscriptions/{subscription_id}/{action}")
async def change(
    request: Request, sent: OperatorPost, subscription_id: int, action: str
) -> Response:
    who, _ = sent
    if action not in SUB_ACTIONS:
        raise ConsoleRefusal(404, "a subscription is paused, resumed or cancelled")
    store = _subscriptions(request)
    target = f"subscription:{subscription_id}"
    audit = services(request).security.audit
    try:
        if action == "pause":
            sub = await asyncio.to_thread(store.pause, subscription_id)
        elif action == "resume":
            sub = await asyncio.to_thread(store.resume, subscription_id, _today(request))
        else:
            sub = await asyncio.to_thread(store.cancel, subscription_id)
    except PayBridgeError as exc:
        audit.record(actor=who.actor, action=f"subscription.{action}", target=target,
                     client=who.client, outcome="refused", detail={"why": exc.message})  # fmt: skip
        return _redirect(f"/subscriptions/{subscription_id}?{urlencode({'problem': exc.message})}")
    audit.record(actor=who.actor, action=f"subscription.{action}", target=target,
                 client=who.client, detail={"status": sub.status.value, "customer": sub.customer_id})  # fmt: skip
    return _redirect(f"/subscriptions/{subscription_id}?done={action}")
