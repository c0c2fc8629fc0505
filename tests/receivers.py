"""Local alert receivers on 127.0.0.1: an SMTP sink (aiosmtpd) and a webhook receiver (stdlib).

Both keep what arrived with the moment it arrived, for tests that judge delivery and its delay.
Nothing here imports PayBridge: the process tests use them too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: Message
    at: float  # time.monotonic() when it arrived
    wall: float = 0.0  # time.time() when it arrived

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        payload = self.message.get_payload(decode=True)
        return payload.decode() if isinstance(payload, bytes) else str(payload)


@dataclass
class SmtpSink:
    host: str
    port: int
    mails: list[Mail] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: SmtpEnvelope) -> str:
        content = envelope.original_content or b""
        self.mails.append(
            Mail(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos],
                 message_from_bytes(content), time.monotonic(), time.time())
        )  # fmt: skip
        return "250 OK"


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    with socket.socket() as probe:  # aiosmtpd checks its port by connecting: it needs a real one
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    sink = SmtpSink("127.0.0.1", port)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    wall: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    status: int = 200  # what it answers (set 503 to act as a channel that is down)


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(size)
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.deliveries.append(
                Delivery(self.path, headers, body, time.monotonic(), time.time())
            )
            self.send_response(receiver.status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def standard_webhook_valid(delivery: Delivery, secret: str) -> bool:
    """Standard Webhooks check written from the specification (not PayBridge's code)."""
    key = (
        base64.b64decode(secret.removeprefix("whsec_"))
        if secret.startswith("whsec_")
        else secret.encode()
    )
    msg_id, stamp = delivery.headers["webhook-id"], delivery.headers["webhook-timestamp"]
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{stamp}.".encode() + delivery.body, hashlib.sha256).digest()
    ).decode()
    offered = [
        s.split(",", 1)[1]
        for s in delivery.headers["webhook-signature"].split()
        if s.startswith("v1,")
    ]
    return (
        any(hmac.compare_digest(expected, o) for o in offered)
        and abs(time.time() - int(stamp)) < 300
    )
