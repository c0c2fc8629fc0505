"""Admin (admin role, read-only here): console users, API keys, the vault's entry names and
versions (never a value), and the audit log with filters and the chain's verification. Keys,
users and secrets are changed with `paybridge keys|users|vault` on the host. Reading the audit
log is itself audited, as through the API."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from paybridge.errors import ConfigError
from paybridge.web.console.render import page
from paybridge.web.console.session import Visitor, needs, services

router = APIRouter(include_in_schema=False)
Admin = Annotated[Visitor, Depends(needs("admin"))]
AUDIT_ROWS = 200


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request, who: Admin) -> Response:
    security = services(request).security
    try:
        secrets, vault_problem = security.vault.all(), ""
    except ConfigError as exc:
        secrets, vault_problem = [], exc.message
    return page(request, "admin.html", visitor=who, nav="admin", users=security.users.all(),
                keys=security.api_keys.all(), secrets=secrets, vault_problem=vault_problem,
                now=security.clock.now())  # fmt: skip


@router.get("/admin/settings", response_class=HTMLResponse)
def settings(request: Request, who: Admin) -> Response:
    """Every effective setting with its origin; secrets as their reference names only."""
    return page(request, "settings.html", visitor=who, nav="admin", rows=services(request).settings)


def _day(text: str, problems: dict[str, str], name: str) -> date | None:
    try:
        return date.fromisoformat(text) if text.strip() else None
    except ValueError:
        problems[name] = "a date, like 2026-12-03"
        return None


@router.get("/admin/audit", response_class=HTMLResponse)
async def audit(
    request: Request, who: Admin, actor: str = "", action: str = "", outcome: str = "",
    since: str = "", until: str = "", verify: str = "",
) -> Response:  # fmt: skip
    built = services(request)
    log, zone = built.security.audit, built.merchant_zone
    problems: dict[str, str] = {}
    first, last = _day(since, problems, "since"), _day(until, problems, "until")
    asked: dict[str, Any] = {
        "actor": actor[:80] or None, "action": action[:80] or None, "outcome": outcome[:20] or None,
        "since": datetime.combine(first, time(0), tzinfo=zone) if first else None,
        "until": datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone) if last else None,
    }  # fmt: skip
    rows = [] if problems else await asyncio.to_thread(log.search, limit=AUDIT_ROWS, **asked)
    report = await asyncio.to_thread(log.verify) if verify else None
    log.record(
        actor=who.actor, action="audit.list", target="audit", client=who.client,
        detail={**{k: v for k, v in asked.items() if v is not None}, "rows": len(rows),
                "verify": bool(verify)},
    )  # fmt: skip
    params = {"actor": actor, "action": action, "outcome": outcome, "since": since, "until": until}
    return page(request, "audit.html", visitor=who, nav="admin", rows=rows, params=params,
                problems=problems, report=report, limit=AUDIT_ROWS)  # fmt: skip
