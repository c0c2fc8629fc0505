"""Insight's HTTP routes on the engine's API, in-process: the review list and mapping
suggestions against the D365 sandbox's $metadata; bad input named in a 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

pytest.importorskip("sklearn", reason="needs the insight extra")

from paybridge.app.api import build_api
from paybridge.app.insight_settings import InsightSettings
from paybridge.clock import ManualClock
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.sandboxes import sandbox_engine, sandbox_http, sandbox_settings

START = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
SAMPLE = {
    "transaction_id": "125391271",
    "kind": "sale",
    "amount": {"amount": "19.99", "currency": "USD"},
    "occurred_at": "2026-03-10T17:04:11Z",
    "customer_id": "CUST-0042",
    "invoice_id": "INV-1001",
    "masked_card": "************5454",
}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    clock = ManualClock(START)
    pt, d365 = paytrace_app(clock=SandboxClock(START)), dynamics_app()
    settings = sandbox_settings(tmp_path, insight=InsightSettings(enabled=True))
    async with sandbox_http(pt, d365) as (pt_http, d_http):
        engine = sandbox_engine(
            settings, clock=clock, pt_http=pt_http, d_http=d_http, d365_app=d365
        )
        token = engine.security.api_keys.create("operator").token
        transport = httpx.ASGITransport(app=build_api(engine))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://pb.test",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            yield client


@pytest.mark.anyio
async def test_suggestions_for_the_payment_line_template(api: httpx.AsyncClient) -> None:
    fields = ["CurrencyCode", "TransactionDate", "MarkedInvoice"]
    reply = await api.post(
        "/v1/mapping/suggest",
        json={"template": "payment_to_customer_payment_line", "sample": SAMPLE, "fields": fields},
    )
    assert reply.status_code == 200, reply.text
    found = reply.json()["suggestions"]
    assert set(found) == set(fields)
    assert found["CurrencyCode"][0]["source"] == "amount.currency"
    assert found["TransactionDate"][0]["source"] == "occurred_at"
    assert "invoice_id" in [s["source"] for s in found["MarkedInvoice"]]
    assert all(0 <= s["confidence"] <= 1 for items in found.values() for s in items)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"template": "no_such_template", "sample": SAMPLE}, "template"),
        ({"template": "paytrace_export_to_transaction", "sample": SAMPLE}, "template"),
        (
            {"template": "payment_to_customer_payment_line", "sample": SAMPLE, "fields": ["Nope"]},
            "field",
        ),
        ({"template": "payment_to_customer_payment_line", "sample": {}}, "sample"),
    ],
)
async def test_bad_suggest_input_is_a_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, object], named: str
) -> None:
    reply = await api.post("/v1/mapping/suggest", json=body)
    assert reply.status_code == 422, reply.text
    assert named in reply.text


@pytest.mark.anyio
async def test_reviews_refuse_an_unknown_key_and_a_hostile_one(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/insight/reviews")).json() == []
    unknown = await api.post("/v1/insight/reviews/paytrace:999:sale/confirm", json={"void": True})
    assert unknown.status_code == 422 and "no scored transaction" in unknown.text
    hostile = await api.post("/v1/insight/reviews/'; drop table x/release", json={})
    assert hostile.status_code in (404, 422)
    bad_state = await api.get("/v1/insight/reviews", params={"state": "everything"})
    assert bad_state.status_code == 422
