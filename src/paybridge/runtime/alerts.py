"""Raising an alert: an envelope on the ``alert`` topic that the alerting desk turns into messages.

Any part of the engine (the worker pausing a topic, a client refused its credentials) raises one
without knowing the channels::

    queue.enqueue([alert_envelope("topic_paused", "payment", "payment paused: D365 refused the "
                                  "login (dynamics.client_secret)", at=clock.now(),
                                  severity="critical", facts={"setting": "dynamics.client_secret"})])

or ``queue.publish(conn, [...])`` inside the caller's transaction. ``kind`` is what alert rules
match (``auth_failure``, ``topic_paused``, ...); ``subject`` what it is about (a topic, a
system). The desk sends the same (kind, subject) again only after the rule's ``repeat_seconds``;
the inbox already drops a second envelope of the same kind, subject and minute.

The worker and the scheduler raise theirs through one callable, ``AlertSink``: a topic or job
paused by a configuration refusal, and resumed when it clears. ``queue_sink`` makes such an
``Alert`` an envelope on the ``alert`` topic (kinds ``topic_paused``, ``job_resumed``, ...), so
it reaches the same channels; a sink must not raise (a failing one is logged and ignored).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from paybridge.keys import ALERTS_TOPIC
from paybridge.runtime.envelope import Envelope
from paybridge.security.cardguard import redact, redact_text

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class AlertNotice:
    """One alert as raised: the kind rules match, its subject, a sentence, and short facts."""

    kind: str
    subject: str
    summary: str
    severity: str = "warning"
    facts: dict[str, str] = field(default_factory=dict)
    at: datetime | None = None

    def to_payload(self) -> dict[str, Any]:
        payload = {
            "kind": self.kind,
            "subject": self.subject,
            "summary": redact_text(self.summary),
            "severity": self.severity if self.severity in SEVERITIES else "warning",
            "facts": redact({k: str(v) for k, v in self.facts.items()}),
            "at": self.at.isoformat() if self.at else None,
        }
        return payload

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> AlertNotice:
        at = data.get("at")
        return cls(
            kind=str(data.get("kind") or "unknown"),
            subject=str(data.get("subject") or ""),
            summary=str(data.get("summary") or ""),
            severity=str(data.get("severity") or "warning"),
            facts={str(k): str(v) for k, v in (data.get("facts") or {}).items()},
            at=datetime.fromisoformat(at) if isinstance(at, str) else None,
        )


def alert_envelope(
    kind: str,
    subject: str,
    summary: str,
    *,
    at: datetime,
    severity: str = "warning",
    facts: dict[str, Any] | None = None,
    source: str = "runtime",
) -> Envelope:
    """The envelope for ``queue.publish``/``enqueue``; keyed by kind, subject and minute."""
    notice = AlertNotice(
        kind, subject, summary, severity, {k: str(v) for k, v in (facts or {}).items()}, at
    )
    minute = at.strftime("%Y%m%dT%H%M")
    return Envelope(
        topic=ALERTS_TOPIC,
        key=f"{ALERTS_TOPIC}:{kind}:{subject}:{minute}"[:200],
        partition_key=f"{ALERTS_TOPIC}:{kind}:{subject}"[:200],
        payload=notice.to_payload(),
        source=source,
    )


log = logging.getLogger("paybridge.alerts")

AlertKind = Literal["topic.paused", "topic.resumed", "job.paused", "job.resumed"]


@dataclass(frozen=True)
class Alert:
    """``subject`` is the topic or job; ``reason`` one line naming the setting (never a secret)."""

    kind: AlertKind
    subject: str
    reason: str
    at: datetime
    severity: Literal["critical", "info"] = "critical"

    @property
    def key(self) -> str:
        """Same for every alert of one condition: ``paused:<subject>`` / ``resumed:<subject>``."""
        return f"{self.kind}:{self.subject}"


AlertSink = Callable[[Alert], None]


def log_alert(alert: Alert) -> None:
    """The stand-in channel: one log line per alert."""
    level = logging.ERROR if alert.severity == "critical" else logging.WARNING
    log.log(level, "alert %s %s: %s", alert.kind, alert.subject, alert.reason)


def raise_alert(sink: AlertSink, alert: Alert) -> None:
    """Hand ``alert`` to ``sink``; a failing sink never stops the worker or the scheduler."""
    try:
        sink(alert)
    except Exception as exc:  # a channel's failure is its own problem, not the payment's
        log.error("alert sink failed for %s: %s", alert.key, exc)
        log_alert(alert)


class _Enqueue(Protocol):
    def enqueue(self, envelopes: Sequence[Envelope]) -> list[bool]: ...


def queue_sink(queue: _Enqueue) -> AlertSink:
    """A sink that logs the alert and puts it on the ``alert`` topic for the channels."""

    def sink(alert: Alert) -> None:
        log_alert(alert)
        severity = "critical" if alert.severity == "critical" else "info"
        kind = alert.kind.replace(".", "_")
        queue.enqueue([alert_envelope(kind, alert.subject, alert.reason, at=alert.at,
                                      severity=severity, source="runtime")])  # fmt: skip

    return sink
