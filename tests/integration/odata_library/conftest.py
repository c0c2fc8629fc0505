"""The D365 sandbox on 127.0.0.1 for python-odata: a uvicorn thread, a bearer token, a reflected service.

python-odata speaks HTTP through ``requests`` (synchronous), so the sandbox runs under uvicorn in a
background thread rather than through the in-process ASGI transport.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests  # type: ignore[import-untyped,unused-ignore]
import uvicorn
from odata import ODataService  # type: ignore[import-untyped]
from odata.flags import ODataServerFlags  # type: ignore[import-untyped]

from paybridge_sandbox.dynamics import DynamicsSandboxSettings, create_app

PAGE_SIZE = 3  # small, so that every read of a few rows crosses several pages
TENANT, CLIENT_ID, CLIENT_SECRET = "sandbox-tenant", "sandbox-client", "sandbox-secret"


@dataclass
class Exchange:
    method: str
    url: str
    status: int
    next_link: str | None = None


@dataclass
class Rig:
    """The reflected service, the sandbox's base URL and every HTTP exchange the library made."""

    service: Any
    base_url: str
    exchanges: list[Exchange] = field(default_factory=list)

    def entity(self, entity_set: str) -> Any:
        return self.service.entities[entity_set]

    def enum(self, name: str) -> Any:
        return self.service.types[f"Microsoft.Dynamics.DataEntities.{name}"]

    def since(self, mark: int) -> list[Exchange]:
        return self.exchanges[mark:]


def _bound_socket() -> socket.socket:
    # IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted connections (no 40 ms stalls).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    """A fresh D365 sandbox (page size PAGE_SIZE) served on a free 127.0.0.1 port."""
    app = create_app(DynamicsSandboxSettings(page_size=PAGE_SIZE))
    sock = _bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the D365 sandbox did not start under uvicorn")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def bearer_token(base_url: str) -> str:
    """A client-credentials token from the sandbox's Entra-style endpoint."""
    reply = httpx.post(
        f"{base_url}/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": f"{base_url}/.default",
        },
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


@pytest.fixture(scope="module")
def module_rig(sandbox_url: str) -> Iterator[Rig]:
    session = requests.Session()
    # A session header, not extra_headers=: python-odata merges those into a class-wide dict.
    session.headers["Authorization"] = f"Bearer {bearer_token(sandbox_url)}"
    exchanges: list[Exchange] = []

    def record(response: Any, *args: Any, **kwargs: Any) -> None:
        link = None
        if "json" in response.headers.get("content-type", "") and response.content:
            link = response.json().get("@odata.nextLink")
        exchanges.append(
            Exchange(response.request.method, response.url, response.status_code, link)
        )

    session.hooks["response"].append(record)
    # The library would send null for every unset property, overwriting F&O's defaults and its
    # Nullable="false" fields; skipping them is the setting this library offers for such servers.
    service = ODataService(
        f"{sandbox_url}/data",
        reflect_entities=True,
        session=session,
        quiet_progress=True,
        server_flags=ODataServerFlags(skip_null_properties=True),
    )
    yield Rig(service, sandbox_url, exchanges)
    session.close()


@pytest.fixture
def rig(module_rig: Rig) -> Rig:
    module_rig.exchanges.clear()
    return module_rig
