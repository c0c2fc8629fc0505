"""Shared test wiring: the anyio backend and an in-process HTTP transport for the sandboxes."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from paybridge_sandbox.faults import DroppedConnection

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class SandboxTransport(httpx.AsyncBaseTransport):
    """httpx's ASGI transport, plus what it cannot show: a response dropped after commit."""

    def __init__(self, app: object) -> None:
        self._inner = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except DroppedConnection as exc:
            raise httpx.ReadTimeout("sandbox dropped the response", request=request) from exc


def asgi_client(app: object, base_url: str = "http://sandbox.test") -> httpx.AsyncClient:
    """An AsyncClient that talks HTTP to an ASGI app in-process."""
    return httpx.AsyncClient(transport=SandboxTransport(app), base_url=base_url)


def conformance_dir(system: str) -> Path:
    """The shared conformance folder for ``system``; skip when absent, fail under CI=true."""
    folder = SHARED / "conformance" / system
    if not folder.is_dir():
        if IN_CI:
            pytest.fail(f"conformance folder {folder} is missing (required under CI=true)")
        pytest.skip(f"conformance folder {folder} not present")
    return folder
