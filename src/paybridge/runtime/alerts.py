"""Operational alerts the runtime raises: a topic or job paused by a configuration refusal, and
resumed when it clears. The alerting channels route them; until one is wired, they are logged.

The interface is one callable, ``AlertSink = Callable[[Alert], None]``, handed to the ``Worker``
and the ``Scheduler`` by ``app``. It must not block for long and must not raise (a sink that
fails is logged and ignored); ``Alert.key`` is stable per condition, for de-duplication.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

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
