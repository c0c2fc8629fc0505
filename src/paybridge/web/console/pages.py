"""The console's pages: sign-in and out, the dashboard, the payments explorer with lineage."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paybridge.console.services import ConsoleServices
from paybridge.ops.activity import d365_budgets, d365_company_budgets, hours_between, requests
from paybridge.ops.payments import STATUSES, PaymentQuery
from paybridge.security.cardguard import redact
from paybridge.web.auth import client_of
from paybridge.web.console.render import page
from paybridge.web.console.session import (
    COOKIE,
    SIGNIN_COOKIE,
    ConsoleRefusal,
    Visitor,
    form_of,
    needs,
    posted,
    same_origin,
    services,
)

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Visitor, Depends(needs("viewer"))]
ViewerPost = Annotated[tuple[Visitor, dict[str, str]], Depends(posted("viewer"))]
PAGE_SIZE = 50


def _safe_next(target: str) -> str:
    """A path on this site only: never ``//host`` or ``/\\host`` (browsers read both as a host)."""
    ok = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if ok and len(target) <= 2000 else "/"


def _redirect(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


# -- sign-in ---------------------------------------------------------------------------------


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, next: str = "/", error: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = page(request, "signin.html", next=_safe_next(next), csrf=token, error=error,
                    visitor=None)  # fmt: skip
    response.set_cookie(
        SIGNIN_COOKIE, token, max_age=900, httponly=True, samesite="strict", path="/signin",
        secure=services(request).secure_cookies,
    )  # fmt: skip
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    same_origin(request)
    built = services(request)
    form = await form_of(request)
    target = _safe_next(form.get("next", "/"))
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    if not cookie or form.get("csrf") != cookie:
        return _redirect("/signin?" + urlencode({"next": target, "error": "expired"}))
    client = client_of(request)
    if built.signin_limiter.take(f"signin:{client}") > 0:
        return _redirect("/signin?" + urlencode({"next": target, "error": "wait"}))
    actor, role = await asyncio.to_thread(_check_credentials, built, form)
    if actor is None or role is None:
        built.security.audit.record(
            actor=f"user:{form.get('username', '')[:60]}" if form.get("username") else "anonymous",
            action="console.signin", target="console", client=client, outcome="unauthenticated",
        )  # fmt: skip
        return _redirect("/signin?" + urlencode({"next": target, "error": "denied"}))
    opened = built.security.sessions.open(actor, role)
    built.security.audit.record(
        actor=actor, action="console.signin", target="console", client=client,
        detail={"role": role},
    )  # fmt: skip
    response = _redirect(target)
    response.set_cookie(
        COOKIE, opened.token, httponly=True, samesite="strict", path="/",
        secure=built.secure_cookies,
    )  # fmt: skip
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


def _check_credentials(
    built: ConsoleServices, form: dict[str, str]
) -> tuple[str | None, str | None]:
    key = form.get("api_key", "").strip()
    if key:
        record = built.security.api_keys.verify(key)
        return (f"key:{record.key_id}", record.role) if record else (None, None)
    user = built.security.users.verify(form.get("username", ""), form.get("password", ""))
    return (f"user:{user.username}", user.role) if user else (None, None)


@router.post("/signout")
def signout(request: Request, sent: ViewerPost) -> Response:
    who, _ = sent
    built = services(request)
    built.security.sessions.close(who.token)
    built.security.audit.record(
        actor=who.actor, action="console.signout", target="console", client=who.client
    )
    response = _redirect("/signin")
    response.delete_cookie(COOKIE, path="/")
    return response


# -- dashboard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    x: int
    height: int


def _today(built: ConsoleServices, now: datetime) -> tuple[date, datetime]:
    day = now.astimezone(built.merchant_zone).date()
    return day, datetime.combine(day, time(0), tzinfo=built.merchant_zone)


def dashboard_data(built: ConsoleServices) -> dict[str, Any]:
    now = built.security.clock.now()
    day, start = _today(built, now)
    built.payments.catch_up()  # the latency joins each line to its fact's approval time
    hours = hours_between(start, now + timedelta(seconds=1))
    per_hour = built.activity.posted_per_hour(hours)
    tallest = max([*per_hour.values(), 1])
    bars = [
        Bar(hour.astimezone(built.merchant_zone).strftime("%H:00"), per_hour.get(hour, 0),
            n * 28, round(120 * per_hour.get(hour, 0) / tallest))
        for n, hour in enumerate(hours)
    ]  # fmt: skip
    figures = built.figures.read(now)
    dead_open = sum(t.dead.get("open", 0) for t in figures.topics.values())
    return {
        "day": day, "now": now, "bars": bars, "posted_today": sum(per_hour.values()),
        "tallest": tallest, "latency": built.activity.latency(now - timedelta(hours=24)),
        "topics": list(figures.topics.values()), "dead_open": dead_open,
        "in_doubt": figures.in_doubt, "in_doubt_total": sum(d.count for d in figures.in_doubt),
        "charges": figures.charges, "reconciliations": figures.reconciliations,
        "requests": requests(figures.processes, now, built.stale_after_seconds),
        "d365_rate": built.d365_requests_per_second,
        "budgets": d365_budgets(figures.processes, now, built.stale_after_seconds,
                                built.d365_requests_per_second),
        "company_budgets": d365_company_budgets(figures.processes, now,
                                                built.stale_after_seconds, built.d365_window_limit),
        "d365_window_limit": built.d365_window_limit,
        "d365_window_minutes": round(built.d365_window_seconds / 60, 1),
        "charges_in_doubt": figures.charges.get("in_doubt", 0),
        "processes": [p for p in figures.processes if now - p.seen_at < timedelta(seconds=built.stale_after_seconds)],
    }  # fmt: skip


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, who: Viewer) -> Response:
    data = await asyncio.to_thread(dashboard_data, services(request))
    return page(request, "dashboard.html", visitor=who, nav="dashboard", **data)


