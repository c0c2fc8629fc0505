"""A store restored from a backup (or new) must not charge again what it charged since."""

from __future__ import annotations

from pathlib import Path

import pytest

from paybridge.app.engine import Engine
from paybridge.charging.records import ChargeRequest
from paybridge.charging.settings import ChargingSettings
from paybridge.clock import ManualClock
from paybridge_sandbox.dynamics import create_app as dynamics_app
from paybridge_sandbox.paytrace import SandboxClock
from paybridge_sandbox.paytrace import create_app as paytrace_app
from tests.integration.charging.conftest import START, open_profile
from tests.sandboxes import sandbox_engine, sandbox_http, sandbox_settings

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("lookback", [7, 0])
async def test_a_key_charged_before_the_restore_is_found_not_charged_again(
    tmp_path: Path, lookback: int
) -> None:
    clock = ManualClock(START)
    pt, d365 = paytrace_app(clock=SandboxClock(START)), dynamics_app()
    charging = ChargingSettings(first_send_lookback_days=lookback)
    request = ChargeRequest(company="usmf", invoice_number="CIV-000102")
    async with sandbox_http(pt, d365) as (pt_http, d_http):

        def engine(db: str) -> Engine:
            settings = sandbox_settings(tmp_path, db=db, charging=charging)
            return sandbox_engine(settings, clock=clock, pt_http=pt_http, d_http=d_http,
                                  d365_app=d365)  # fmt: skip

        before = engine("before.db")  # the backup: taken before the charge
        restored = engine("restored.db")
        await open_profile(before, "SHOP-2", "US-002")
        restored.store.xref.link("paytrace_customer", "SHOP-2", "usmf/US-002")  # as in the backup
        first = await before.charges.charge(request, "order-77")
        assert first.status == "approved"
        clock.advance(60)
        # The store is put back from the backup; the client retries its call with its key.
        again = await restored.charges.charge(request, "order-77")
        sales = [t for t in pt.state.sandbox.state.transactions.values()
                 if t.invoice_id == "CIV-000102"]  # fmt: skip
        if lookback:
            assert len(sales) == 1
            assert again.status == "approved" and again.transaction_id == first.transaction_id
        else:  # the look-up turned off: what the setting is there to prevent
            assert len(sales) == 2
