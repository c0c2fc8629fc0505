"""Console users: a name, a role and a password kept only as a scrypt hash.

scrypt (``hashlib.scrypt``, RFC 7914) with n=2**15, r=8, p=1 and a 16-byte random salt per user;
the parameters are stored with the hash (``scrypt$n$r$p$salt$hash``), so raising them later
still verifies older hashes. A wrong name costs the same as a wrong password (a dummy hash is
checked), so sign-in timing does not tell which names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update

from paybridge.clock import Clock, SystemClock
from paybridge.errors import DataError
from paybridge.security.apikeys import Role, check_role
from paybridge.store.schema_console import console_sessions, console_users

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD = 12
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,79}$")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=_MAXMEM, dklen=32
    )
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
            p=int(p), maxmem=_MAXMEM, dklen=len(expected),
        )  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY = hash_password("not a password of anyone", salt=b"\x00" * 16)


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None
    last_login_at: datetime | None


def check_username(name: str) -> str:
    name = name.strip().lower()
    if not _NAME.match(name):
        raise DataError(
            "a user name is 1-80 characters: letters, digits, '.', '_', '@', '-'",
            fields={"username": "invalid"},
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise DataError(
            f"a password has at least {MIN_PASSWORD} characters", fields={"password": "too short"}
        )
    return password


def _user(row: object) -> User:
    return User(
        username=row.username,  # type: ignore[attr-defined]
        role=check_role(row.role),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        disabled_at=row.disabled_at,  # type: ignore[attr-defined]
        last_login_at=row.last_login_at,  # type: ignore[attr-defined]
    )


class Users:
    """Adds, verifies, lists, re-roles and disables console users kept in the store."""

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()

    def add(self, username: str, password: str, role: str) -> User:
        name, role = check_username(username), check_role(role)
        digest = hash_password(check_password(password))
        now = self._clock.now()
        with self._engine.begin() as conn:
            if conn.execute(select(console_users.c.username).where(
                console_users.c.username == name
            )).first() is not None:  # fmt: skip
                raise DataError(f"user {name} exists", fields={"username": "taken"})
            conn.execute(
                insert(console_users).values(
                    username=name, password_hash=digest, role=role, created_at=now
                )
            )
        return User(name, role, now, None, None)

    def verify(self, username: str, password: str) -> User | None:
        """The user when the name and password match an enabled user; None otherwise."""
        name = username.strip().lower()
        with self._engine.connect() as conn:
            row = conn.execute(
                select(console_users).where(console_users.c.username == name)
            ).first()
        ok = password_matches(password, row.password_hash if row is not None else _DUMMY)
        if row is None or not ok or row.disabled_at is not None:
            return None
        now = self._clock.now()
        with self._engine.begin() as conn:
            conn.execute(
                update(console_users)
                .where(console_users.c.username == name)
                .values(last_login_at=now)
            )
        return _user(row)

    def get(self, username: str) -> User | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(console_users).where(console_users.c.username == username.strip().lower())
            ).first()
        return _user(row) if row is not None else None

    def all(self) -> list[User]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(console_users).order_by(console_users.c.username)).all()
        return [_user(row) for row in rows]

    def set_password(self, username: str, password: str) -> bool:
        """A new password; the user's sessions end (a changed password signs everyone out)."""
        return self._change(username, password_hash=hash_password(check_password(password)))

    def set_role(self, username: str, role: str) -> bool:
        """A new role; the user's sessions end, so the next sign-in carries it."""
        return self._change(username, role=check_role(role))

    def disable(self, username: str) -> bool:
        return self._change(username, disabled_at=self._clock.now())

    def enable(self, username: str) -> bool:
        return self._change(username, disabled_at=None)

    def _change(self, username: str, **values: object) -> bool:
        name = username.strip().lower()
        with self._engine.begin() as conn:
            done = conn.execute(
                update(console_users).where(console_users.c.username == name).values(**values)
            )
            conn.execute(delete(console_sessions).where(console_sessions.c.actor == f"user:{name}"))
        return done.rowcount > 0
