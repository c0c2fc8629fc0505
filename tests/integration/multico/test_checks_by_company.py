"""Issue 17 item 6: each merchant account's check (ACH) export is polled by its own job, and its
checks are posted in its own company, even when both accounts number checks alike."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr

from paybridge.connectors.paytrace import (
    Address,
    CheckAccount,
    CheckSaleByCustomerRequest,
    CustomerCreateRequest,
    PayTraceClient,
)
from paybridge.keys import CUSTOMER_XREF
from paybridge.o2c.settings import CheckSettings
from paybridge.runtime.scheduler import PeriodicJob
from tests.integration.multico.world import open_two_accounts

pytestmark = pytest.mark.anyio


async def _check_sale(client: PayTraceClient, profile: str, amount: str) -> int:
    await client.create_customer(
        CustomerCreateRequest(
            customer_id=profile,
            check=CheckAccount(
                account_number=SecretStr("000123456789"), routing_number="325070760"
            ),
            billing_address=Address(name="ACH Payer", street_address="1 Main St", zip="98101"),
        )
    )
    reply = await client.check_sale_by_customer(
        CheckSaleByCustomerRequest(customer_id=profile, amount=Decimal(amount))
    )
    assert reply.check_transaction_id is not None
    return reply.check_transaction_id


async def test_each_accounts_checks_are_posted_in_its_company(tmp_path: Path) -> None:
    checks = CheckSettings(enabled=True, payment_method="ELECTRONIC")
    async with open_two_accounts(tmp_path, checks=checks) as world:
        engine = world.engine
        main = await _check_sale(world.main, "ACH-1", "40.00")
        retail = await _check_sale(world.retail, "ACH-1", "60.00")
        assert main == retail  # both merchants number checks alike
        engine.store.xref.link(CUSTOMER_XREF, "ACH-1", "usmf/US-002")
        engine.store.xref.link(CUSTOMER_XREF, "retail/ACH-1", "usrt/USRT-002")
        jobs = {
            j.name: j for j in engine.scheduler.jobs if j.name.startswith("paytrace.poll_checks")
        }
        assert set(jobs) == {"paytrace.poll_checks", "paytrace.poll_checks.retail"}
        for _ in range(2):
            for job in jobs.values():
                assert isinstance(job, PeriodicJob)
                await job.run()
            while await engine.worker.run_once():
                pass
        usmf, usrt = await world.lines("usmf"), await world.lines("usrt")
        assert {k: v["CreditAmount"] for k, v in usmf.items()} == {
            f"PT-ACH{main}-sale": Decimal("40")
        }
        assert {k: v["CreditAmount"] for k, v in usrt.items()} == {
            f"PT-ACH{retail}-sale": Decimal("60")
        }
        assert usrt[f"PT-ACH{retail}-sale"]["AccountDisplayValue"].replace("\\", "") == "USRT-002"
