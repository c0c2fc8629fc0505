"""API keys and roles: random keys shown once, kept only as a salted hash, with expiry and revocation.

A key reads ``pb_<key_id>_<secret>``. ``key_id`` is public (lists, audit rows, lookups); the secret
part is 32 random bytes and is stored only as HMAC-SHA256(salt, secret) with a per-key salt. A
slow hash (scrypt) buys nothing for 256-bit random secrets and would cost every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, insert, select, update

from paybridge.clock import Clock, SystemClock
from paybridge.errors import DataError
from paybridge.store.schema_security import api_keys

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
_KEY = re.compile(r"^pb_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
# Compared against when the key id is unknown, so a miss costs what a hit costs.
_DUMMY_SALT = b"\x00" * 16
TOUCH_EVERY = timedelta(minutes=1)


def role_allows(held: str, needed: str) -> bool:
    """True when a key of role ``held`` may do what needs ``needed`` (viewer < operator < admin)."""
    return held in _RANK and _RANK[held] >= _RANK[needed]


def check_role(role: str) -> Role:
    if role not in _RANK:
        raise DataError(f"role must be one of {', '.join(ROLES)}", fields={"role": "unknown role"})
    return role  # type: ignore[return-value]


def _digest(salt: bytes, secret: str) -> bytes:
    return hmac.new(salt, secret.encode("ascii"), hashlib.sha256).digest()


@dataclass(frozen=True)
class ApiKey:
    """A key's record, never its secret."""

    key_id: str
    role: Role
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def to_dict(self) -> dict[str, object]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "key_id": self.key_id,
            "role": self.role,
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
        }


@dataclass(frozen=True)
class IssuedKey:
    """A new key: ``token`` is shown to its owner once and never stored."""

    token: str
    key: ApiKey


def _record(row: object) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,  # type: ignore[attr-defined]
        role=check_role(row.role),  # type: ignore[attr-defined]
        label=row.label,  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        expires_at=row.expires_at,  # type: ignore[attr-defined]
        revoked_at=row.revoked_at,  # type: ignore[attr-defined]
        last_used_at=row.last_used_at,  # type: ignore[attr-defined]
    )


class ApiKeys:
    """Issues, verifies, lists and revokes API keys kept in the store."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock | None = None,
        token_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()
        self._random = token_bytes

    def create(self, role: str, *, label: str = "", expires_days: int | None = None) -> IssuedKey:
        role = check_role(role)
        if expires_days is not None and expires_days < 1:
            raise DataError("expiry is at least one day", fields={"expires_days": "< 1"})
        now = self._clock.now()
        key_id = self._random(6).hex()
        secret = base64.urlsafe_b64encode(self._random(32)).decode("ascii").rstrip("=")
        salt = self._random(16)
        expires = now + timedelta(days=expires_days) if expires_days else None
        with self._engine.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    key_id=key_id, salt=salt, digest=_digest(salt, secret), role=role,
                    label=label[:200], created_at=now, expires_at=expires,
                )
            )  # fmt: skip
        record = ApiKey(key_id, role, label[:200], now, expires, None, None)
        return IssuedKey(f"pb_{key_id}_{secret}", record)

    def verify(self, token: str) -> ApiKey | None:
        """The key's record when ``token`` is a live key; None for anything else."""
        match = _KEY.match(token)
        if match is None:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == match["key_id"])).first()
        salt, expected = (row.salt, row.digest) if row is not None else (_DUMMY_SALT, b"")
        ok = hmac.compare_digest(_digest(salt, match["secret"]), expected)
        if row is None or not ok:
            return None
        record = _record(row)
        now = self._clock.now()
        if not record.active(now):
            return None
        last = record.last_used_at
        # One write a minute per key at most: a busy key must not serialise requests on the store.
        if last is None or now - last >= TOUCH_EVERY:
            self._touch(record.key_id, now)
        return record

    def _touch(self, key_id: str, now: datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(api_keys).where(api_keys.c.key_id == key_id).values(last_used_at=now)
            )

    def get(self, key_id: str) -> ApiKey | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        return _record(row) if row is not None else None

    def all(self) -> list[ApiKey]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at)).all()
        return [_record(row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when there is no such key or it was already revoked."""
        with self._engine.begin() as conn:
            done = conn.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=self._clock.now())
            )
        return done.rowcount > 0
