"""The credential vault: secrets in the store under AES-256-GCM envelope encryption, with rotation.

Each secret has its own random data key (DEK); the value is sealed under the DEK and the DEK is
wrapped under the keyring's active key-encryption key (KEK). Both seals bind the secret's name as
associated data, so a ciphertext moved to another row does not open. Rotation re-wraps one DEK per
transaction: a rotation stopped half-way leaves every row under a KEK the keyring still holds.
Values are returned only by ``get``; metadata, errors and logs never carry them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, delete, func, insert, select, update

from paybridge.clock import Clock, SystemClock
from paybridge.errors import ConfigError, DataError
from paybridge.security.keyring import Keyring
from paybridge.store.schema_security import vault_secrets

NONCE_BYTES = 12
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,119}$")


@dataclass(frozen=True)
class SecretMeta:
    """What may be shown about a secret: never its value."""

    name: str
    kek_id: str
    version: int
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kek_id": self.kek_id,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class RotationReport:
    rewrapped: int
    already_current: int
    active_kek_id: str
    retired_kek_ids: list[str]


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)


def _dek_aad(name: str, kek: str) -> bytes:
    return f"paybridge-vault-dek|{name}|{kek}".encode()


def _value_aad(name: str) -> bytes:
    return f"paybridge-vault-value|{name}".encode()


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise DataError(
            "a vault name is 1-120 letters, digits and _ . : / -, starting with a letter or digit",
            fields={"name": "invalid"},
            system="vault",
        )
    return name


def _meta(row: object) -> SecretMeta:
    return SecretMeta(
        name=row.name,  # type: ignore[attr-defined]
        kek_id=row.kek_id,  # type: ignore[attr-defined]
        version=row.version,  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        updated_at=row.updated_at,  # type: ignore[attr-defined]
    )


class Vault:
    """Encrypted secrets in the store; ``get`` is the only way a value comes out."""

    def __init__(self, engine: Engine, keyring: Keyring, clock: Clock | None = None) -> None:
        self._engine = engine
        self._keyring = keyring
        self._clock = clock or SystemClock()

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def set(self, name: str, value: str) -> SecretMeta:
        """Store or replace a secret under a fresh DEK wrapped by the active KEK."""
        check_name(name)
        if not value:
            raise DataError("a vault secret cannot be empty", fields={"value": "empty"})
        dek = AESGCM.generate_key(bit_length=256)
        kek = self._keyring.active_id
        row = {
            "kek_id": kek,
            "wrapped_key": _seal(self._keyring.active, dek, _dek_aad(name, kek)),
            "ciphertext": _seal(dek, value.encode("utf-8"), _value_aad(name)),
            "updated_at": self._clock.now(),
        }
        with self._engine.begin() as conn:
            found = conn.execute(
                select(vault_secrets.c.version).where(vault_secrets.c.name == name)
            ).first()
            if found is None:
                conn.execute(
                    insert(vault_secrets).values(
                        name=name, version=1, created_at=row["updated_at"], **row
                    )
                )
            else:
                conn.execute(
                    update(vault_secrets)
                    .where(vault_secrets.c.name == name)
                    .values(version=found.version + 1, **row)
                )
        meta = self.meta(name)
        assert meta is not None
        return meta

    def get(self, name: str) -> str:
        """The secret's value; a ConfigError names the secret when it is missing or unreadable."""
        with self._engine.connect() as conn:
            row = conn.execute(select(vault_secrets).where(vault_secrets.c.name == name)).first()
        if row is None:
            raise ConfigError(f"vault: no secret named {name!r}", system="vault", operation="get")
        try:
            dek = _open(self._keyring.key(row.kek_id), row.wrapped_key, _dek_aad(name, row.kek_id))
            return _open(dek, row.ciphertext, _value_aad(name)).decode("utf-8")
        except InvalidTag:
            raise ConfigError(
                f"vault: secret {name!r} does not decrypt under key {row.kek_id} "
                "(wrong key or tampered row)",
                system="vault",
                operation="get",
            ) from None

    def meta(self, name: str) -> SecretMeta | None:
        """Name, key id, version and times of a secret; never its value. None when absent."""
        with self._engine.connect() as conn:
            row = conn.execute(select(vault_secrets).where(vault_secrets.c.name == name)).first()
        return _meta(row) if row is not None else None

    def all(self) -> list[SecretMeta]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(vault_secrets).order_by(vault_secrets.c.name)).all()
        return [_meta(row) for row in rows]

    def delete(self, name: str) -> bool:
        with self._engine.begin() as conn:
            gone = conn.execute(delete(vault_secrets).where(vault_secrets.c.name == name))
        return gone.rowcount > 0

    def rotate(self, on_each: Callable[[str], None] | None = None) -> RotationReport:
        """Re-wrap every DEK under the active KEK, one row per transaction (crash-safe)."""
        active = self._keyring.active_id
        rewrapped = current = 0
        for meta in self.all():
            if meta.kek_id == active:
                current += 1
                continue
            if self._rewrap(meta.name, active):
                rewrapped += 1
            if on_each is not None:
                on_each(meta.name)
        return RotationReport(rewrapped, current, active, self._retired(active))

    def _rewrap(self, name: str, active: str) -> bool:
        with self._engine.begin() as conn:
            row = conn.execute(
                select(vault_secrets.c.kek_id, vault_secrets.c.wrapped_key).where(
                    vault_secrets.c.name == name
                )
            ).first()
            if row is None or row.kek_id == active:
                return False
            try:
                dek = _open(
                    self._keyring.key(row.kek_id), row.wrapped_key, _dek_aad(name, row.kek_id)
                )
            except InvalidTag:
                raise ConfigError(
                    f"vault: cannot rotate {name!r}: its key does not open it (tampered row?)",
                    system="vault",
                    operation="rotate",
                ) from None
            conn.execute(
                update(vault_secrets)
                .where(vault_secrets.c.name == name, vault_secrets.c.kek_id == row.kek_id)
                .values(
                    kek_id=active,
                    wrapped_key=_seal(self._keyring.active, dek, _dek_aad(name, active)),
                )
            )
        return True

    def _retired(self, active: str) -> list[str]:
        """Older KEK ids that no secret uses any more: safe to remove from the keyring."""
        with self._engine.connect() as conn:
            used = {
                row.kek_id
                for row in conn.execute(
                    select(vault_secrets.c.kek_id, func.count()).group_by(vault_secrets.c.kek_id)
                )
            }
        return [kid for kid in self._keyring.ids if kid != active and kid not in used]

    def resolver(self) -> Callable[[str], str]:
        """``name -> value``, for ``paybridge.config.resolve_secret(..., vault=...)``."""
        return self.get
