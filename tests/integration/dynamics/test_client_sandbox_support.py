"""Shared wiring for the client-against-sandbox tests: one sandbox, one DynamicsClient, fake time.

Holds no tests of its own; the ``test_client_sandbox_*`` modules import ``Rig`` and ``rig``.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.exceptions import StarletteDeprecationWarning

from paybridge.clock import ManualClock, sequential_ids
from paybridge.connectors.dynamics import DynamicsClient, MsalTokenProvider, RequestLimiter
from paybridge_sandbox.dynamics import (
    DynamicsSandboxApp,
    DynamicsSandboxSettings,
    SandboxClock,
    create_app,
)
from tests.conftest import asgi_client

BASE = "https://usmf.sandbox.operations.dynamics.com"
LOGIN = "https://login.microsoftonline.com"
START = datetime(2026, 7, 15, 9, 30, tzinfo=UTC)


@dataclass
class FakeTime:
    """The client's clock and sleep: sleeping moves the client's and the sandbox's clocks."""

    clock: ManualClock
    sandbox_clock: SandboxClock
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)
        self.sandbox_clock.advance(seconds)


@dataclass
class Rig:
    """A sandbox app, the client wired to it, and the knobs a test turns."""

    app: DynamicsSandboxApp
    client: DynamicsClient
    tokens: MsalTokenProvider
    http: httpx.AsyncClient
    time: FakeTime
    limiter: RequestLimiter | None

    @property
    def sandbox(self) -> Any:
        return self.app.state.sandbox


@contextmanager
def login_client(app: DynamicsSandboxApp) -> Iterator[httpx.Client]:
    """A sync client on the Entra host for MSAL (Starlette's TestClient is an httpx.Client)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from starlette.testclient import TestClient
    with TestClient(app, base_url=LOGIN) as login:
        yield login


@asynccontextmanager
async def rig(*, limiter: bool = False, retries: int = 3, **overrides: Any) -> AsyncIterator[Rig]:
    """A fresh sandbox (frozen at ``START``) and a client authenticated through MSAL."""
    sandbox_clock = SandboxClock(START)
    app = create_app(DynamicsSandboxSettings(rng_seed=7, **overrides), clock=sandbox_clock)
    time = FakeTime(ManualClock(START), sandbox_clock)
    bucket = RequestLimiter(5.0, 5, clock=time.clock, sleep=time.sleep) if limiter else None
    with login_client(app) as login:
        tokens = MsalTokenProvider.for_environment(
            "sandbox-tenant", "sandbox-client", "sandbox-secret", BASE, http_client=login
        )
        async with asgi_client(app, BASE) as http:
            client = DynamicsClient(
                http,
                base_url=BASE,
                token_provider=tokens,
                clock=time.clock,
                limiter=bucket,
                retries=retries,
                sleep=time.sleep,
                id_factory=sequential_ids("it-"),
            )
            yield Rig(app, client, tokens, http, time, bucket)
