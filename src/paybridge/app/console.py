"""The console's services, built from one engine's store and security (see ``paybridge.console``)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from paybridge.app.settings import Settings
from paybridge.app.store import Store
from paybridge.console.designer import MappingDesk
from paybridge.console.services import ConsoleServices, Triage
from paybridge.ops.activity import Activity
from paybridge.ops.figures import StoreFigures
from paybridge.ops.payments import PaymentIndex
from paybridge.security.context import SecurityContext
from paybridge.security.ratelimit import RateLimiter


def console_services(
    settings: Settings, store: Store, security: SecurityContext,
    designer: MappingDesk | None = None,
) -> ConsoleServices:  # fmt: skip
    return ConsoleServices(
        queue=store.queue, ledger=store.ledger, security=security,
        figures=StoreFigures(store.engine), activity=Activity(store.engine),
        payments=PaymentIndex(store.engine), triage=Triage(store.queue, store.xref, security), merchant_zone=ZoneInfo(settings.paytrace.timezone),
        stale_after_seconds=settings.metrics.stale_after_seconds,
        d365_requests_per_second=settings.dynamics.requests_per_second,
        secure_cookies=settings.web.secure_cookies
        if settings.web.secure_cookies is not None
        else settings.web.tls_cert is not None,
        signin_limiter=RateLimiter(1 / 6, 10, security.clock), designer=designer,
    )  # fmt: skip
