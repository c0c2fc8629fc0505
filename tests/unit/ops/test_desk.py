"""The alerting desk: a condition fires once, repeats after its window, resolves; events are
de-duplicated; a channel's rate limit holds back and then names what it held; delivery retries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from paybridge.app.store import Store, open_store
from paybridge.clock import ManualClock
from paybridge.errors import PayBridgeError
from paybridge.keys import ALERT_DELIVERY_TOPIC, ALERTS_TOPIC
from paybridge.ops.alert import Alert
from paybridge.ops.channels import ChannelError
from paybridge.ops.desk import AlertDesk
from paybridge.ops.figures import StoreFigures
from paybridge.ops.settings import AlertingSettings, AlertRule
from paybridge.runtime.alerts import alert_envelope
from paybridge.runtime.envelope import Envelope

CHANNELS: dict[str, Any] = {
    "mail": {"type": "email", "host": "127.0.0.1", "sender": "pb@x.test", "to": ["ops@x.test"]},
    "hook": {"type": "webhook", "url": "http://127.0.0.1:1/hook", "secret": "env:HOOK_SECRET"},
}


@dataclass
class Recorder:
    """A channel that keeps what it is sent; ``fail`` makes it refuse (a channel that is down)."""

    name: str
    sent: list[tuple[Alert, str]] = field(default_factory=list)
    fail: bool = False

    async def send(self, alert: Alert, delivery_id: str) -> None:
        if self.fail:
            raise ChannelError(f"channel {self.name}: HTTP 503", system="alerts", status=503)
        self.sent.append((alert, delivery_id))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(store_url: str, clock: ManualClock) -> Store:
    return open_store(store_url, clock)


def desk_of(
    store: Store, clock: ManualClock, **alerting: Any
) -> tuple[AlertDesk, dict[str, Recorder]]:
    settings = AlertingSettings.model_validate({"channels": CHANNELS, **alerting})
    senders = {name: Recorder(name) for name in CHANNELS}
    desk = AlertDesk(
        store.engine, store.queue, StoreFigures(store.engine), settings, senders, clock
    )
    return desk, senders


def dead_letter(store: Store, key: str, topic: str = "payment") -> int:
    store.queue.enqueue([Envelope(topic=topic, key=key, partition_key=key, payload={})])
    (env,) = [e for e in store.queue.claim("w", 100) if e.key == key]
    assert store.queue.dead(env, f"{key} cannot be mapped") and env.id is not None
    return env.id


def deliveries(store: Store) -> list[Envelope]:
    """Claim what the desk queued for the channels and take it off the queue."""
    claimed = store.queue.claim("w", 100)
    store.queue.ack(claimed)
    return [e for e in claimed if e.topic == ALERT_DELIVERY_TOPIC]


DEAD = [{"name": "dead", "when": "dead_letters", "window_seconds": 600, "repeat_seconds": 3600}]


@pytest.mark.anyio
async def test_a_dead_letter_fires_once_repeats_after_its_window_and_resolves(
    store: Store, clock: ManualClock
) -> None:
    desk, senders = desk_of(store, clock, rules=DEAD)
    dead_letter(store, "paytrace:1:sale")
    await desk.evaluate()
    sent = deliveries(store)
    assert sorted(e.payload["channel"] for e in sent) == ["hook", "mail"]
    outcomes = await desk.deliver(sent)
    assert [o.status for o in outcomes] == ["done", "done"]
    ((alert, _),) = senders["mail"].sent
    assert (alert.rule, alert.subject, alert.status) == ("dead", "payment", "firing")
    assert alert.summary.startswith("1 new dead letters on topic payment")

    clock.advance(60)
    await desk.evaluate()
    assert deliveries(store) == []  # still firing, sent a minute ago
    clock.advance(3600)
    dead_letter(store, "paytrace:2:sale")  # the condition still holds an hour later
    await desk.evaluate()
    assert [e.payload["alert"]["status"] for e in deliveries(store)] == ["firing", "firing"]

    clock.advance(601)  # no new dead letter within the window
    await desk.evaluate()
    again = deliveries(store)
    assert [e.payload["alert"]["status"] for e in again] == ["resolved", "resolved"]
    clock.advance(60)
    await desk.evaluate()
    assert deliveries(store) == []


@pytest.mark.anyio
async def test_a_triaged_dead_letter_no_longer_counts(store: Store, clock: ManualClock) -> None:
    desk, _ = desk_of(store, clock, rules=DEAD)
    message = dead_letter(store, "paytrace:1:sale")
    store.queue.triage(message, "ignore", "cli:ana", comment="test payment")
    await desk.evaluate()
    assert deliveries(store) == []


@pytest.mark.anyio
async def test_the_rate_limit_holds_back_and_the_next_delivery_says_how_many(
    store: Store, clock: ManualClock
) -> None:
    rules = [{"name": "dead", "when": "dead_letters", "channels": ["mail"]}]
    desk, _ = desk_of(store, clock, rules=rules, rate_limit={"count": 2, "seconds": 3600})
    for topic in ("a", "b", "c"):
        dead_letter(store, f"k-{topic}", topic)
    await desk.evaluate()
    sent = deliveries(store)
    assert [e.payload["alert"]["subject"] for e in sent] == ["a", "b"]  # c held back
    clock.advance(3601)
    dead_letter(store, "k-d", "d")
    await desk.evaluate()
    later = deliveries(store)
    by_subject = {e.payload["alert"]["subject"]: e.payload["alert"] for e in later}
    assert by_subject["d"]["suppressed"] == 1 or any(
        a["suppressed"] == 1 for a in by_subject.values()
    )
    assert sum(a["suppressed"] for a in by_subject.values()) == 1  # named once, then reset


@pytest.mark.anyio
async def test_a_raised_alert_goes_out_once_per_repeat_window(
    store: Store, clock: ManualClock
) -> None:
    rules = [{"name": "paused", "when": "event", "kinds": ["topic_paused"], "repeat_seconds": 900}]
    desk, _ = desk_of(store, clock, rules=rules)

    def raised() -> Envelope:
        return alert_envelope(
            "topic_paused", "payment", "payment paused: D365 refused the login",
            at=clock.now(), severity="critical", facts={"setting": "dynamics.client_secret"},
        )  # fmt: skip

    store.queue.enqueue([raised()])
    (env,) = store.queue.claim("w", 10)
    assert env.topic == ALERTS_TOPIC
    assert [o.status for o in await desk.on_alerts([env])] == ["done"]
    first = deliveries(store)
    assert len(first) == 2
    alert = first[0].payload["alert"]
    assert (alert["severity"], alert["facts"]["setting"]) == ("critical", "dynamics.client_secret")

    clock.advance(120)
    await desk.on_alerts([raised()])
    assert deliveries(store) == []  # a repeat within 900 s
    clock.advance(900)
    await desk.on_alerts([raised()])
    assert len(deliveries(store)) == 2

    await desk.on_alerts([alert_envelope("something_else", "x", "no rule", at=clock.now())])
    assert deliveries(store) == []  # logged only


@pytest.mark.anyio
async def test_a_failing_channel_is_retried_and_an_unknown_one_dead_lettered(
    store: Store, clock: ManualClock
) -> None:
    desk, senders = desk_of(store, clock, rules=DEAD)
    dead_letter(store, "paytrace:1:sale")
    await desk.evaluate()
    sent = sorted(deliveries(store), key=lambda e: e.payload["channel"])
    senders["hook"].fail = True
    outcomes = await desk.deliver(sent)
    assert [(o.status, o.reason) for o in outcomes] == [
        ("retry", "channel hook: HTTP 503"),
        ("done", "sent to mail"),
    ]
    orphan = Envelope(
        ALERT_DELIVERY_TOPIC, "k", "k", {"channel": "gone", "alert": sent[0].payload["alert"]}
    )
    (dead,) = await desk.deliver([orphan])
    assert dead.status == "dead" and "gone" in dead.reason


@pytest.mark.anyio
async def test_alerts_test_reaches_each_channel_and_names_a_failure(
    store: Store, clock: ManualClock
) -> None:
    desk, senders = desk_of(store, clock, rules=DEAD)
    senders["hook"].fail = True
    results = await desk.test()
    assert results == {"hook": "channel hook: HTTP 503", "mail": None}
    ((alert, _),) = senders["mail"].sent
    assert alert.status == "test"
    with pytest.raises(PayBridgeError):
        await senders["hook"].send(alert, "x")


def test_rules_name_known_channels_and_event_rules_need_kinds() -> None:
    with pytest.raises(ValueError, match="no channel named pager"):
        AlertingSettings.model_validate(
            {"channels": CHANNELS, "rules": [{"name": "a", "when": "lag", "channels": ["pager"]}]}
        )
    with pytest.raises(ValueError, match="needs kinds"):
        AlertRule(name="a", when="event")
    assert {r.when for r in AlertingSettings().rules} >= {
        "dead_letters",
        "lag",
        "in_doubt",
        "event",
    }
