"""Shared wiring for the D365 sandbox tests: a frozen clock, an app, and an authorised client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from paybridge_sandbox.dynamics import DynamicsSandboxSettings, SandboxClock, create_app
from tests.conftest import asgi_client

BASE = "https://usmf.sandbox.operations.dynamics.com"
START = datetime(2026, 7, 15, 9, 30, tzinfo=UTC)


def make_app(**overrides: Any) -> Any:
    settings = DynamicsSandboxSettings(rng_seed=7, **overrides)
    return create_app(settings, clock=SandboxClock(START))


async def token(
    client: httpx.AsyncClient,
    client_id: str = "sandbox-client",
    secret: str = "sandbox-secret",  # noqa: S107 - the sandbox default
) -> str:
    response = await client.post(
        "/sandbox-tenant/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": f"{BASE}/.default",
        },
    )
    assert response.status_code == 200, response.text
    access: str = response.json()["access_token"]
    return access


async def authorised(app: Any) -> httpx.AsyncClient:
    """An AsyncClient on ``BASE`` carrying a valid bearer token."""
    async with asgi_client(app, BASE) as first:
        access = await token(first)
    client = asgi_client(app, BASE)
    client.headers["Authorization"] = f"Bearer {access}"
    return client


def inner_message(response: httpx.Response) -> str:
    message: str = response.json()["error"]["innererror"]["message"]
    return message


class SyncASGITransport(httpx.BaseTransport):
    """A blocking transport onto an ASGI app, for sync clients such as MSAL's ``http_client``."""

    def __init__(self, app: Any) -> None:
        self._inner = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        import anyio

        copy = httpx.Request(
            request.method, request.url, headers=request.headers, content=request.read()
        )

        async def send() -> httpx.Response:
            response = await self._inner.handle_async_request(copy)
            body = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        return anyio.run(send)
