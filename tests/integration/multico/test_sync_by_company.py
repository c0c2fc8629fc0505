"""Issue 17 item 6: with several merchant accounts, customer sync (over the main account's
profiles) never writes a customer of another company: that company's account holds its
customers' profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from paybridge.customers.settings import CustomerSyncSettings
from paybridge.keys import CUSTOMER_XREF
from tests.integration.multico.world import open_profile, open_two_accounts

pytestmark = pytest.mark.anyio


async def test_a_main_profile_linked_to_another_companys_customer_is_left_alone(
    tmp_path: Path,
) -> None:
    sync_settings = CustomerSyncSettings(enabled=True)
    async with open_two_accounts(tmp_path, sync=sync_settings) as world:
        engine = world.engine
        assert engine.sync is not None
        await open_profile(world.main, "SHOP-1")
        await open_profile(world.main, "SHOP-2")
        engine.store.xref.link(CUSTOMER_XREF, "SHOP-1", "usmf/US-001")
        engine.store.xref.link(CUSTOMER_XREF, "SHOP-2", "usrt/USRT-002")  # a bare, stray link
        before = await engine.dynamics.get(
            "CustomersV3", {"dataAreaId": "usrt", "CustomerAccount": "USRT-002"}
        )
        done = await engine.sync.profiles_to_d365()
        assert (done.updated, done.elsewhere) == (1, 1)
        after = await engine.dynamics.get(
            "CustomersV3", {"dataAreaId": "usrt", "CustomerAccount": "USRT-002"}
        )
        assert after == before
        us001 = await engine.dynamics.get(
            "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "US-001"}
        )
        assert us001 is not None and us001["MerchantID"] == "SHOP-1"
