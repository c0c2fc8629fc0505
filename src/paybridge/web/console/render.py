"""Pages from Jinja2 templates (autoescaped), with the headers every console page carries.

Money is shown as its Decimal with the ISO currency; times in the merchant's time zone (the
store keeps aware UTC). Pages are never cached (``no-store``), may not be framed, and load
scripts and styles from PayBridge only (the CSP), so an injected script would not run.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from paybridge.mapping import render_json
from paybridge.model.money import Money
from paybridge.web.console.session import services

HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def money(value: Money | None) -> str:
    if value is None:
        return ""
    return f"{value.amount:,} {value.currency}"


def amount(value: Decimal | int | None) -> str:
    return "" if value is None else f"{value:,}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("paybridge.web.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["amount"] = amount
    env.filters["duration"] = duration
    env.filters["jsonvalue"] = render_json  # Decimals exact, as the mapping preview writes them
    return env


ENV = environment()


def local(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if value else ""


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context``, the visitor and the page headers."""
    built = services(request)
    zone = built.merchant_zone
    html = ENV.get_template(template).render(
        request=request, when=lambda v: local(v, zone), zone=zone.key, **context
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)
