"""Issue 17 item 6: a pay link of a usrt invoice shows PayTrace Protect's fields keyed by usrt's
merchant account, and the card typed there is charged by that account."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from paybridge.app.api import build_api
from paybridge.charging.settings import PayLinkSettings
from tests.conftest import asgi_client
from tests.integration.multico.world import RETAIL_PT, open_two_accounts

pytestmark = pytest.mark.anyio
BASE = "http://paybridge.test"


async def test_a_usrt_invoice_is_paid_by_link_through_usrts_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PB_PAY_LINK_SECRET", "a long random secret for pay links")
    paylinks = PayLinkSettings(link_secret=SecretStr("env:PB_PAY_LINK_SECRET"), public_url=BASE)
    async with open_two_accounts(tmp_path, paylinks=paylinks) as world:
        engine = world.engine
        invoice = await world.invoice("usrt", "USRT-003", "77.00")
        operator = engine.security.api_keys.create("operator", label="test").token
        main_keys = set(world.main_app.state.sandbox.state.client_keys)
        async with (
            asgi_client(build_api(engine), BASE) as api,
            asgi_client(world.retail_app, RETAIL_PT) as retail,
        ):
            issued = await api.post(
                "/v1/paylinks", json={"company": "usrt", "invoice": invoice},
                headers={"Authorization": f"Bearer {operator}"},
            )  # fmt: skip
            assert issued.status_code == 201, issued.text
            path = issued.json()["url"].removeprefix(BASE)
            page = await api.get(path)
            assert page.status_code == 200 and invoice in page.text
            retail_keys = world.retail_app.state.sandbox.state.client_keys
            assert retail_keys and any(key in page.text for key in retail_keys)
            assert set(world.main_app.state.sandbox.state.client_keys) == main_keys
            typed = await retail.post("/_sandbox/protect/tokenize", json={
                "credit_card": {"number": "5454545454545454", "expiration_month": 12,
                                "expiration_year": 2030},
                "csc": "999",
            })  # fmt: skip
            typed.raise_for_status()
            paid = await api.post(path, json={k: str(v) for k, v in typed.json().items()})
        assert paid.status_code == 201, paid.text
        answer = paid.json()
        assert answer["status"] == "approved"
        assert [str(t.transaction_id) for t in world.sold(world.retail_app, invoice)] == [
            answer["transaction_id"]
        ]
        assert world.sold(world.main_app, invoice) == []
        await world.drain()
        line = (await world.lines("usrt"))[f"PT-{answer['transaction_id']}-sale"]
        assert line["MarkedInvoice"] == invoice