# -- payments --------------------------------------------------------------------------------


def _decimal(text: str, name: str, problems: dict[str, str]) -> Decimal | None:
    if not text.strip():
        return None
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        problems[name] = "not an amount"
        return None
    if not value.is_finite() or value < 0:
        problems[name] = "not an amount"
        return None
    return value


def _date(text: str, name: str, problems: dict[str, str]) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        problems[name] = "a date, like 2026-12-03"
        return None


def payment_query(
    built: ConsoleServices, params: dict[str, str]
) -> tuple[PaymentQuery, dict[str, str]]:
    problems: dict[str, str] = {}
    low = _decimal(params.get("min", ""), "min", problems)
    high = _decimal(params.get("max", ""), "max", problems)
    since_day = _date(params.get("from", ""), "from", problems)
    until_day = _date(params.get("to", ""), "to", problems)
    status = params.get("status", "")
    if status and status not in STATUSES:
        problems["status"] = "unknown status"
        status = ""
    try:
        page_no = max(1, min(int(params.get("page", "1") or 1), 10_000))
    except ValueError:
        page_no = 1
    zone = built.merchant_zone
    query = PaymentQuery(
        transaction_id=params.get("tx", "")[:40], invoice_id=params.get("invoice", "")[:120],
        order_id=params.get("order", "")[:120], customer_id=params.get("customer", "")[:120],
        amount_min=low, amount_max=high,
        since=datetime.combine(since_day, time(0), tzinfo=zone) if since_day else None,
        until=datetime.combine(until_day + timedelta(days=1), time(0), tzinfo=zone) if until_day else None,
        status=status, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE,
    )  # fmt: skip
    return query, problems


FIELDS = ("tx", "invoice", "order", "customer", "min", "max", "from", "to", "status")


@router.get("/payments", response_class=HTMLResponse)
async def payments(request: Request, who: Viewer) -> Response:
    built = services(request)
    params = {k: v for k, v in request.query_params.items() if k in (*FIELDS, "page")}
    query, problems = payment_query(built, params)
    rows, more = ([], False) if problems else await asyncio.to_thread(built.payments.search, query)
    page_no = query.offset // PAGE_SIZE + 1
    kept = {k: v for k, v in params.items() if k in FIELDS and v}
    context: dict[str, Any] = {
        "visitor": who, "nav": "payments", "rows": rows, "more": more, "params": params,
        "problems": problems, "statuses": STATUSES, "page_no": page_no,
        "next_url": "/payments?" + urlencode({**kept, "page": page_no + 1}) if more else "",
        "prev_url": "/payments?" + urlencode({**kept, "page": page_no - 1}) if page_no > 1 else "",
    }  # fmt: skip
    partial = request.headers.get("hx-request") == "true"
    return page(request, "_payments_table.html" if partial else "payments.html", **context)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    system: str
    what: str
    record: str
    status: str
    detail: str
    link: str = ""


