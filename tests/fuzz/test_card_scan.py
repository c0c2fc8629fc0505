"""The scan: card numbers planted in every text field the engine and the API accept must not be kept.

The engine runs in-process against both sandboxes; a storefront (outside PayBridge) plants card
numbers in customer names, addresses, e-mails, descriptions, invoice ids, reference ids and
discretionary data; some sales dead-letter. The secured API is sent the same numbers. Then the
SQLite files (database, WAL), every table, the captured logs and the dead-letter payloads are
searched for any 13-19 digit Luhn-valid sequence: there must be none.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, MetaData, select

from paybridge.app.engine import Engine as PayBridge
from paybridge.connectors.paytrace import (
    Address,
    CreditCard,
    CustomerCreateRequest,
    CustomerSaleRequest,
)
from paybridge.errors import PayBridgeError
from paybridge.security.cardguard import RedactingFilter, card_numbers_in_text
from paybridge.security.logredact import install_log_redaction
from paybridge.store import open_engine
from tests.conftest import asgi_client
from tests.integration.web.support import secured_app
from tests.sandboxes import open_sandboxes

START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
STORE_CARD = "4012000098765439"  # the storefront's card, held by PayTrace only
PLANTED = {
    "visa": "4111 1111 1111 1111",
    "mastercard": "5499-7400-0000-0057",
    "amex": "371449635392376",
    "discover": "6011000993026909",
    "jcb": "3566002020360505",
}
# A SHA-256 digest or other long hex word is not card data, even when a digit run in it passes Luhn.


card_numbers_in = card_numbers_in_text


async def run_engine(tmp_path: Path) -> AsyncIterator[PayBridge]:
    async with open_sandboxes(tmp_path, START) as box:
        yield box.engine


async def storefront(engine: PayBridge) -> None:
    """Profiles and sales with card numbers in every free-text field PayTrace takes."""
    pans = list(PLANTED.values())
    for n, (label, pan) in enumerate(PLANTED.items()):
        profile = f"SCAN-{n}"
        await engine.paytrace.create_customer(
            CustomerCreateRequest(
                customer_id=profile,
                credit_card=CreditCard(
                    number=SecretStr(STORE_CARD), expiration_month=12, expiration_year=2030
                ),
                billing_address=Address(
                    name=f"{label} {pan}", street_address=f"{pan} Main St", city=pan, zip="98101"
                ),
                email=f"{pan.replace(' ', '')}@example.com",
            )
        )
        if n % 2 == 0:  # the others have no D365 link and dead-letter
            engine.store.xref.link("paytrace_customer", profile, "usmf/US-001")
        # A refusal is fine: what matters is what PayBridge kept.
        with contextlib.suppress(PayBridgeError):
            await engine.paytrace.sale_by_customer(
                CustomerSaleRequest(
                    customer_id=profile, amount=Decimal(f"{10 + n}.00"),
                    invoice_id=f"INV {pans[(n + 1) % len(pans)]}",
                    description=f"order paid with {pans[(n + 2) % len(pans)]}",
                    customer_reference_id=pans[(n + 3) % len(pans)].replace(" ", "")[:17],
                    discretionary_data={"note": pans[(n + 4) % len(pans)]},
                )
            )  # fmt: skip


async def drain(engine: PayBridge) -> None:
    await engine.ingest.poll_once()
    for _ in range(50):
        if not await engine.worker.run_once():
            break


async def post_to_the_api(db_url: str) -> None:
    world = secured_app(db_url)
    async with asgi_client(world.app, "http://paybridge.test") as client:
        for pan in PLANTED.values():
            for role in ("viewer", "operator", "admin"):
                await client.post(
                    "/v1/admin/keys", headers=world.auth(role),
                    json={"role": "viewer", "label": f"card {pan}"},
                )  # fmt: skip
            await client.post("/v1/charges", json={"card": {"number": pan}, "csc": "123"})
            await client.get("/v1/admin/audit", params={"actor": pan}, headers=world.auth("admin"))


def table_text(engine: Engine) -> str:
    meta = MetaData()
    meta.reflect(engine)
    parts: list[str] = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                parts.extend(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
    return "\n".join(parts)


def scan(db_files: list[Path], tables: str, logs: str, dead: object) -> dict[str, list[str]]:
    return {
        "database files": [
            hit for f in db_files for hit in card_numbers_in(f.read_bytes().decode("latin-1"))
        ],
        "tables": card_numbers_in(tables),
        "logs": card_numbers_in(logs),
        "dead letters": card_numbers_in(repr(dead)),
    }


CLEAN: dict[str, list[str]] = {"database files": [], "tables": [], "logs": [], "dead letters": []}


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog
    # pytest keeps one capture handler for the whole session: leave it as it was.
    for handler in (caplog.handler, *logging.getLogger().handlers):
        for found in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(found)


def redact_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Every record from here on goes through the redaction PayBridge puts on its handlers."""
    install_log_redaction([caplog.handler], global_=False)
    assert any(isinstance(f, RedactingFilter) for f in caplog.handler.filters)


@pytest.mark.anyio
async def test_the_api_keeps_no_card_number(tmp_path: Path, logs: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'pb.db'}"
    redact_logs(logs)
    await post_to_the_api(url)
    engine = open_engine(url)
    tables = table_text(engine)
    assert "guard.card_data_refused" in tables
    assert "refused card data" in logs.text
    assert scan(sorted(tmp_path.glob("pb.db*")), tables, logs.text, []) == CLEAN


@pytest.mark.anyio
async def test_the_engine_keeps_no_card_number(
    tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    redact_logs(logs)
    async for engine in run_engine(tmp_path):
        await storefront(engine)
        await drain(engine)
        dead = engine.store.queue.dead_letters()
        tables = table_text(engine.store.engine)
        await engine.aclose()
    assert dead, "the scan needs dead letters to search"
    assert "SCAN-" in tables, "the scan needs the engine to have stored what it saw"
    files = sorted(tmp_path.glob("pb.db*"))
    assert files and files[0].stat().st_size > 0
    assert scan(files, tables, logs.text, dead) == CLEAN
