"""Issue 17 item 6: a card-on-file link of a usrt customer puts the card in usrt's merchant
account (Protect's key from it, the profile created there, linked as ``retail/<profile>``), and
that card is then charged through usrt's account."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from paybridge.app.api import build_api
from paybridge.charging.records import ChargeRequest
from paybridge.customers.settings import CardRequestSettings
from paybridge.keys import CUSTOMER_XREF
from tests.conftest import asgi_client
from tests.integration.multico.world import RETAIL_PT, open_two_accounts

pytestmark = pytest.mark.anyio
BASE = "http://paybridge.test"


async def test_a_usrt_customers_card_goes_on_file_in_usrts_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PB_CARD_LINK_SECRET", "a long random secret for card links")
    cards = CardRequestSettings(link_secret=SecretStr("env:PB_CARD_LINK_SECRET"), public_url=BASE)
    async with open_two_accounts(tmp_path, cards=cards) as world:
        engine = world.engine
        operator = engine.security.api_keys.create("operator", label="test").token
        async with (
            asgi_client(build_api(engine), BASE) as api,
            asgi_client(world.retail_app, RETAIL_PT) as retail,
        ):
            issued = await api.post(
                "/v1/card-requests", json={"company": "usrt", "account": "USRT-003"},
                headers={"Authorization": f"Bearer {operator}"},
            )  # fmt: skip
            assert issued.status_code == 201, issued.text
            path = issued.json()["url"].removeprefix(BASE)
            page = await api.get(path)
            assert page.status_code == 200
            keys = world.retail_app.state.sandbox.state.client_keys
            assert keys and any(key in page.text for key in keys)
            assert not world.main_app.state.sandbox.state.client_keys
            typed = await retail.post("/_sandbox/protect/tokenize", json={
                "credit_card": {"number": "5454545454545454", "expiration_month": 12,
                                "expiration_year": 2030},
                "csc": "999",
            })  # fmt: skip
            typed.raise_for_status()
            attached = await api.post(path, json={k: str(v) for k, v in typed.json().items()})
        assert attached.status_code == 201, attached.text
        assert attached.json()["profile_id"] == "USRT-003"
        assert "USRT-003" in world.retail_app.state.sandbox.state.customers
        assert "USRT-003" not in world.main_app.state.sandbox.state.customers
        assert engine.store.xref.get(CUSTOMER_XREF, "retail/USRT-003") == "usrt/USRT-003"

        invoice = await world.invoice("usrt", "USRT-003", "18.00")
        charged = await engine.charges.charge(
            ChargeRequest(company="usrt", invoice_number=invoice), "multico-card-1"
        )
        assert charged.status == "approved"
        assert [t.customer_id for t in world.sold(world.retail_app, invoice)] == ["USRT-003"]
