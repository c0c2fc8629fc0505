"""The console's services, built from one engine's store and security (see ``paybridge.console``)."""

from __future__ import annotations

import json
import re
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, SecretStr

from paybridge.app.settings import Settings
from paybridge.app.store import Store
from paybridge.console.designer import MappingDesk
from paybridge.console.services import ConsoleServices, SettingRow, Triage
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
        d365_window_limit=d365_window_limit(settings),
        d365_window_seconds=settings.dynamics.service_protection.window_seconds,
        secure_cookies=settings.web.secure_cookies
        if settings.web.secure_cookies is not None
        else settings.web.tls_cert is not None,
        signin_limiter=RateLimiter(1 / 6, 10, security.clock), designer=designer,
        settings=setting_rows(settings),
    )  # fmt: skip


def d365_window_limit(settings: Settings) -> int:
    """Requests per service-protection window F&O allows the installation: every principal's
    limit (a process's ``share`` aside: the dashboard adds up every process)."""
    sp = settings.dynamics.service_protection
    return sp.requests * (1 + len(settings.dynamics.principals))


_USERINFO = re.compile(r"(://[^/@:\s]*:)[^@/\s]*@")


def setting_rows(settings: Settings) -> list[SettingRow]:
    """Every effective setting, dotted, with its origin; a secret shows only its reference (or
    that it was given directly in the environment), a URL never its password."""
    return [
        SettingRow(name, shown, settings.origin_of(name), secret)
        for name, shown, secret in _walk(settings, "")
    ]


def _walk(value: Any, name: str) -> list[tuple[str, str, bool]]:
    if isinstance(value, BaseModel):
        return [row for key in type(value).model_fields
                for row in _walk(getattr(value, key), f"{name}{key}" if not name else f"{name}.{key}")]  # fmt: skip
    if (
        isinstance(value, dict)
        and value
        and any(isinstance(v, BaseModel | list) for v in value.values())
    ):
        return [row for key, item in value.items() for row in _walk(item, f"{name}.{key}")]
    if isinstance(value, SecretStr):
        return [(name, _secret(value), True)]
    if isinstance(value, list) and value and all(isinstance(v, SecretStr) for v in value):
        return [(name, ", ".join(_secret(v) for v in value), True)]
    shown = value if isinstance(value, str) else json.dumps(value, default=str)
    return [(name, _USERINFO.sub(r"\1***@", shown), False)]


def _secret(value: SecretStr) -> str:
    reference = value.get_secret_value()
    if reference.startswith(("env:", "vault:")):
        return reference
    return "(given as a value, not a reference; not shown)"
