"""The in-process two-sandbox world: PayBridge settings, Entra ID tokens and an engine over both.

Every test that runs the engine against the PayTrace and D365 sandboxes builds the same wiring;
the pieces live here. Start times, extra settings and whatever a test module builds on top
(worlds, fixtures, clients it keeps) stay with the module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.testclient import TestClient

from paybridge.app.engine import Engine, build_engine
from paybridge.app.settings import Settings, StoreSettings
from paybridge.clock import Clock, ManualClock
from paybridge.connectors.dynamics import MsalTokenProvider
from paybridge.connectors.dynamics.settings import DynamicsSettings
from paybridge.connectors.paytrace import Address, CreditCard, CustomerCreateRequest
from paybridge.connectors.paytrace.settings import PayTraceSettings
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.conftest import asgi_client

PT = "https://api.paytrace.com"
D365 = "https://usmf.sandbox.operations.dynamics.com"
LOGIN = "https://login.microsoftonline.com"


def sandbox_settings(tmp_path: Path, *, db: str = "pb.db", **sections: Any) -> Settings:
    """Settings with the sandboxes' credentials and a SQLite store ``tmp_path / db``.

    ``sections`` are further settings sections passed through (``o2c=OrderToCashSettings(...)``).
    """
    return Settings(
        store=StoreSettings(url=f"sqlite:///{tmp_path / db}"),
        paytrace=PayTraceSettings(
            base_url=PT,
            username=SecretStr("sandbox"),
            password=SecretStr("sandbox"),
            integrator_id=SecretStr("SANDBOX00001"),
        ),
        dynamics=DynamicsSettings(
            base_url=D365,
            tenant="sandbox-tenant",
            client_id="sandbox-client",
            client_secret=SecretStr("sandbox-secret"),
        ),
        **sections,
    )


def sandbox_tokens(d365_app: Any) -> MsalTokenProvider:
    """Entra ID tokens from the D365 sandbox's own token endpoint."""
    return MsalTokenProvider(
        "sandbox-client",
        "sandbox-secret",
        f"{LOGIN}/sandbox-tenant",
        f"{D365}/.default",
        http_client=TestClient(d365_app, base_url=LOGIN),
    )


@asynccontextmanager
async def sandbox_http(
    pt_app: Any, d365_app: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """In-process HTTP clients for the PayTrace and D365 sandboxes, closed on exit."""
    async with asgi_client(pt_app, PT) as pt_http, asgi_client(d365_app, D365) as d_http:
        yield pt_http, d_http


def sandbox_engine(
    settings: Settings,
    *,
    clock: Clock,
    pt_http: httpx.AsyncClient,
    d_http: httpx.AsyncClient,
    d365_app: Any,
    **kw: Any,
) -> Engine:
    """An engine over the sandboxes' clients (the caller owns and closes them).

    ``kw`` goes on to ``build_engine`` (``store=``, ``worker_name=``, ...).
    """
    return build_engine(
        settings,
        clock=clock,
        paytrace_http=pt_http,
        dynamics_http=d_http,
        token_provider=sandbox_tokens(d365_app),
        **kw,
    )


@dataclass
class Sandboxes:
    engine: Engine
    clock: ManualClock
    pt_app: Any
    d365_app: Any


@asynccontextmanager
async def open_sandboxes(tmp_path: Path, start: datetime) -> AsyncIterator[Sandboxes]:
    """Both sandboxes in-process, manual clocks at ``start``, an engine on ``tmp_path / pb.db``."""
    clock = ManualClock(start)
    pt = paytrace_app(clock=SandboxClock(start))
    d365 = dynamics_app()
    async with sandbox_http(pt, d365) as (pt_http, d_http):
        engine = sandbox_engine(
            sandbox_settings(tmp_path), clock=clock, pt_http=pt_http, d_http=d_http, d365_app=d365
        )
        yield Sandboxes(engine, clock, pt, d365)


async def open_profile(engine: Engine, profile: str, account: str | None) -> None:
    """A PayTrace vault profile with a test card, linked to the D365 account when given."""
    await engine.paytrace.create_customer(
        CustomerCreateRequest(
            customer_id=profile,
            credit_card=CreditCard(
                number=SecretStr("4012000098765439"), expiration_month=12, expiration_year=2030
            ),
            billing_address=Address(name="Test Shopper", street_address="1 Main St", zip="98101"),
        )
    )
    if account:
        engine.store.xref.link("paytrace_customer", profile, f"usmf/{account}")
