"""A secured PayBridge web app for tests: the real app factory, the security wiring, a key per role.

Two small routes stand in for endpoints other areas own, so the dependencies they will use are
exercised over HTTP: a charge behind the per-key limit and a signed inbound event.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from sqlalchemy import Engine

from paybridge.app.settings import WebSettings
from paybridge.clock import ManualClock
from paybridge.security.context import SecurityContext, open_security
from paybridge.security.keyring import Keyring
from paybridge.security.webhooks import VerifiedEvent
from paybridge.store import open_engine
from paybridge.web.app import create_web_app
from paybridge.web.auth import AUTH_RESPONSES, RATE_LIMITED, Principal, charge_rate_limit
from paybridge.web.routes_admin import install_security
from paybridge.web.signatures import SIGNED_RESPONSES, signed_event

EVENT_SECRET = "whsec_" + base64.b64encode(b"test-event-secret-0001").decode()
ROLES = ("viewer", "operator", "admin")


@dataclass
class SecuredApp:
    app: FastAPI
    security: SecurityContext
    engine: Engine
    clock: ManualClock
    tokens: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def _stand_in_routes(app: FastAPI) -> None:
    @app.post("/v1/charges", tags=["test"], responses={**AUTH_RESPONSES, **RATE_LIMITED})
    def charge(principal: Annotated[Principal, Depends(charge_rate_limit)]) -> dict[str, str]:
        return {"charged_by": principal.key.key_id}

    @app.post("/events/test", tags=["test"], responses=SIGNED_RESPONSES)
    def event(
        verified: Annotated[VerifiedEvent, Depends(signed_event("test"))],
    ) -> dict[str, Any]:
        return {"webhook_id": verified.webhook_id, "bytes": len(verified.body)}


def secured_app(
    store_url: str,
    *,
    clock: ManualClock | None = None,
    charge_burst: int = 3,
    max_body: int = 64 * 1024,
    trusted_proxies: tuple[str, ...] | list[str] = (),
) -> SecuredApp:
    clock = clock or ManualClock()
    engine = open_engine(store_url)
    security = open_security(
        engine,
        clock=clock,
        keyring=Keyring.of([bytes(range(32))]),
        charge_rate=1.0,
        charge_burst=charge_burst,
    )
    security.verifier("test", [EVENT_SECRET])
    app = create_web_app(
        WebSettings(max_body_bytes=max_body, trusted_proxies=list(trusted_proxies))
    )
    install_security(app, security)
    _stand_in_routes(app)
    tokens = {role: security.api_keys.create(role, label=f"test {role}").token for role in ROLES}
    return SecuredApp(app, security, engine, clock, tokens)
