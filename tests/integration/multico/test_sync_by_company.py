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
            "CustomersV3", {"dataAreaId": "usrt", "CustomerAccount": "USRT-002"}, cross_company=True
        )
        assert before is not None
        done = await engine.sync.profiles_to_d365()
        assert (done.updated, done.elsewhere) == (1, 1)
        after = await engine.dynamics.get(
            "CustomersV3", {"dataAreaId": "usrt", "CustomerAccount": "USRT-002"}, cross_company=True
        )
        assert after == before and after.get("MerchantID") != "SHOP-2"
        us001 = await engine.dynamics.get(
            "CustomersV3", {"dataAreaId": "usmf", "CustomerAccount": "US-001"}
        )
        assert us001 is not None and us001["MerchantID"] == "SHOP-1"


async def test_each_accounts_profiles_are_synced_with_its_own_companys_customers(
    tmp_path: Path,
) -> None:
    from paybridge.o2c.settings import OrderToCashSettings
    from paybridge.runtime.scheduler import PeriodicJob
    from tests.integration.multico.world import sell

    sync_settings = CustomerSyncSettings(enabled=True)
    created = OrderToCashSettings(missing_customer="create")
    async with open_two_accounts(tmp_path, sync=sync_settings, o2c=created) as world:
        engine = world.engine
        await open_profile(world.retail, "NEW-7")  # a retail profile nobody linked yet
        await open_profile(world.main, "NEW-7")  # the main merchant's NEW-7: another person
        jobs = {j.name: j for j in engine.scheduler.jobs if j.name.startswith("customers.sync")}
        assert set(jobs) == {"customers.sync", "customers.sync.retail"}
        job = jobs["customers.sync.retail"]
        assert isinstance(job, PeriodicJob)
        said = await job.run()
        assert "to D365: 1 created" in said
        assert engine.store.xref.get(CUSTOMER_XREF, "retail/NEW-7") == "usrt/NEW-7"
        made = await engine.dynamics.get(
            "CustomersV3", {"dataAreaId": "usrt", "CustomerAccount": "NEW-7"}, cross_company=True
        )
        assert made is not None and made["MerchantID"] == "NEW-7"
        assert engine.store.xref.get(CUSTOMER_XREF, "NEW-7") is None  # main's NEW-7 untouched
        # A retail sale of a profile D365 does not know yet creates the customer in usrt.
        await open_profile(world.retail, "NEW-8")
        sale = await sell(world.retail, "NEW-8", "12.00")
        await world.drain()
        line = (await world.lines("usrt"))[f"PT-{sale}-sale"]
        assert line["AccountDisplayValue"].replace("\\", "") == "NEW-8"
        assert engine.store.xref.get(CUSTOMER_XREF, "retail/NEW-8") == "usrt/NEW-8"
        assert await world.lines("usmf") == {}
