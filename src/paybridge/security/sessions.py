"""Console sign-in sessions: a random token in an HttpOnly cookie, its SHA-256 in the store.

The cookie holds 32 random bytes and nothing else; the store keeps their SHA-256 with the actor,
the role it signed in with, its CSRF token and its expiry. So a cookie cannot be forged or
edited (there is nothing to sign: an unknown token matches no row), a stolen store yields no
usable cookie, and signing out, disabling a user or changing their role ends the session at
once, in every process. Sessions expire ``idle`` after their last use and ``absolute`` after
sign-in, whichever comes first.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update

from paybridge.clock import Clock, SystemClock
from paybridge.security.apikeys import Role, check_role
from paybridge.store.schema_console import console_sessions

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True)
class Session:
    actor: str
    role: Role
    csrf: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class OpenedSession:
    token: str  # for the cookie; never stored
    session: Session


class Sessions:
    def __init__(
        self, engine: Engine, clock: Clock | None = None, *, idle: timedelta = IDLE,
        absolute: timedelta = ABSOLUTE,
    ) -> None:  # fmt: skip
        self._engine = engine
        self._clock = clock or SystemClock()
        self.idle = idle
        self.absolute = absolute

    def open(self, actor: str, role: str) -> OpenedSession:
        now = self._clock.now()
        token = secrets.token_urlsafe(32)
        session = Session(actor, check_role(role), secrets.token_urlsafe(32), now, now + self.idle)
        with self._engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.expires_at < now))
            conn.execute(
                insert(console_sessions).values(
                    token_hash=_hash(token), actor=actor[:120], role=session.role,
                    csrf=session.csrf, created_at=now, expires_at=session.expires_at, seen_at=now,
                )
            )  # fmt: skip
        return OpenedSession(token, session)

    def get(self, token: str) -> Session | None:
        """The live session of ``token``; its idle expiry moves on (at most once a minute)."""
        if not token or len(token) > 100:
            return None
        now = self._clock.now()
        with self._engine.connect() as conn:
            row = conn.execute(
                select(console_sessions).where(console_sessions.c.token_hash == _hash(token))
            ).first()
        if row is None or row.expires_at <= now:
            return None
        expires = min(now + self.idle, row.created_at + self.absolute)
        if now - row.seen_at >= TOUCH_EVERY:
            with self._engine.begin() as conn:
                conn.execute(
                    update(console_sessions)
                    .where(console_sessions.c.token_hash == _hash(token))
                    .values(seen_at=now, expires_at=expires)
                )
        return Session(row.actor, check_role(row.role), row.csrf, row.created_at, row.expires_at)

    def close(self, token: str) -> bool:
        with self._engine.begin() as conn:
            done = conn.execute(
                delete(console_sessions).where(console_sessions.c.token_hash == _hash(token))
            )
        return done.rowcount > 0

    def close_all(self, actor: str) -> int:
        with self._engine.begin() as conn:
            done = conn.execute(delete(console_sessions).where(console_sessions.c.actor == actor))
        return int(done.rowcount)
