"""Reconciliation: a days x companies calendar coloured by each day's newest result, a day's
report in the page (the same HTML report `paybridge reconcile` writes, run afresh: it reads both
systems), and for operators the download (XLSX, CSV in a zip, JSON) and heal buttons."""

from __future__ import annotations

import asyncio
import io
import zipfile
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paybridge.ops.activity import reconciled_days
from paybridge.reconcile.render import render, render_csv_files
from paybridge.reconcile.report import ReconciliationReport
from paybridge.reconcile.service import Reconciler
from paybridge.web.console.render import HEADERS, page
from paybridge.web.console.session import ConsoleRefusal, Visitor, needs, posted, services

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Visitor, Depends(needs("viewer"))]
Operator = Annotated[Visitor, Depends(needs("operator"))]
OperatorPost = Annotated[tuple[Visitor, dict[str, str]], Depends(posted("operator"))]
DAYS = 35
# The report is a document of its own with an inline style sheet and no script, framed by the page.
REPORT_HEADERS = {
    **HEADERS,
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
}
TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "zip": "application/zip",
}


def reconciler_of(request: Request) -> Reconciler:
    built = getattr(request.app.state, "console_reconciler", None)
    if not isinstance(built, Reconciler):
        raise RuntimeError("app.state.console_reconciler is not set; see install_console")
    return built


def _company(request: Request, company: str) -> str:
    known = set(reconciler_of(request).settings.companies)
    if company not in known:
        raise ConsoleRefusal(404, f"no company {company} in reconcile.companies")
    return company


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConsoleRefusal(404, "a day is written 2026-12-03") from None


@router.get("/reconcile", response_class=HTMLResponse)
async def calendar(request: Request, who: Viewer) -> Response:
    built = services(request)
    today = built.security.clock.now().astimezone(built.merchant_zone).date()
    days = [today - timedelta(days=n) for n in range(DAYS)]
    found = await asyncio.to_thread(reconciled_days, built.queue.engine, days[-1])
    companies = sorted(set(reconciler_of(request).settings.companies) | {r.company for r in found})
    cells = {(r.company, r.day): r for r in found}
    return page(request, "reconcile.html", visitor=who, nav="reconcile", days=days,
                companies=companies, cells=cells)  # fmt: skip


async def _run(
    request: Request, company: str, day: date, heal: bool = False
) -> ReconciliationReport:
    return await reconciler_of(request).run(day, company, heal=heal)


@router.get("/reconcile/{company}/{day}", response_class=HTMLResponse)
def day_page(request: Request, who: Viewer, company: str, day: str, done: str = "") -> Response:
    company, when = _company(request, company), _day(day)
    return page(request, "reconcile_day.html", visitor=who, nav="reconcile", company=company,
                day=when, done=done == "heal")  # fmt: skip


@router.get("/reconcile/{company}/{day}/report.html", response_class=HTMLResponse)
async def report_html(request: Request, who: Viewer, company: str, day: str) -> Response:
    report = await _run(request, _company(request, company), _day(day))
    return HTMLResponse(render(report, "html"), headers=REPORT_HEADERS)


@router.get("/reconcile/{company}/{day}/report.{fmt}")
async def download(
    request: Request, who: Operator, company: str, day: str, fmt: Literal["xlsx", "json", "zip"]
) -> Response:
    report = await _run(request, _company(request, company), _day(day))
    if fmt == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in render_csv_files(report).items():
                archive.writestr(name, data)
        body = buffer.getvalue()
    else:
        body = render(report, fmt)
    name = f"reconcile-{report.company}-{report.day.isoformat()}.{fmt}"
    headers = {**HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=TYPES[fmt], headers=headers)


@router.post("/reconcile/{company}/{day}/heal")
async def heal(request: Request, sent: OperatorPost, company: str, day: str) -> Response:
    who, _ = sent
    company, when = _company(request, company), _day(day)
    report = await _run(request, company, when, heal=True)
    services(request).security.audit.record(
        actor=who.actor, action="reconcile.heal", target=f"reconcile:{company}/{when.isoformat()}",
        client=who.client, outcome="ok" if not report.errors else "error",
        detail={"heals": len(report.heals), "differences": len(report.exceptions)},
    )  # fmt: skip
    return RedirectResponse(
        f"/reconcile/{company}/{when.isoformat()}?done=heal", status_code=303,
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip
