"""Alert channels: e-mail over SMTP, Slack and Teams incoming webhooks, signed outbound webhooks.

A channel sends one alert or raises ``ChannelError``; the delivery handler turns that into a
queue retry (backoff, then a dead letter), so a channel that is down loses nothing. Secrets
(the SMTP password, webhook URLs, the signing secret) are references resolved at each send, so a
rotation in the vault needs no restart, and none of them is ever logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from typing import Protocol

import httpx
from pydantic import SecretStr

from paybridge.clock import Clock
from paybridge.errors import RetryableError
from paybridge.ops.alert import Alert
from paybridge.ops.settings import (
    Channel,
    EmailChannel,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
)
from paybridge.security.webhooks import sign

Resolve = Callable[[SecretStr, str], str]


class ChannelError(RetryableError):
    """A channel did not take an alert (no answer, refused, 5xx); the queue tries again."""


class Sender(Protocol):
    name: str

    async def send(self, alert: Alert, delivery_id: str) -> None: ...


class EmailSender:
    def __init__(self, name: str, settings: EmailChannel, resolve: Resolve) -> None:
        self.name = name
        self.settings = settings
        self.resolve = resolve

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = alert.title
        msg["From"] = self.settings.sender
        msg["To"] = ", ".join(self.settings.to)
        msg.set_content(alert.text())
        return msg

    def _send(self, alert: Alert) -> None:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        with smtp:
            if s.security == "starttls":
                smtp.starttls(context=context)
            if s.username and s.password is not None:
                password = self.resolve(s.password, f"alerting.channels.{self.name}.password")
                smtp.login(s.username, password)
            smtp.send_message(self.message(alert))

    async def send(self, alert: Alert, delivery_id: str) -> None:
        try:
            await asyncio.to_thread(self._send, alert)
        except (smtplib.SMTPException, OSError) as exc:
            # The server's words may quote the login; only the kind and code are kept.
            code = getattr(exc, "smtp_code", None)
            raise ChannelError(
                f"e-mail channel {self.name}: {type(exc).__name__}{f' {code}' if code else ''}",
                system="alerts",
                operation="smtp",
            ) from None


class _HttpSender:
    """A JSON POST; 2xx is delivered, anything else a ChannelError with the status only."""

    kind = "webhook"

    def __init__(self, name: str, http: httpx.AsyncClient, timeout: float) -> None:
        self.name = name
        self.http = http
        self.timeout = timeout

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            reply = await self.http.post(
                url, content=body, headers={"Content-Type": "application/json", **headers},
                timeout=self.timeout,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise ChannelError(
                f"{self.kind} channel {self.name}: {type(exc).__name__}",
                system="alerts", operation="post",
            ) from None  # fmt: skip
        if not 200 <= reply.status_code < 300:
            retry_after = reply.headers.get("Retry-After", "")
            raise ChannelError(
                f"{self.kind} channel {self.name}: HTTP {reply.status_code}",
                system="alerts", operation="post", status=reply.status_code,
                retry_after=float(retry_after) if retry_after.isdigit() else None,
            )  # fmt: skip


class SlackSender(_HttpSender):
    kind = "slack"

    def __init__(
        self, name: str, settings: SlackChannel, http: httpx.AsyncClient, resolve: Resolve
    ) -> None:
        super().__init__(name, http, settings.timeout_seconds)
        self.settings = settings
        self.resolve = resolve

    async def send(self, alert: Alert, delivery_id: str) -> None:
        url = self.resolve(self.settings.url, f"alerting.channels.{self.name}.url")
        await self.post(url, json.dumps(alert.slack()).encode(), {})


class TeamsSender(_HttpSender):
    kind = "teams"

    def __init__(
        self, name: str, settings: TeamsChannel, http: httpx.AsyncClient, resolve: Resolve
    ) -> None:
        super().__init__(name, http, settings.timeout_seconds)
        self.settings = settings
        self.resolve = resolve

    async def send(self, alert: Alert, delivery_id: str) -> None:
        url = self.resolve(self.settings.url, f"alerting.channels.{self.name}.url")
        await self.post(url, json.dumps(alert.teams()).encode(), {})


def webhook_id(delivery_id: str) -> str:
    """The same ``webhook-id`` for every retry of one delivery, so a receiver can drop repeats."""
    return "msg_" + hashlib.sha256(delivery_id.encode()).hexdigest()[:32]


class WebhookSender(_HttpSender):
    """Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` (v1, HMAC)."""

    def __init__(
        self, name: str, settings: WebhookChannel, http: httpx.AsyncClient, resolve: Resolve,
        clock: Clock,
    ) -> None:  # fmt: skip
        super().__init__(name, http, settings.timeout_seconds)
        self.settings = settings
        self.resolve = resolve
        self.clock = clock

    def headers(self, body: bytes, delivery_id: str) -> dict[str, str]:
        secret = self.resolve(self.settings.secret, f"alerting.channels.{self.name}.secret")
        msg_id = webhook_id(delivery_id)
        timestamp = int(self.clock.now().timestamp())
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body),
        }

    async def send(self, alert: Alert, delivery_id: str) -> None:
        body = json.dumps(alert.event(), separators=(",", ":")).encode()
        await self.post(self.settings.url, body, self.headers(body, delivery_id))


def build_senders(
    channels: dict[str, Channel],
    *,
    http: httpx.AsyncClient,
    webhook_http: httpx.AsyncClient | None = None,
    resolve: Resolve,
    clock: Clock,
) -> dict[str, Sender]:
    """One sender per configured channel. ``webhook_http`` (if given) serves channels that ask
    for TLS verification off (a test receiver); the others use ``http``."""
    senders: dict[str, Sender] = {}
    for name, channel in channels.items():
        if isinstance(channel, EmailChannel):
            senders[name] = EmailSender(name, channel, resolve)
        elif isinstance(channel, SlackChannel):
            senders[name] = SlackSender(name, channel, http, resolve)
        elif isinstance(channel, TeamsChannel):
            senders[name] = TeamsSender(name, channel, http, resolve)
        else:
            client = http if channel.verify_tls or webhook_http is None else webhook_http
            senders[name] = WebhookSender(name, channel, client, resolve, clock)
    return senders
