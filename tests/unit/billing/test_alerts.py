"""Alert events: one key per (charge, kind, attempt), card data redacted, read as an alert notice."""

from __future__ import annotations

from paybridge.billing.dunning import alert_envelope, describe_alert
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


def test_a_billing_alert_reads_as_a_notice_per_step() -> None:
    held = describe_alert(
        alert_envelope("on_hold", "sub:1:2026-01-31", 1, d365="usmf/US-001", reason="held").payload
    )
    again = describe_alert(alert_envelope("declined", "sub:1:2026-01-31", 1, attempt=2).payload)
    assert held.kind == "on_hold" and held.severity == "warning"
    assert held.summary.startswith("billing alert on_hold: subscription 1")
    assert held.facts["d365"] == "usmf/US-001" and "kind" not in held.facts
    assert again.severity == "info" and again.subject != held.subject  # one subject per step
