"""Issue 17 item 6: a D365 document of company X is charged through X's merchant account (its
profiles, its client); the fact the charge publishes and the poller's sighting of it share one
qualified key, so the payment is posted once, in X."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from paybridge.charging.records import ChargeRequest
from paybridge.connectors.dynamics import unescape_display_value
from paybridge.errors import DataError
from paybridge.keys import CUSTOMER_XREF
from tests.integration.multico.world import open_profile, open_two_accounts

pytestmark = pytest.mark.anyio


async def test_an_invoice_of_each_company_is_charged_through_its_own_account(
    tmp_path: Path,
) -> None:
    async with open_two_accounts(tmp_path) as world:
        engine = world.engine
        await open_profile(world.main, "SHOP-1")
        await open_profile(world.retail, "SHOP-1")  # one profile id, two merchants
        engine.store.xref.link(CUSTOMER_XREF, "SHOP-1", "usmf/US-001")
        engine.store.xref.link(CUSTOMER_XREF, "retail/SHOP-1", "usrt/USRT-001")
        usrt_invoice = await world.invoice("usrt", "USRT-001", "42.00")
        usmf_invoice = await world.invoice("usmf", "US-001", "13.00")

        retail = await engine.charges.charge(
            ChargeRequest(company="usrt", invoice_number=usrt_invoice), "multico-usrt-1"
        )
        main = await engine.charges.charge(
            ChargeRequest(company="usmf", invoice_number=usmf_invoice), "multico-usmf-1"
        )
        assert (retail.status, main.status) == ("approved", "approved")
        assert retail.transaction_id == main.transaction_id  # the ids overlap: two merchants
        assert [t.amount for t in world.sold(world.retail_app, usrt_invoice)] == [Decimal("42.00")]
        assert world.sold(world.main_app, usrt_invoice) == []
        assert [t.amount for t in world.sold(world.main_app, usmf_invoice)] == [Decimal("13.00")]
        assert (
            retail.outcome["payment_event"]["key"]
            == f"paytrace:retail/{retail.transaction_id}:sale"
        )

        await world.drain()  # the poller sees both sales again: the inbox drops them by key
        await world.drain()
        usrt, usmf = await world.lines("usrt"), await world.lines("usmf")
        line = usrt[f"PT-{retail.transaction_id}-sale"]
        assert (unescape_display_value(line["AccountDisplayValue"]), line["CreditAmount"]) == (
            "USRT-001", Decimal("42"),
        )  # fmt: skip
        assert line["MarkedInvoice"] == usrt_invoice
        assert list(usrt) == [f"PT-{retail.transaction_id}-sale"]
        assert list(usmf) == [f"PT-{main.transaction_id}-sale"]
        assert usmf[f"PT-{main.transaction_id}-sale"]["MarkedInvoice"] == usmf_invoice


async def test_a_customer_whose_profile_is_another_accounts_is_not_charged(
    tmp_path: Path,
) -> None:
    """A usmf customer linked only to a profile of usrt's merchant account: usmf's account
    holds no profile of it, so nothing is charged, in either account."""
    async with open_two_accounts(tmp_path) as world:
        engine = world.engine
        await open_profile(world.main, "SHOP-2")
        await open_profile(world.retail, "SHOP-2")
        engine.store.xref.link(CUSTOMER_XREF, "retail/SHOP-2", "usmf/US-002")
        invoice = await world.invoice("usmf", "US-002", "9.00")
        with pytest.raises(DataError) as refused:
            await engine.charges.charge(
                ChargeRequest(company="usmf", invoice_number=invoice), "multico-none-1"
            )
        assert "customer usmf/US-002 has no PayTrace profile" in str(refused.value)
        assert world.sold(world.main_app, invoice) == world.sold(world.retail_app, invoice) == []
