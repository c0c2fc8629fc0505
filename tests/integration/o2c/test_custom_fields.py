"""A custom field added to the templates as the README says reaches D365 through the running engine.

PayTrace discretionary data -> the shipped ``paytrace_export_to_transaction`` (every entry, as
text) -> the canonical Transaction -> ``payment_to_customer_payment_line`` v2, the one template in
``mapping.templates_dir`` -> the D365 payment line.

The D365 sandbox serves the standard entity fields only and refuses any other property (as F&O
does before an extension is deployed), so a real extension field (``xyzRegion``) is proven up to
the body PayBridge sends, and refused there; ``PaymentNotes``, a standard field PayBridge does not
map, stands in for it to prove the value lands in D365. The PayTrace sandbox echoes a sale's
``discretionary_data`` in its export records, as PayTrace does.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from paybridge.app.engine import Engine
from paybridge.app.settings import MappingSettings
from paybridge.clock import ManualClock
from paybridge.connectors.dynamics import F, Query
from paybridge.connectors.paytrace import CustomerSaleRequest
from paybridge.keys import LINE_STEP
from paybridge.mapping import SHIPPED_DIR
from paybridge.store.schema import queue
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.conftest import SandboxTransport
from tests.integration.o2c.conftest import LINES, START
from tests.sandboxes import D365, PT, open_profile, sandbox_engine, sandbox_settings

pytestmark = pytest.mark.anyio


class Recorder(SandboxTransport):
    """D365 sandbox, keeping every request body PayBridge sends."""

    def __init__(self, app: object) -> None:
        super().__init__(app)
        self.bodies: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append((await request.aread()).decode(errors="replace"))
        return await super().handle_async_request(request)


def template_folder(tmp_path: Path, payment_fields: str) -> Path:
    """A folder holding the one copy a user makes: the payment line template as version 2."""
    folder = tmp_path / "templates"
    folder.mkdir()
    payment = (SHIPPED_DIR / "payment_to_customer_payment_line.yaml").read_text(encoding="utf-8")
    (folder / "payment_to_customer_payment_line_v2.yaml").write_text(
        payment.replace("version: 1", "version: 2") + payment_fields, encoding="utf-8"
    )
    return folder


class World:
    def __init__(self, engine: Engine, paytrace: SandboxTransport, d365: Recorder) -> None:
        self.engine, self.paytrace, self.d365 = engine, paytrace, d365

    async def sale(self, region: str) -> str:
        await open_profile(self.engine, "SHOP-R", "US-001")
        reply = await self.engine.paytrace.sale_by_customer(
            CustomerSaleRequest(
                customer_id="SHOP-R", amount=Decimal("42.50"), discretionary_data={"Region": region}
            )
        )
        await self.engine.ingest.poll_once()
        while await self.engine.worker.run_once():
            pass
        return str(reply.transaction_id)

    async def line(self, tid: str) -> dict[str, Any] | None:
        rows = await self.engine.dynamics.query(
            LINES, Query(filter=F("PaymentId") == f"PT-{tid}-sale")
        )
        return rows[0] if rows else None


async def open_world(tmp_path: Path, payment_fields: str) -> AsyncIterator[World]:
    pt_app, d365_app = paytrace_app(clock=SandboxClock(START)), dynamics_app()
    paytrace, d365 = SandboxTransport(pt_app), Recorder(d365_app)
    settings = sandbox_settings(
        tmp_path, mapping=MappingSettings(templates_dir=template_folder(tmp_path, payment_fields))
    )
    async with (
        httpx.AsyncClient(transport=paytrace, base_url=PT) as pt_http,
        httpx.AsyncClient(transport=d365, base_url=D365) as d_http,
    ):
        engine = sandbox_engine(
            settings, clock=ManualClock(START), pt_http=pt_http, d_http=d_http, d365_app=d365_app
        )
        yield World(engine, paytrace, d365)


@pytest.fixture
async def lands(tmp_path: Path) -> AsyncIterator[World]:
    async for world in open_world(
        tmp_path, "  PaymentNotes: concat('Region ', discretionary_data.Region)\n"
    ):
        yield world


@pytest.fixture
async def extension(tmp_path: Path) -> AsyncIterator[World]:
    async for world in open_world(tmp_path, "  xyzRegion: discretionary_data.Region\n"):
        yield world


async def test_discretionary_data_reaches_the_d365_payment_line(lands: World) -> None:
    tid = await lands.sale("West")
    fact = lands.engine.store.queue.payload(f"paytrace:{tid}:sale")
    assert fact is not None and fact["discretionary_data"] == {"Region": "West"}
    line = await lands.line(tid)
    assert line is not None
    assert line["PaymentNotes"] == "Region West"
    assert line["CreditAmount"] == Decimal("42.50") and line["PaymentReference"] == tid
    (entry,) = [
        e for e in lands.engine.store.ledger.entries(f"paytrace:{tid}:") if e.step == LINE_STEP
    ]
    assert entry.template_version == "payment_to_customer_payment_line@2"


async def test_an_extension_field_is_sent_and_the_sandbox_refuses_it(extension: World) -> None:
    tid = await extension.sale("West")
    sent = [b for b in extension.d365.bodies if f'"PaymentId":"PT-{tid}-sale"' in b]
    assert sent, "the payment line was sent to D365 (after the look-up found none)"
    assert re.search(r'"xyzRegion":\s*"West"', sent[0])
    assert await extension.line(tid) is None
    # D365 answers the changeset with the refusal; the engine keeps the payment to try again.
    with extension.engine.store.engine.connect() as conn:
        (error,) = conn.execute(
            select(queue.c.last_error).where(queue.c.key == f"paytrace:{tid}:sale")
        ).one()
    assert "The property 'xyzRegion' does not exist on type" in error


@pytest.fixture
async def references(tmp_path: Path) -> AsyncIterator[World]:
    fields = "  PaymentNotes: join_nonempty(' / ', paytrace_invoice_id, customer_reference_id)\n"
    async for world in open_world(tmp_path, fields):
        yield world


async def test_the_shops_invoice_id_and_customer_reference_reach_the_line(
    references: World,
) -> None:
    """The sale's invoice_id names no D365 invoice (the shop's order number): the line marks
    nothing, yet the template still reads the shop's number and the Level 2 reference."""
    await open_profile(references.engine, "SHOP-R", "US-001")
    reply = await references.engine.paytrace.sale_by_customer(
        CustomerSaleRequest(
            customer_id="SHOP-R", amount=Decimal("19.00"), invoice_id="WEB-5521",
            customer_reference_id="PO-9",
        )
    )  # fmt: skip
    await references.engine.ingest.poll_once()
    while await references.engine.worker.run_once():
        pass
    line = await references.line(str(reply.transaction_id))
    assert line is not None
    assert line["PaymentNotes"] == "WEB-5521 / PO-9"
    assert line["MarkedInvoice"] == ""
