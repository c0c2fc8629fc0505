"""Standard Webhooks verification: HMAC-SHA256 of ``id.timestamp.body``, tolerance, rotation, replays.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (integer Unix seconds) and
``webhook-signature`` (space-separated ``v1,<base64>`` entries). It passes when any entry matches
any active secret (several during a rotation), compared in constant time, its timestamp is within
the tolerance of the injected clock, and its id was never accepted before (kept in the store).

Secrets come from settings references (``env:``/``vault:``), re-read every ``SECRET_REFRESH``
by ``SecretRefs``, so a rotation needs no restart: ``rotate_secret`` puts the new secret in the
vault under the referenced name and keeps the old one as ``<name>.previous`` with an end time;
until then both verify (the overlap in which senders switch over).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets as random_secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError

from paybridge.clock import Clock, SystemClock
from paybridge.errors import ConfigError, PayBridgeError
from paybridge.security.vault import Vault
from paybridge.store.schema_security import webhook_seen

TOLERANCE = timedelta(minutes=5)
SECRET_REFRESH = timedelta(seconds=30)
PREVIOUS = ".previous"
log = logging.getLogger(__name__)
MAX_ID = 200
_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,10}$")


class SignatureError(PayBridgeError):
    """A signed delivery is refused; ``code`` says why (for the sender's logs, not a secret)."""

    reaction = "reject"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, system="webhooks", operation="verify", status=401)
        self.code = code


class ReplayError(SignatureError):
    """A delivery whose ``webhook-id`` was accepted before."""

    def __init__(self, webhook_id: str) -> None:
        super().__init__("replay", f"webhook-id {webhook_id} was already received")
        self.status = 409


def secret_bytes(secret: str | bytes) -> bytes:
    """The HMAC key: ``whsec_<base64>`` decoded, any other string as UTF-8, bytes as they are."""
    if isinstance(secret, bytes):
        return secret
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[6:], validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("invalid_secret", "a whsec_ secret is not base64") from None
    return secret.encode("utf-8")


