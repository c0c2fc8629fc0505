"""Issue 17, item 3, in Chromium: a customer pays an open D365 invoice by link.

Both sandboxes and ``paybridge serve`` run as processes from a settings file. ``paybridge
paylink create`` issues the link; Chromium opens it, sees the invoice's open amount, types the
card into PayTrace Protect's hosted fields (the PayTrace sandbox's own page in an iframe:
PayBridge's page never holds the number) and pays. Then D365 holds the payment line settled
against the invoice (the cut-off posts the journal), PayTrace one sale, and the page says
"paid". Skips when Playwright or Chromium is missing, except under CI=true, where it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
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


def test_an_invoice_is_paid_by_link_and_settled_in_d365(world: World, browser: Any) -> None:
    sections: dict[str, Any] = {
        "paytrace": {"protect_js_url": f"{world.paytrace.url}/js/protect.min.js"},
        "paylinks": {"link_secret": "env:PAY_LINK_SECRET"},
        "o2c": {"post_journals": True, "post_at": "00:00", "post_interval_seconds": 1},
    }
    world.write_settings(sections)
    engine = world.start_engine("serve")
    assert world.api_url is not None
    sections["paylinks"]["public_url"] = world.api_url
    world.write_settings(sections)
    issued = world.cli("paylink", "create", "--invoice", "CIV-000104", "--company", "usmf")
    url = issued.stdout.split()[0]
    assert url.startswith(f"{world.api_url}/pay/"), issued.stdout

    page = browser.new_page()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.post_data or "") if r.method == "POST" else None)
    try:
        page.goto(url)
        assert "CIV-000104" in page.inner_text("main")
        assert page.inner_text("#amount") == "2,005.00 USD"
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
        assert "2,005.00 USD paid" in said and "5454" in said, said
        assert page.locator("#save").is_disabled()  # no second payment from this page
        page.reload()
        assert "This invoice is paid" in page.inner_text("main")
    finally:
        page.close()
    to_paybridge = [body for body in sent if "hpf_token" in body]
    assert len(to_paybridge) == 1 and CARD not in to_paybridge[0]

    sales = world.paytrace.approved_sales(lambda t: t.get("invoice_id") == "CIV-000104")
    assert len(sales) == 1, sales
    tid = str(sales[0]["transaction_id"])
    (line,) = wait_for(
        f"D365 holds the line of pay-by-link sale {tid}",
        lambda: world.dynamics.payment_lines(tid),
        lambda rows: len(rows) == 1,
        timeout=30,
        watch=[engine],
    )
    assert line["MarkedInvoice"] == "CIV-000104"
    wait_for(
        "D365 shows invoice CIV-000104 settled by the payment",
        lambda: world.dynamics.query(
            "CustTransactions", "dataAreaId eq 'usmf' and Invoice eq 'CIV-000104'"
        ),
        lambda rows: (
            len(rows) == 1 and Decimal(str(rows[0].get("SettleAmountCur") or 0)) == Decimal("2005")
        ),
        timeout=30,
        watch=[engine],
    )
