"""KEK rotation end to end: add a new key, re-wrap every secret, then retire the old keys.

Crash-safe at every step: the new key is written to the key file beside the old ones before any
secret moves; each secret moves in its own transaction; old keys leave the file only after no
secret uses them. Running ``rotate`` again after a crash finishes the job.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from paybridge.clock import Clock
from paybridge.errors import ConfigError
from paybridge.security.keyring import KEY_BYTES, Keyring, kek_id, read_key_file, write_key_file
from paybridge.security.vault import RotationReport, Vault


@dataclass(frozen=True)
class RotationOutcome:
    report: RotationReport
    # Old key ids still in the keyring (a secret still uses them): rotation is not finished.
    remaining_kek_ids: list[str]
    key_file_trimmed: bool


def add_key_to_file(keyring: Keyring, new_key: bytes | None = None) -> Keyring:
    """Write a new active key in front of the file's keys; the old ones stay until rotation ends."""
    if keyring.path is None:
        raise ConfigError(
            "a new key can be added to a key file only; with PAYBRIDGE_VAULT_KEK, put the new "
            "key there and the old one in PAYBRIDGE_VAULT_KEK_PREVIOUS, then run rotate",
            system="vault",
            operation="rotate",
        )
    key = new_key or secrets.token_bytes(KEY_BYTES)
    write_key_file(keyring.path, [key, *keyring.keys])
    return read_key_file(keyring.path)


def rotate(
    engine: Engine,
    keyring: Keyring,
    clock: Clock,
    *,
    new_key: bool = False,
    on_each: Callable[[str], None] | None = None,
) -> RotationOutcome:
    """Re-wrap every secret under the active key (a fresh one with ``new_key``) and retire old keys."""
    if new_key:
        keyring = add_key_to_file(keyring)
    report = Vault(engine, keyring, clock).rotate(on_each)
    retired = set(report.retired_kek_ids)
    keep = [k for k in keyring.keys if kek_id(k) == keyring.active_id or kek_id(k) not in retired]
    trimmed = False
    if keyring.path is not None and len(keep) < len(keyring.keys):
        write_key_file(keyring.path, keep)
        trimmed = True
    remaining = [kek_id(k) for k in keep if kek_id(k) != keyring.active_id]
    return RotationOutcome(report, remaining, trimmed)
