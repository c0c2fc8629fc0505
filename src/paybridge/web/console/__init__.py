"""The web console: server-rendered pages (Jinja2, autoescaped) with htmx, served by ``paybridge
serve`` at ``/`` beside the API. It receives ``ConsoleServices`` built by ``paybridge.app`` and
builds nothing itself; its assets (htmx, CSS) ship in the package, so it works offline."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from paybridge.billing.store import SubscriptionStore
from paybridge.console.services import ConsoleServices
from paybridge.reconcile.service import Reconciler
from paybridge.web.console import (
    admin,
    charges,
    customers,
    designer,
    flow,
    pages,
    reconcile,
    triage,
)
from paybridge.web.console.render import page
from paybridge.web.console.session import ConsoleRefusal, visitor

STATIC = Path(__file__).parent / "static"


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleRefusal)
    if exc.status == 401:
        target = request.url.path if request.method == "GET" else "/"
        query = f"?{request.url.query}" if request.url.query and request.method == "GET" else ""
        return RedirectResponse(
            "/signin?" + urlencode({"next": target + query}), status_code=303,
            headers={"Cache-Control": "no-store"},
        )  # fmt: skip
    try:
        who = visitor(request)
    except ConsoleRefusal:
        who = None
    return page(request, "refused.html", status=exc.status, visitor=who, message=exc.message)


def install_console(
    app: FastAPI, built: ConsoleServices, reconciler: Reconciler | None = None,
    subscriptions: SubscriptionStore | None = None,
) -> None:  # fmt: skip
    """The pages on ``app``. The reconciliation pages need ``reconciler`` (the engine's, whose
    runs are recorded; ``build_api`` always gives it), the charges and subscriptions pages
    ``subscriptions`` and the app's charge service: without them they are not mounted."""
    app.state.console = built
    app.add_exception_handler(ConsoleRefusal, _refused)
    app.mount("/console-static", StaticFiles(directory=STATIC), name="console-static")
    app.include_router(pages.router)
    app.include_router(triage.router)
    app.include_router(customers.router)
    app.include_router(admin.router)
    app.include_router(flow.router)
    if built.designer is not None:
        app.include_router(designer.router)
    if subscriptions is not None:
        app.state.console_subscriptions = subscriptions
        app.include_router(charges.router)
    if reconciler is not None:
        app.state.console_reconciler = reconciler
        app.include_router(reconcile.router)
