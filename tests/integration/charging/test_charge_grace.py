"""Issue 13, scenario 11: a charge's in-doubt grace runs from when it could leave, after the login."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from paybridge.connectors.paytrace.session import TokenCache
from tests.integration.charging.conftest import ChargeWorld, open_profile

pytestmark = pytest.mark.anyio


async def test_the_send_time_is_taken_after_a_slow_login(world: ChargeWorld) -> None:
    await open_profile(world.engine, "SHOP-3", "US-003")
    session = world.engine.paytrace._session
    session._tokens = TokenCache(world.clock, timedelta(minutes=5))  # the token has run out
    login = session._login
    slow = timedelta(minutes=20)  # longer than any grace: a look-up must not count it

    async def slow_login() -> Any:
        world.clock.advance(slow.total_seconds())
        return await login()

    session._login = slow_login  # type: ignore[method-assign]
    began = world.clock.now()
    reply = await world.api.post(
        "/v1/charges",
        json={"company": "usmf", "invoice_number": "CIV-000103"},
        headers=world.headers(key="slow-login"),
    )
    assert reply.status_code == 201, reply.text
    record = world.service.records.get("slow-login")
    assert record is not None and record.sent_at is not None
    assert record.sent_at - began >= slow
