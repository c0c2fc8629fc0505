"""The flow view: the pipeline (poll -> inbox -> route -> D365 write -> ledger -> reconcile)
with live counts, and the business rules in force, each naming its setting, its value and where
the value came from (the admin settings page has them all)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from paybridge.console.services import ConsoleServices, SettingRow
from paybridge.ops.activity import hours_between
from paybridge.ops.flow import facts_since, last_runs
from paybridge.web.console.render import page
from paybridge.web.console.session import Visitor, needs, services

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Visitor, Depends(needs("viewer"))]
POLL_JOB, RECONCILE_JOB, POST_JOB = "paytrace.poll", "reconcile.morning", "d365.post_journals"
# (stage, the rule in words, its settings)
RULES = (
    ("poll", "How often PayTrace is read, and from when payments are posted",
     ("paytrace.poll_interval_seconds", "o2c.cut_over")),
    ("route", "A payment whose PayTrace customer has no D365 account",
     ("o2c.missing_customer", "dynamics.customer_match")),
    ("write", "One payment journal per company and day, under this journal name",
     ("dynamics.journal_name", "dynamics.journal_description", "dynamics.timezone")),
    ("write", "A void of a sale whose line is still in an unposted journal",
     ("o2c.void_unposted",)),
    ("write", "Posting the day's journals", ("o2c.post_journals", "o2c.post_at")),
    ("write", "Requests to D365 per second (per principal)", ("dynamics.requests_per_second",)),
    ("ledger", "Retries before a payment becomes a dead letter", ("worker.max_attempts",)),
    ("reconcile", "When the morning reconciliation runs, and for which companies",
     ("reconcile.schedule_at", "reconcile.companies")),
)  # fmt: skip


@dataclass(frozen=True)
class Rule:
    stage: str
    text: str
    settings: list[SettingRow]


@dataclass(frozen=True)
class Stage:
    key: str
    name: str
    figure: str
    detail: str
    link: str


def rules_in_force(built: ConsoleServices) -> list[Rule]:
    rows = {row.name: row for row in built.settings}
    missing = SettingRow("", "(not set)", "default")
    return [
        Rule(
            stage, text, [rows.get(n, SettingRow(n, missing.value, missing.origin)) for n in names]
        )
        for stage, text, names in RULES
    ]


def flow_data(built: ConsoleServices) -> dict[str, Any]:
    now = built.security.clock.now()
    day = now.astimezone(built.merchant_zone).date()
    start = datetime.combine(day, time(0), tzinfo=built.merchant_zone)
    built.payments.catch_up()
    figures = built.figures.read(now)
    payment = figures.topics.get("payment")
    posted = sum(built.activity.posted_per_hour(hours_between(start, now)).values())
    runs = last_runs(built.queue.engine, [POLL_JOB, RECONCILE_JOB, POST_JOB])
    poll = runs.get(POLL_JOB)
    dead = payment.dead.get("open", 0) if payment else 0
    doubt = sum(d.count for d in figures.in_doubt)
    last = max(figures.reconciliations, key=lambda r: r.at, default=None)
    stages = [
        Stage("poll", "Poll PayTrace", f"{facts_since(built.queue.engine, start):,}",
              "payment facts today; last poll " + (_when(built, poll.finished_at or poll.started_at) if poll else "never"),
              "/payments?from=" + day.isoformat()),
        Stage("inbox", "Inbox and queue", f"{payment.ready if payment else 0:,}",
              f"waiting, {payment.leased if payment else 0:,} being worked", "/payments?status=waiting"),
        Stage("route", "Route (customer, invoice, journal)", f"{dead:,}",
              "dead letters open (e.g. no D365 customer)", "/errors"),
        Stage("write", "Write to D365", f"{posted:,}", f"lines posted today; {doubt:,} writes in doubt",
              "/payments?status=posted&from=" + day.isoformat()),
        Stage("ledger", "Ledger", f"{posted:,}", "facts linked to their D365 line today", "/payments"),
        Stage("reconcile", "Reconcile", last.company if last else "–",
              f"last: {last.day.isoformat()}, {last.differences} differences" if last else "not run yet",
              "/reconcile"),
    ]  # fmt: skip
    return {"stages": stages, "rules": rules_in_force(built), "now": now}


def _when(built: ConsoleServices, moment: datetime) -> str:
    return moment.astimezone(built.merchant_zone).strftime("%H:%M:%S")


@router.get("/flow", response_class=HTMLResponse)
async def flow(request: Request, who: Viewer) -> Response:
    data = await asyncio.to_thread(flow_data, services(request))
    return page(request, "flow.html", visitor=who, nav="flow", **data)
