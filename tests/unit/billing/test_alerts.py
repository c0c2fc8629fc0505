"""Alert events: one key per (charge, kind, attempt), card data redacted, logged by the stand-in channel."""

from __future__ import annotations

import logging

import pytest

from paybridge.billing.dunning import alert_envelope, log_alerts
from paybridge.keys import ALERT_TOPIC


def test_an_alert_is_keyed_per_charge_kind_and_attempt_and_redacted() -> None:
    env = alert_envelope(
        "declined", "sub:3:2026-01-31", 3, attempt=2, customer_id="C-1", d365="usmf/US-001",
        reason="card 4012000098765439 declined",
    )  # fmt: skip
    assert env.topic == ALERT_TOPIC and env.partition_key == "sub:3"
    assert env.key == "billing.alert:sub:3:2026-01-31:declined:2"
    assert "4012000098765439" not in env.payload_json()
    assert env.payload["kind"] == "declined" and env.payload["subscription_id"] == 3
    again = alert_envelope("declined", "sub:3:2026-01-31", 3, attempt=3)
    assert again.key != env.key


@pytest.mark.anyio
async def test_the_stand_in_channel_logs_each_alert(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="paybridge.billing.dunning")
    envs = [
        alert_envelope("on_hold", "sub:1:2026-01-31", 1, d365="usmf/US-001", reason="held"),
        alert_envelope("recovered", "sub:2:2026-02-28", 2, reason="paid"),
    ]
    outcomes = await log_alerts(envs)
    assert [o.status for o in outcomes] == ["done", "done"]
    assert "billing alert on_hold: subscription 1" in caplog.text
    assert "billing alert recovered: subscription 2" in caplog.text
