"""The alerting desk: rules read periodically, alerts raised by the engine, channels fed through the queue.

* ``evaluate`` (the ``alerts.evaluate`` job, once per period across all workers) reads the
  condition rules against the store; a subject that starts firing is sent, one still firing is
  sent again after ``repeat_seconds``, one that stops is sent as resolved.
* ``on_alerts`` handles the ``alert`` topic (anything the engine raises) and ``billing.alert``
  (dunning steps), matching ``event`` rules by kind; the same (rule, subject) is sent again only
  after ``repeat_seconds``.
* Every alert to send becomes one ``alert.deliver`` envelope per channel, published in the same
  transaction as the state that decided it; ``deliver`` sends it and a failure is a queue retry
  (backoff, then a dead letter). A channel's rate limit holds back what is over it, counted and
  named in its next delivery. Every alert is also one warning line in the log.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from paybridge.clock import Clock
from paybridge.errors import PayBridgeError
from paybridge.keys import ALERT_DELIVERY_TOPIC, ALERTS_TOPIC
from paybridge.ops.alert import Alert
from paybridge.ops.channels import Sender
from paybridge.ops.figures import StoreFigures
from paybridge.ops.rules import Condition, conditions
from paybridge.ops.settings import AlertingSettings, AlertRule
from paybridge.runtime.alerts import AlertNotice
from paybridge.runtime.envelope import Envelope, Outcome
from paybridge.runtime.queue import SqlQueue
from paybridge.store.schema import queue as queue_table
from paybridge.store.schema_ops import alert_state, alert_suppressed

log = logging.getLogger("paybridge.alerts")

JOB_NAME = "alerts.evaluate"
Describe = Callable[[dict[str, Any]], AlertNotice]


def delivery_key(channel: str, rule: str, subject: str, seq: int, status: str) -> str:
    digest = hashlib.sha256(f"{rule}\0{subject}\0{seq}\0{status}".encode()).hexdigest()[:24]
    return f"{ALERT_DELIVERY_TOPIC}:{channel}:{digest}"


class AlertDesk:
    def __init__(
        self,
        engine: Engine,
        queue: SqlQueue,
        figures: StoreFigures,
        settings: AlertingSettings,
        senders: Mapping[str, Sender],
        clock: Clock,
        *,
        describe: Mapping[str, Describe] | None = None,
    ) -> None:
        self.engine = engine
        self.queue = queue
        self.figures = figures
        self.settings = settings
        self.senders = dict(senders)
        self.clock = clock
        # Topic -> how its payloads read as an alert (``alert`` payloads are AlertNotices).
        self.describe: dict[str, Describe] = {
            ALERTS_TOPIC: AlertNotice.from_payload,
            **(describe or {}),
        }

    # -- conditions ------------------------------------------------------------------------

    async def evaluate(self) -> str:
        """Read every condition rule; send what starts, repeats or stops firing."""
        now = self.clock.now()
        figures = self.figures.read(now)
        sent = 0
        for rule in self.settings.rules:
            if rule.when == "event":
                self._expire_events(rule, now)
                continue
            current = {c.subject: c for c in conditions(rule, figures, self.figures)}
            sent += self._apply(rule, current, now)
        return f"{sent} alerts sent"

    def _apply(self, rule: AlertRule, current: dict[str, Condition], now: datetime) -> int:
        sent = 0
        with self.engine.begin() as conn:
            rows = {
                r["subject"]: dict(r)
                for r in conn.execute(
                    select(alert_state).where(alert_state.c.rule == rule.name)
                ).mappings()
            }
            for subject, cond in sorted(current.items()):
                row = rows.get(subject)
                firing = row is not None and row["firing"] == 1
                due = not firing or _older(row, now, rule.repeat_seconds)
                if due and self._claim(conn, rule, subject, row, now, cond.summary, cond.value):
                    alert = self._alert(rule, subject, "firing", cond.summary, now, cond.facts)
                    self._send(conn, rule, alert, _seq(row))
                    sent += 1
                elif not due:
                    conn.execute(
                        update(alert_state)
                        .where(alert_state.c.rule == rule.name, alert_state.c.subject == subject)
                        .values(last_at=now, value=cond.value, summary=cond.summary)
                    )
            for subject, row in sorted(rows.items()):
                if row["firing"] != 1 or subject in current:
                    continue
                resolved = conn.execute(
                    update(alert_state)
                    .where(alert_state.c.rule == rule.name, alert_state.c.subject == subject,
                           alert_state.c.firing == 1, alert_state.c.sent == row["sent"])
                    .values(firing=0, last_at=now)
                ).rowcount  # fmt: skip
                if resolved and rule.notify_resolved:
                    summary = f"resolved: {row['summary']}"
                    alert = self._alert(rule, subject, "resolved", summary, now, {})
                    self._send(conn, rule, alert, int(row["sent"]))
                    sent += 1
        return sent

    def _claim(
        self, conn: Connection, rule: AlertRule, subject: str, row: dict[str, Any] | None,
        now: datetime, summary: str, value: float | None,
    ) -> bool:  # fmt: skip
        """Compare-and-set on the state row: of two deciders, one sends."""
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(alert_state).values(
                            rule=rule.name, subject=subject, firing=1, first_at=now, last_at=now,
                            sent_at=now, sent=1, summary=summary[:4000], value=value,
                        )
                    )  # fmt: skip
            except IntegrityError:
                return False
            return True
        values: dict[str, Any] = {
            "firing": 1, "last_at": now, "sent_at": now, "sent": row["sent"] + 1,
            "summary": summary[:4000], "value": value,
        }  # fmt: skip
        if row["firing"] != 1:
            values["first_at"] = now
        return bool(
            conn.execute(
                update(alert_state)
                .where(alert_state.c.rule == rule.name, alert_state.c.subject == subject,
                       alert_state.c.sent == row["sent"])
                .values(**values)
            ).rowcount
        )  # fmt: skip

    def _expire_events(self, rule: AlertRule, now: datetime) -> None:
        """An event alert stops counting as firing once its repeat window has passed."""
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_state)
                .where(alert_state.c.rule == rule.name, alert_state.c.firing == 1,
                       alert_state.c.last_at < now - timedelta(seconds=rule.repeat_seconds))
                .values(firing=0)
            )  # fmt: skip

    # -- events ----------------------------------------------------------------------------

    async def on_alerts(self, envs: Sequence[Envelope]) -> list[Outcome]:
        """Handler of the alert topics: each envelope is matched against the event rules."""
        outcomes = []
        for env in envs:
            notice = self.describe[env.topic](env.payload)
            outcomes.append(self._event(notice))
        return outcomes

    def _event(self, notice: AlertNotice) -> Outcome:
        now = self.clock.now()
        rules = [r for r in self.settings.rules if r.when == "event" and notice.kind in r.kinds]
        log.warning("alert %s %s: %s", notice.kind, notice.subject, notice.summary)
        if not rules:
            return Outcome.done("no rule for this kind: logged only")
        sent = 0
        with self.engine.begin() as conn:
            for rule in rules:
                row = conn.execute(
                    select(alert_state).where(
                        alert_state.c.rule == rule.name, alert_state.c.subject == notice.subject
                    )
                ).mappings().first()  # fmt: skip
                current = dict(row) if row is not None else None
                if (
                    current is not None
                    and current["firing"] == 1
                    and not _older(current, now, rule.repeat_seconds)
                ):
                    conn.execute(
                        update(alert_state)
                        .where(
                            alert_state.c.rule == rule.name, alert_state.c.subject == notice.subject
                        )
                        .values(last_at=now)
                    )  # dropped as a repeat within the rule's window
                    continue
                if not self._claim(conn, rule, notice.subject, current, now, notice.summary, None):
                    continue
                severity = notice.severity if notice.severity != "warning" else rule.severity
                alert = Alert(
                    rule=rule.name, subject=notice.subject, severity=severity, status="firing",
                    summary=notice.summary, at=notice.at or now, facts={"kind": notice.kind, **notice.facts},
                    installation=self.settings.installation,
                )  # fmt: skip
                self._send(conn, rule, alert, _seq(current))
                sent += 1
        return Outcome.done(f"sent to {sent} rules" if sent else "a repeat within its window")

    # -- delivery --------------------------------------------------------------------------

    def _alert(
        self, rule: AlertRule, subject: str, status: str, summary: str, now: datetime,
        facts: dict[str, str],
    ) -> Alert:  # fmt: skip
        return Alert(
            rule=rule.name, subject=subject, severity=rule.severity, status=status,
            summary=summary, at=now, facts=facts, installation=self.settings.installation,
        )  # fmt: skip

    def _send(self, conn: Connection, rule: AlertRule, alert: Alert, seq: int) -> None:
        """One delivery per channel of ``rule``, within its rate limit; and a log line."""
        log.warning("alert %s %s %s: %s", alert.status, rule.name, alert.subject, alert.summary)
        limit = self.settings.rate_limit
        since = alert.at - timedelta(seconds=limit.seconds)
        envelopes = []
        for channel in self.settings.channels_of(rule):
            prefix = f"{ALERT_DELIVERY_TOPIC}:{channel}:"
            recent = conn.execute(
                select(func.count()).where(
                    queue_table.c.topic == ALERT_DELIVERY_TOPIC,
                    queue_table.c.key.startswith(prefix, autoescape=True),
                    queue_table.c.created_at >= since,
                )
            ).scalar()
            if int(recent or 0) >= limit.count:
                self._hold_back(conn, channel, alert.at)
                log.warning("alert to %s held back by its rate limit (%d in %.0f s)",
                            channel, limit.count, limit.seconds)  # fmt: skip
                continue
            held = conn.execute(
                select(alert_suppressed.c.count).where(alert_suppressed.c.channel == channel)
            ).scalar()
            if held:
                conn.execute(delete(alert_suppressed).where(alert_suppressed.c.channel == channel))
            payload = {
                "channel": channel,
                "alert": Alert(**{**vars(alert), "suppressed": int(held or 0)}).to_payload(),
            }
            key = delivery_key(channel, rule.name, alert.subject, seq + 1, alert.status)
            envelopes.append(Envelope(ALERT_DELIVERY_TOPIC, key, key, payload, source="alerts"))
        if envelopes:
            self.queue.publish(conn, envelopes)

    def _hold_back(self, conn: Connection, channel: str, now: datetime) -> None:
        changed = conn.execute(
            update(alert_suppressed)
            .where(alert_suppressed.c.channel == channel)
            .values(count=alert_suppressed.c.count + 1)
        ).rowcount
        if not changed:
            conn.execute(insert(alert_suppressed).values(channel=channel, count=1, since=now))

    async def deliver(self, envs: Sequence[Envelope]) -> list[Outcome]:
        """Handler of ``alert.deliver``: send each to its channel; a failure is retried."""
        outcomes = []
        for env in envs:
            channel = str(env.payload.get("channel"))
            sender = self.senders.get(channel)
            if sender is None:
                outcomes.append(Outcome.dead(f"no alert channel named {channel!r} in the settings"))
                continue
            try:
                await sender.send(Alert.from_payload(env.payload["alert"]), env.key)
            except PayBridgeError as exc:
                log.warning("alert delivery to %s failed: %s", channel, exc.message)
                outcomes.append(Outcome.retry(exc.message, getattr(exc, "retry_after", None)))
                continue
            outcomes.append(Outcome.done(f"sent to {channel}"))
        return outcomes

    async def test(self, channel: str | None = None) -> dict[str, str | None]:
        """Send a test alert straight to each channel (or one); channel -> None or what failed."""
        names = [channel] if channel is not None else sorted(self.senders)
        now = self.clock.now()
        alert = Alert(
            rule="test", subject="paybridge alerts test", severity="info", status="test",
            summary="A test alert from `paybridge alerts test`: this channel works.", at=now,
            installation=self.settings.installation,
        )  # fmt: skip
        results: dict[str, str | None] = {}
        for name in names:
            sender = self.senders.get(name)
            if sender is None:
                results[name] = "no such channel in alerting.channels"
                continue
            try:
                await sender.send(alert, f"test:{name}:{now.isoformat()}")
                results[name] = None
            except PayBridgeError as exc:
                results[name] = exc.message
        return results


def _older(row: Mapping[str, Any] | None, now: datetime, seconds: float) -> bool:
    sent_at = row["sent_at"] if row is not None else None
    return sent_at is None or now - sent_at >= timedelta(seconds=seconds)


def _seq(row: Mapping[str, Any] | None) -> int:
    return int(row["sent"]) if row is not None else 0
