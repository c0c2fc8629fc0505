"""Issue 16/17: the dashboard tile "D365 request budget used vs the throttling limit per
company", and the same figures in /metrics, from the processes' heartbeats."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paybridge.app.api import build_api
from paybridge.keys import CUSTOMER_XREF
from tests.conftest import asgi_client
from tests.integration.console.test_console_http import PASSWORD, sign_in
from tests.integration.multico.world import open_profile, open_two_accounts, sell

pytestmark = pytest.mark.anyio


async def test_the_dashboard_and_metrics_show_d365_requests_per_company(tmp_path: Path) -> None:
    async with open_two_accounts(tmp_path) as world:
        engine = world.engine
        await open_profile(world.main, "SHOP-1")
        await open_profile(world.retail, "SHOP-1")
        engine.store.xref.link(CUSTOMER_XREF, "SHOP-1", "usmf/US-001")
        engine.store.xref.link(CUSTOMER_XREF, "retail/SHOP-1", "usrt/USRT-001")
        for amount in ("1.00", "2.00"):
            await sell(world.main, "SHOP-1", amount)
        await sell(world.retail, "SHOP-1", "3.00")
        await world.drain()
        usage = engine.dynamics.usage.in_window()
        assert usage.get("usmf", 0) > 0 and usage.get("usrt", 0) > 0, usage
        engine.heartbeat.beat()
        engine.security.users.add("vic", PASSWORD, "viewer")
        viewer = engine.security.api_keys.create("viewer").token
        async with asgi_client(build_api(engine)) as web:
            await sign_in(web, username="vic", password=PASSWORD)
            page = (await web.get("/")).text
            scraped = (
                await web.get("/metrics", headers={"Authorization": f"Bearer {viewer}"})
            ).text
        limit = engine.settings.dynamics.service_protection.requests
        for company in ("usmf", "usrt"):
            tile = re.search(
                rf'data-testid="tile-d365-company-{company}">\s*<span class="figure">'
                rf"([\d,]+) / ([\d,]+)</span>", page,
            )  # fmt: skip
            assert tile is not None, page[:3000]
            assert int(tile.group(1).replace(",", "")) == usage[company]
            assert int(tile.group(2).replace(",", "")) == limit
            window = re.search(
                rf'paybridge_d365_company_window_requests\{{company="{company}",process="[^"]+"\}} '
                r"([\d.]+)", scraped,
            )  # fmt: skip
            assert window is not None and float(window.group(1)) == usage[company], scraped[:2000]
            assert re.search(
                rf'paybridge_d365_company_requests_total\{{company="{company}",', scraped
            )
