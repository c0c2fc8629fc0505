"""Each channel against a real local receiver: SMTP sink, Slack/Teams-style webhooks, a signed webhook."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from paybridge.clock import ManualClock
from paybridge.config import resolve_secret
from paybridge.errors import PayBridgeError
from paybridge.ops.alert import Alert
from paybridge.ops.channels import build_senders, webhook_id
from paybridge.ops.counters import ERRORS, MeteredClient, ProcessCounters
from paybridge.ops.settings import AlertingSettings
from paybridge.security.webhooks import check_signature
from tests.receivers import smtp_sink, standard_webhook_valid, webhook_receiver

SECRET = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="
CARD = "4012000098765439"


def alert() -> Alert:
    return Alert(
        rule="dead-letters", subject="payment", severity="warning", status="firing",
        summary=f"1 new dead letters on topic payment (card {CARD} in a description)",
        at=datetime.now(UTC), facts={"see": "paybridge dlq list"}, installation="Contoso PayBridge",
    )  # fmt: skip


@pytest.mark.anyio
async def test_every_channel_delivers_to_its_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_sink() as sink, webhook_receiver() as hooks:
        monkeypatch.setenv("SLACK_URL", f"{hooks.url}/slack")
        monkeypatch.setenv("TEAMS_URL", f"{hooks.url}/teams")
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        settings = AlertingSettings.model_validate({"channels": {
            "mail": {"type": "email", "host": sink.host, "port": sink.port, "security": "none",
                     "sender": "paybridge@contoso.test", "to": ["ops@contoso.test", "cfo@contoso.test"]},
            "slack": {"type": "slack", "url": "env:SLACK_URL"},
            "teams": {"type": "teams", "url": "env:TEAMS_URL"},
            "hook": {"type": "webhook", "url": f"{hooks.url}/hook", "secret": "env:HOOK_SECRET"},
        }})  # fmt: skip
        counters = ProcessCounters()
        async with MeteredClient(system="alerts", counters=counters) as http:
            senders = build_senders(
                settings.channels, http=http, resolve=lambda ref, name: resolve_secret(ref, name),
                clock=ManualClock(datetime.now(UTC)),
            )  # fmt: skip
            for sender in senders.values():
                await sender.send(alert(), "alert.deliver:x:1")
            await senders["hook"].send(alert(), "alert.deliver:x:1")  # a retry of one delivery

    (mail,) = sink.mails
    assert mail.recipients == ["ops@contoso.test", "cfo@contoso.test"]
    assert mail.subject == "[Contoso PayBridge] FIRING warning dead-letters: payment"
    assert "1 new dead letters on topic payment" in mail.body and CARD not in mail.body
    by_path = {}
    for d in hooks.deliveries:
        by_path.setdefault(d.path, []).append(d)
    assert by_path["/slack"][0].json()["text"].startswith("[Contoso PayBridge] FIRING")
    card = by_path["/teams"][0].json()["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["body"][0]["text"].startswith("[Contoso PayBridge] FIRING")
    first, retry = by_path["/hook"]
    assert standard_webhook_valid(first, SECRET) and standard_webhook_valid(retry, SECRET)
    check_signature(
        first.headers, first.body, [SECRET], datetime.now(UTC)
    )  # PayBridge's own check agrees
    assert (
        first.headers["webhook-id"]
        == retry.headers["webhook-id"]
        == webhook_id("alert.deliver:x:1")
    )
    event = first.json()
    assert event["type"] == "alert.firing" and event["data"]["subject"] == "payment"
    assert all(CARD not in d.body.decode() for d in hooks.deliveries)


@pytest.mark.anyio
async def test_a_refusing_or_absent_receiver_is_a_retryable_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_URL", "http://127.0.0.1:9/nothing-listens")
    with webhook_receiver() as hooks:
        hooks.status = 503
        settings = AlertingSettings.model_validate({"channels": {
            "down": {"type": "webhook", "url": f"{hooks.url}/hook", "secret": "whsec_c2VjcmV0"},
            "gone": {"type": "slack", "url": "env:SLACK_URL"},
            "mail": {"type": "email", "host": "127.0.0.1", "port": 9, "security": "none",
                     "sender": "a@x.test", "to": ["b@x.test"], "timeout_seconds": 2},
        }})  # fmt: skip
        counters = ProcessCounters()
        async with MeteredClient(system="alerts", counters=counters) as http:
            senders = build_senders(
                settings.channels, http=http, resolve=lambda ref, name: resolve_secret(ref, name),
                clock=ManualClock(datetime.now(UTC)),
            )  # fmt: skip
            problems = {}
            for name, sender in senders.items():
                with pytest.raises(PayBridgeError) as caught:
                    await sender.send(alert(), "d-1")
                problems[name] = (caught.value.reaction, caught.value.message)
    assert problems == {
        "down": ("retry", "webhook channel down: HTTP 503"),
        "gone": ("retry", "slack channel gone: ConnectError"),
        "mail": ("retry", "e-mail channel mail: ConnectionRefusedError"),
    }
    assert counters.get(ERRORS, system="alerts", kind="server") == 1
    assert counters.get(ERRORS, system="alerts", kind="connect") == 1