def sign(secret: str | bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` entry, as a sender makes it (tests and outbound events use it)."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class VerifiedEvent:
    webhook_id: str
    timestamp: datetime
    body: bytes


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None or not value.strip():
        raise SignatureError("missing_header", f"the {name} header is missing")
    return value.strip()


def _timestamp(text: str, now: datetime, tolerance: timedelta) -> tuple[int, datetime]:
    if not _TIMESTAMP.match(text):
        raise SignatureError("invalid_timestamp", "webhook-timestamp is not Unix seconds")
    seconds = int(text)
    sent = datetime.fromtimestamp(seconds, UTC)
    if abs(now - sent) > tolerance:
        raise SignatureError(
            "timestamp_out_of_tolerance",
            f"webhook-timestamp is more than {int(tolerance.total_seconds())} s from now",
        )
    return seconds, sent


def check_signature(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str | bytes],
    now: datetime,
    tolerance: timedelta = TOLERANCE,
) -> VerifiedEvent:
    """Verify headers and body (no replay check); ``headers`` keys are lower-case."""
    if not secrets:
        raise SignatureError("invalid_secret", "no signing secret is configured")
    webhook_id = _header(headers, "webhook-id")
    if not _ID.match(webhook_id):
        raise SignatureError("invalid_id", f"webhook-id must be 1-{MAX_ID} printable characters")
    seconds, sent = _timestamp(_header(headers, "webhook-timestamp"), now, tolerance)
    offered = [
        entry[3:].encode("ascii", "replace")
        for entry in _header(headers, "webhook-signature").split(" ")
        if entry.startswith("v1,")
    ]
    expected = [sign(s, webhook_id, seconds, body)[3:].encode("ascii") for s in secrets]
    # Compare every pair so the time taken does not tell which secret or entry matched.
    matched = False
    for candidate in offered:
        for good in expected:
            matched |= hmac.compare_digest(candidate, good)
    if not matched:
        raise SignatureError("no_matching_signature", "no webhook-signature entry matches")
    return VerifiedEvent(webhook_id, sent, body)


class SeenIds:
    """Accepted webhook ids, in the store so that a replay is refused across restarts."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, webhook_id: str, source: str, at: datetime) -> bool:
        """True the first time an id is claimed for good; False when it was seen before."""
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(webhook_seen).values(webhook_id=webhook_id, source=source, seen_at=at)
                )
        except IntegrityError:
            return False
        return True

    def prune(self, before: datetime) -> int:
        """Forget ids older than ``before``: their timestamps are out of tolerance anyway."""
        with self._engine.begin() as conn:
            return conn.execute(
                delete(webhook_seen).where(webhook_seen.c.seen_at < before)
            ).rowcount


class WebhookVerifier:
    """Signature, tolerance and replay checks for one inbound source with its active secrets."""

    def __init__(
        self,
        seen: SeenIds,
        secrets: Callable[[], Sequence[str | bytes]] | Sequence[str | bytes],
        *,
        source: str = "events",
        clock: Clock | None = None,
        tolerance: timedelta = TOLERANCE,
    ) -> None:
        self._seen = seen
        self._secrets = secrets
        self._source = source
        self._clock = clock or SystemClock()
        self.tolerance = tolerance

    def secrets(self) -> Sequence[str | bytes]:
        return self._secrets() if callable(self._secrets) else self._secrets

    def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedEvent:
        """The verified event; a SignatureError (or ReplayError) says why not."""
        now = self._clock.now()
        event = check_signature(headers, body, self.secrets(), now, self.tolerance)
        # Claimed only after the signature holds, so forged deliveries cannot burn real ids.
        if not self._seen.claim(event.webhook_id, self._source, now):
            raise ReplayError(event.webhook_id)
        return event


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form, ``whsec_<base64 of 32 bytes>``."""
    return "whsec_" + base64.b64encode(random_secrets.token_bytes(32)).decode("ascii")


def _retired(text: str, now: datetime) -> str | None:
    """The old secret kept by a rotation, while its overlap lasts."""
    try:
        data = json.loads(text)
        until = datetime.fromisoformat(data["until"])
        secret = str(data["secret"])
    except (ValueError, KeyError, TypeError):
        return None
    return secret if until > now else None


@dataclass(frozen=True)
class Rotation:
    name: str
    previous_until: datetime | None  # None: there was no secret before, or no overlap asked


def rotate_secret(
    vault: Vault, name: str, secret: str, *, overlap: timedelta, now: datetime
) -> Rotation:
    """Make ``secret`` the vault's ``name``; the old one keeps verifying for ``overlap``."""
    if not secret.strip():
        raise ConfigError(f"vault:{name}: the new webhook secret is empty", system="webhooks")
    secret_bytes(secret)  # a whsec_ secret that is not base64 is refused before it is stored
    until: datetime | None = None
    if vault.meta(name) is not None and overlap > timedelta(0):
        until = now + overlap
        # Kept first, so that at every moment the old secret verifies.
        vault.set(
            name + PREVIOUS, json.dumps({"secret": vault.get(name), "until": until.isoformat()})
        )
    elif vault.meta(name + PREVIOUS) is not None:
        vault.delete(name + PREVIOUS)
    vault.set(name, secret)
    return Rotation(name, until)


class SecretRefs:
    """One source's signing secrets from their settings references, re-read every ``refresh``.

    ``resolve(ref, setting)`` turns a reference into its value (``paybridge.config.resolve_secret``
    with the vault); ``vault`` finds a rotation's ``<name>.previous``. When the store cannot be read
    the last secrets stay in use; when a secret is gone (a ConfigError) none is, so every delivery
    is refused until it is back.
    """

    def __init__(
        self,
        setting: str,
        refs: Sequence[SecretStr],
        resolve: Callable[[SecretStr, str], str],
        *,
        vault: Callable[[], Vault] | None = None,
        clock: Clock | None = None,
        refresh: timedelta = SECRET_REFRESH,
    ) -> None:
        self.setting = setting
        self._refs = list(refs)
        self._resolve = resolve
        self._vault = vault
        self._clock = clock or SystemClock()
        self._refresh = refresh
        self._cached: list[str | bytes] | None = None
        self._until: datetime | None = None

    def load(self) -> list[str | bytes]:
        """Every secret now (a ConfigError names the setting): the check at start-up."""
        now = self._clock.now()
        values: list[str | bytes] = []
        for n, ref in enumerate(self._refs):
            values.append(self._resolve(ref, f"{self.setting}[{n}]"))
            raw = ref.get_secret_value()
            if raw.startswith("vault:") and self._vault is not None:
                vault = self._vault()
                name = raw[len("vault:") :] + PREVIOUS
                old = _retired(vault.get(name), now) if vault.meta(name) is not None else None
                if old is not None:
                    values.append(old)
        self._cached, self._until = values, now + self._refresh
        return values

    def __call__(self) -> Sequence[str | bytes]:
        if self._cached is not None and self._until is not None and self._clock.now() < self._until:
            return self._cached
        try:
            return self.load()
        except ConfigError as exc:
            log.error("webhooks: %s; signed deliveries are refused until it is fixed", exc.message)
            self._cached, self._until = [], self._clock.now() + self._refresh
            return []
        except Exception as exc:  # the store is away: keep verifying with what was read last
            if self._cached is None:
                raise
            log.warning("webhooks: %s: cannot re-read secrets (%s); using the last ones",
                        self.setting, type(exc).__name__)  # fmt: skip
            self._until = self._clock.now() + self._refresh
            return self._cached
