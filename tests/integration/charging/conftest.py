"""Both sandboxes in-process, the engine, and a secured web app with the charge and event routers."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from paybridge.app.engine import Engine
from paybridge.charging.service import ChargeService
from paybridge.clock import ManualClock
from paybridge.security.context import SecurityContext, open_security
from paybridge.security.keyring import Keyring
from paybridge.security.webhooks import sign
from paybridge.web.app import create_web_app
from paybridge.web.routes_admin import install_security
from paybridge.web.routes_charges import router as charges_router
from paybridge.web.routes_events import INBOUND_SOURCE
from paybridge.web.routes_events import router as events_router
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.conftest import asgi_client
from tests.sandboxes import D365 as D365
from tests.sandboxes import PT as PT
from tests.sandboxes import open_profile as open_profile
from tests.sandboxes import sandbox_engine, sandbox_http, sandbox_tokens
from tests.sandboxes import sandbox_settings as sandbox_settings

# The charging tests import open_profile from here; test_charge_cli also PT, D365, msal_for
# and sandbox_settings.
msal_for = sandbox_tokens

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
    app = create_web_app(charges=service, event_intake=engine.events)
    install_security(app, security)
    app.include_router(charges_router)
    app.include_router(events_router)
    tokens = {r: security.api_keys.create(r).token for r in ("viewer", "operator", "admin")}
    return SecuredParts(app, security, tokens)


@asynccontextmanager
async def open_world(tmp_path: Path, **sections: Any) -> AsyncIterator[ChargeWorld]:
    """Both sandboxes, the engine built from settings (plus ``sections``) and the secured API."""
    clock = ManualClock(START)
    pt, d365 = paytrace_app(clock=SandboxClock(START)), dynamics_app()
    async with sandbox_http(pt, d365) as (pt_http, d_http):
        settings = sandbox_settings(tmp_path, **sections)
        engine = sandbox_engine(
            settings, clock=clock, pt_http=pt_http, d_http=d_http, d365_app=d365
        )
        service = engine.charges
        parts = _secured_app(engine, service, clock)
        async with asgi_client(parts.app, BASE) as api:
            yield ChargeWorld(
                engine, clock, pt, parts.security, service, parts.app, api, parts.tokens
            )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[ChargeWorld]:
    async with open_world(tmp_path) as charge_world:
        yield charge_world
