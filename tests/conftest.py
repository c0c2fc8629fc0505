"""Shared test wiring: the anyio backend and an in-process HTTP transport for the sandboxes."""

from __future__ import annotations

import os
from collections.abc import Iterator
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
        pytest.skip(f"conformance folder {folder} not present", allow_module_level=True)
    return folder


POSTGRES_URL = os.environ.get(
    "PAYBRIDGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_schema_url() -> tuple[str, str]:
    """A fresh schema in the local PostgreSQL ``test`` database and its URL; skip (or fail under CI) without it."""
    import uuid

    from sqlalchemy import create_engine, text

    try:
        admin = create_engine(POSTGRES_URL)
        schema = f"pb_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required under CI=true: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    return schema, f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


def drop_postgres_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The store on each supported database: the same code, the same tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    # The audit chain's key and anchor beside the test, not in var/ (their default off SQLite).
    monkeypatch.setenv("PAYBRIDGE_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    monkeypatch.setenv("PAYBRIDGE_AUDIT_ANCHOR_FILE", str(tmp_path / "audit-head"))
    schema, url = postgres_schema_url()
    yield url
    drop_postgres_schema(schema)