def _history_entry(key: str, entry: dict[str, Any], dead: bool) -> TimelineEntry:
    d = entry["detail"]
    note = f": {entry['comment']}" if entry.get("comment") else ""
    detail = f"by {entry['actor']}{note}"
    if entry["action"] == "replay":
        detail += f" (it had died after {d.get('attempts')} attempts: {d.get('dead_reason')})"
    link = f"/errors/{entry['message_id']}" if dead else ""
    return TimelineEntry(
        entry["at"], "paybridge", f"dead letter {entry['action']}", key, str(entry["state"]),
        detail, link,
    )  # fmt: skip


def timeline(built: ConsoleServices, transaction_id: str) -> list[TimelineEntry]:
    """The lineage as one list in time order: sightings, what people did, each step."""
    lineage = built.lineage(transaction_id)
    out: list[TimelineEntry] = []
    for seen in lineage.seen:
        message = seen.message or {}
        status = str(message.get("status", ""))
        dead = status == "dead"
        if dead:
            status = f"dead ({message.get('triage_state') or 'open'})"
        why = message.get("dead_reason") or message.get("last_error") or ""
        out.append(TimelineEntry(
            seen.received_at, "paybridge", f"seen {seen.key.rsplit(':', 1)[-1]}", seen.key,
            status, f"from {seen.source}; attempts {message.get('attempts', 0)}"
            + (f"; {why}" if why else ""),
            f"/payments/{transaction_id}/raw/{message['id']}" if message.get("id") else "",
        ))  # fmt: skip
        out += [_history_entry(seen.key, entry, dead) for entry in seen.history]
    for step in lineage.steps:
        extra = ", ".join(f"{k} {v}" for k, v in sorted(step.detail.items()) if v not in ("", None))
        out.append(TimelineEntry(
            step.at, step.system, step.step, f"{step.entity} {step.entity_id}", step.status,
            f"attempts {step.attempts}" + (f"; {extra}" if extra else ""),
        ))  # fmt: skip
    out.sort(key=lambda e: e.at)
    return out


@router.get("/payments/{transaction_id}", response_class=HTMLResponse)
async def payment(request: Request, who: Viewer, transaction_id: str) -> Response:
    built = services(request)
    if not transaction_id.isdigit() or len(transaction_id) > 40:
        raise ConsoleRefusal(404, "a PayTrace transaction id is a number")
    facts = await asyncio.to_thread(built.payments.of_transaction, transaction_id)
    entries = await asyncio.to_thread(timeline, built, transaction_id)
    if not facts and not entries:
        raise ConsoleRefusal(404, f"nothing is known of PayTrace transaction {transaction_id}")
    return page(request, "payment.html", visitor=who, nav="payments", tx=transaction_id,
                facts=facts, entries=entries)  # fmt: skip


@router.get("/payments/{transaction_id}/raw/{message_id}", response_class=HTMLResponse)
def raw(request: Request, who: Viewer, transaction_id: str, message_id: int) -> Response:
    """The message as PayBridge keeps it, card data redacted (the payload is stored redacted too)."""
    built = services(request)
    lineage = built.lineage(transaction_id)
    message = next(
        (s for s in lineage.seen if s.message and int(s.message["id"]) == message_id), None
    )
    payload = built.queue.payload(message.key) if message else None
    if message is None or payload is None:
        raise ConsoleRefusal(404, "no such record of this transaction")
    text = json.dumps(redact(payload), indent=2, sort_keys=True, default=str)
    return page(request, "raw.html", visitor=who, nav="payments", tx=transaction_id,
                key=message.key, text=text)  # fmt: skip
