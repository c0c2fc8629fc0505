"""Issue 17 item 6: each company is reconciled against its own merchant account (batches and
transactions of that account, journal lines of that company), even when the accounts' ids
overlap."""

from __future__ import annotations

from pathlib import Path

import pytest

from paybridge.keys import CUSTOMER_XREF
from paybridge.reconcile.matcher import MatchClass
from paybridge.reconcile.settings import CompanyReconcileSettings, ReconcileSettings
from tests.integration.multico.world import START, open_profile, open_two_accounts, sell

pytestmark = pytest.mark.anyio

SETTINGS = ReconcileSettings(
    companies={
        "usmf": CompanyReconcileSettings(bank_account="USMF OPER"),
        "usrt": CompanyReconcileSettings(bank_account="USRT OPER"),
    },
    require_posted=False,  # the day's journals stay open: their lines count
    settlement_journal=False,
)


async def test_each_company_is_matched_with_its_own_account(tmp_path: Path) -> None:
    async with open_two_accounts(tmp_path) as world:
        engine = world.engine
        await open_profile(world.main, "SHOP-1")
        await open_profile(world.retail, "SHOP-1")
        await open_profile(world.retail, "NOBODY")  # linked nowhere: its sale is not posted
        engine.store.xref.link(CUSTOMER_XREF, "SHOP-1", "usmf/US-001")
        engine.store.xref.link(CUSTOMER_XREF, "retail/SHOP-1", "usrt/USRT-001")
        main_ids = [await sell(world.main, "SHOP-1", a) for a in ("10.00", "20.00")]
        retail_ids = [await sell(world.retail, "SHOP-1", a) for a in ("7.00", "9.00")]
        unposted = await sell(world.retail, "NOBODY", "3.00")
        assert main_ids == retail_ids
        await world.drain()
        await world.main.settle()
        await world.retail.settle()
        await world.drain()

        day = START.date()  # 10 March, merchant-local morning
        reconciler = engine.reconciler(SETTINGS)
        usmf = await reconciler.run(day, "usmf")
        usrt = await reconciler.run(day, "usrt")

        assert (usmf.counts.get(MatchClass.MATCHED, 0), usmf.exit_code) == (2, 0)
        assert not usmf.exceptions
        assert usrt.counts.get(MatchClass.MATCHED, 0) == 2
        missing = [e for e in usrt.exceptions if e.match_class is MatchClass.MISSING_IN_D365]
        assert [e.transaction_id for e in missing] == [unposted]
        assert usrt.exit_code == 1
