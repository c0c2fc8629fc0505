"""Both sandboxes in-process, the engine, and a secured web app with the charge and event routers."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.testclient import TestClient

from paybridge.clock import ManualClock
from paybridge.connectors.dynamics import MsalTokenProvider
from paybridge.connectors.paytrace import Address, CreditCard, CustomerCreateRequest
from paybridge.flows.charging import CHARGE_RESOLVE_TOPIC, ChargeService
from paybridge.security.context import SecurityContext, open_security
from paybridge.security.keyring import Keyring
from paybridge.security.webhooks import sign
from paybridge.services import Engine, build_engine
from paybridge.settings import DynamicsSettings, PayTraceSettings, Settings, StoreSettings
from paybridge.web.app import create_web_app
from paybridge.web.routes_admin import install_security
from paybridge.web.routes_charges import router as charges_router
from paybridge.web.routes_events import INBOUND_SOURCE
from paybridge.web.routes_events import router as events_router
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.conftest import asgi_client

PT = "https://api.paytrace.com"
D365 = "https://usmf.sandbox.operations.dynamics.com"
BASE = "http://paybridge.test"
START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
EVENT_SECRET = "whsec_" + base64.b64encode(b"storefront-secret-0001").decode()


@dataclass
class ChargeWorld:
    engine: Engine
    clock: ManualClock
    pt_app: Any
    security: SecurityContext
    service: ChargeService
    app: FastAPI
    api: httpx.AsyncClient
    tokens: dict[str, str]

    def headers(self, role: str = "operator", key: str | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.tokens[role]}"}
        if key is not None:
            out["Idempotency-Key"] = key
        return out

    def paytrace_transactions(self, invoice: str) -> list[Any]:
        """What the PayTrace sandbox itself holds for ``invoice`` (not through PayBridge)."""
        state = self.pt_app.state.sandbox.state
        return [t for t in state.transactions.values() if t.invoice_id == invoice]

    def signed(self, body: dict[str, Any], webhook_id: str) -> tuple[bytes, dict[str, str]]:
        raw = json.dumps(body).encode()
        stamp = int(self.clock.now().timestamp())
        headers = {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(EVENT_SECRET, webhook_id, stamp, raw),
            "content-type": "application/json",
        }
        return raw, headers


def sandbox_settings(tmp_path: Path) -> Settings:
    return Settings(
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'pb.db'}"),
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
    )


@dataclass
class SecuredParts:
    app: FastAPI
    security: SecurityContext
    tokens: dict[str, str]


def _secured_app(engine: Engine, service: ChargeService, clock: ManualClock) -> SecuredParts:
    security = open_security(
        engine.store.engine, clock=clock, keyring=Keyring.of([bytes(range(32))]), charge_burst=100
    )
    security.verifier(INBOUND_SOURCE, [EVENT_SECRET])
    app = create_web_app(engine=engine, charges=service)
    install_security(app, security)
    app.include_router(charges_router)
    app.include_router(events_router)
    tokens = {r: security.api_keys.create(r).token for r in ("viewer", "operator", "admin")}
    return SecuredParts(app, security, tokens)


def msal_for(d365: Any) -> MsalTokenProvider:
    """Entra ID tokens from the D365 sandbox's own token endpoint."""
    return MsalTokenProvider(
        "sandbox-client",
        "sandbox-secret",
        "https://login.microsoftonline.com/sandbox-tenant",
        f"{D365}/.default",
        http_client=TestClient(d365, base_url="https://login.microsoftonline.com"),
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[ChargeWorld]:
    clock = ManualClock(START)
    pt = paytrace_app(clock=SandboxClock(START))
    d365 = dynamics_app()
    tokens = msal_for(d365)
    async with asgi_client(pt, PT) as pt_http, asgi_client(d365, D365) as d_http:
        engine = build_engine(
            sandbox_settings(tmp_path),
            clock=clock,
            paytrace_http=pt_http,
            dynamics_http=d_http,
            token_provider=tokens,
        )
        service = ChargeService.from_engine(engine)
        engine.worker.handlers[CHARGE_RESOLVE_TOPIC] = service.resolve
        parts = _secured_app(engine, service, clock)
        async with asgi_client(parts.app, BASE) as api:
            yield ChargeWorld(
                engine, clock, pt, parts.security, service, parts.app, api, parts.tokens
            )


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
