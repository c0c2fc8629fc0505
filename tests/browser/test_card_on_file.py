"""Issue 20, item 4, in Chromium: a customer created first in D365 puts a card on file.

Both sandboxes and ``paybridge serve`` run as processes from a settings file. ``paybridge
customers card-link`` issues the link; Chromium opens it, the card is typed into PayTrace
Protect's hosted fields (the PayTrace sandbox's own page in an iframe: PayBridge's page never
holds the number) and saved. Then D365 holds the profile id and masked number, PayTrace the
profile, and the customer's next invoice is charged through ``POST /v1/charges``. Skips when
Playwright or Chromium is missing, except under CI=true, where it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.product import World, open_world, wait_for

pytestmark = pytest.mark.slow
CARD = "5454545454545454"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as opened:
        yield opened


def test_a_d365_first_customer_puts_a_card_on_file_and_is_charged(
    world: World, browser: Any
) -> None:
    sections: dict[str, Any] = {
        "paytrace": {"protect_js_url": f"{world.paytrace.url}/js/protect.min.js"},
        "cards": {"link_secret": "env:CARD_LINK_SECRET"},
    }
    world.write_settings(sections)
    engine = world.start_engine("serve")
    assert world.api_url is not None
    # The link names where customers reach serve: its port is known once it started.
    sections["cards"]["public_url"] = world.api_url
    world.write_settings(sections)
    issued = world.cli("customers", "card-link", "--account", "US-004", "--company", "usmf")
    url = issued.stdout.split()[0]
    assert url.startswith(f"{world.api_url}/card/"), issued.stdout

    page = browser.new_page()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.post_data or "") if r.method == "POST" else None)
    try:
        page.goto(url)
        assert "Cave Wholesales" in page.inner_text("main")
        fields = page.frame_locator("#pt_hpf_frame")
        fields.locator("#CC").fill(CARD)
        fields.locator("#EXP_MM").fill("12")
        fields.locator("#EXP_YY").fill("30")
        fields.locator("#CSC").fill("999")
        page.locator("#save").click()
        page.wait_for_function(
            "() => document.getElementById('status').className !== ''", timeout=15_000
        )
        said = page.inner_text("#status")
        assert "is on file" in said and "5454" in said, said
    finally:
        page.close()
    # The card went to PayTrace's fields only: PayBridge's page posted the token pair, no number.
    to_paybridge = [body for body in sent if "hpf_token" in body]
    assert to_paybridge and all(CARD not in body for body in to_paybridge)

    (customer,) = world.dynamics.query(
        "CustomersV3", "dataAreaId eq 'usmf' and CustomerAccount eq 'US-004'"
    )
    assert customer["MerchantID"] == "US-004"
    assert customer["SalesMemo"].startswith("PayTrace card") and customer["SalesMemo"].endswith(
        "5454"
    )
    profiles = world.paytrace.call("/v1/customer/export", {"customer_id": "US-004"})
    assert [p["customer_id"] for p in profiles["customers"]] == ["US-004"]

    operator = world.api_key("operator")
    body = {"company": "usmf", "invoice_number": "CIV-000104", "amount": "15.00"}
    with world.api(operator) as api:
        charged = api.post("/v1/charges", json=body, headers={"Idempotency-Key": "cof-1"})
    assert charged.status_code == 201, charged.text
    tid = charged.json()["transaction_id"]
    (line,) = wait_for(
        f"D365 holds the line of charge {tid}",
        lambda: world.dynamics.payment_lines(str(tid)),
        lambda rows: len(rows) == 1,
        timeout=30,
        watch=[engine],
    )
    assert line["MarkedInvoice"] == "CIV-000104"
