"""Key-encryption keys for the vault: loaded from the environment or a 0600 key file, with key ids.

A keyring holds one active KEK (new secrets and rotation wrap under it) and any number of older
ones that stay readable until a rotation has moved every secret off them. Sources, in order:

* ``PAYBRIDGE_VAULT_KEK``: base64 of 32 bytes, the active key;
  ``PAYBRIDGE_VAULT_KEK_PREVIOUS``: comma-separated older keys, during a rotation;
* ``PAYBRIDGE_VAULT_KEY_FILE``: a file, mode 0600, one base64 key per line, the first active.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from paybridge.errors import ConfigError

ENV_KEK = "PAYBRIDGE_VAULT_KEK"
ENV_PREVIOUS = "PAYBRIDGE_VAULT_KEK_PREVIOUS"
ENV_KEY_FILE = "PAYBRIDGE_VAULT_KEY_FILE"
KEY_BYTES = 32


def _error(message: str) -> ConfigError:
    return ConfigError(message, system="vault", operation="keyring")


def kek_id(key: bytes) -> str:
    """A public name for a key: a hash that identifies it without revealing it."""
    return hashlib.sha256(b"paybridge-vault-kek:" + key).hexdigest()[:16]


def decode_key(text: str, source: str) -> bytes:
    """32 bytes from base64 ``text``; the error names ``source``, never the text."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _error(f"{source}: not valid base64") from None
    if len(key) != KEY_BYTES:
        raise _error(f"{source}: a vault key is {KEY_BYTES} bytes, this one is {len(key)}")
    return key


def new_key_text() -> str:
    """A fresh random KEK as base64, for a key file or an environment variable."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


@dataclass(frozen=True)
class Keyring:
    """The active KEK first, then older ones still readable; looked up by key id."""

    keys: tuple[bytes, ...]
    source: str = "memory"
    # Set when the keyring came from a key file, so that rotation can rewrite that file.
    path: Path | None = None

    def __post_init__(self) -> None:
        if not self.keys:
            raise _error("the vault keyring is empty")

    @property
    def active_id(self) -> str:
        return kek_id(self.keys[0])

    @property
    def active(self) -> bytes:
        return self.keys[0]

    @property
    def ids(self) -> list[str]:
        return [kek_id(key) for key in self.keys]

    def key(self, key_id: str) -> bytes:
        for key in self.keys:
            if kek_id(key) == key_id:
                return key
        raise _error(
            f"no vault key with id {key_id} in {self.source}; keep the old key until "
            "`paybridge vault rotate` has finished"
        )

    @classmethod
    def of(cls, keys: Sequence[bytes], source: str = "memory", path: Path | None = None) -> Keyring:
        unique = tuple(dict.fromkeys(keys))
        for key in unique:
            if len(key) != KEY_BYTES:
                raise _error(f"{source}: a vault key is {KEY_BYTES} bytes")
        return cls(unique, source, path)


def check_key_file_mode(path: Path) -> None:
    """Refuse a key file that anyone but its owner can read or write."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise _error(f"vault key file {path}: {exc.strerror}") from None
    if stat.S_IMODE(mode) & 0o077:
        raise _error(
            f"vault key file {path} has mode {stat.S_IMODE(mode):04o}; it must be 0600 "
            f"(chmod 600 {path})"
        )


def read_key_file(path: Path) -> Keyring:
    check_key_file_mode(path)
    lines = [
        line.strip()
        for line in path.read_text(encoding="ascii").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    keys = [decode_key(line, f"vault key file {path} line {n + 1}") for n, line in enumerate(lines)]
    if not keys:
        raise _error(f"vault key file {path} holds no key")
    return Keyring.of(keys, f"vault key file {path}", path)


def write_key_file(path: Path, keys: Sequence[bytes]) -> None:
    """Replace the key file atomically, created 0600 from the start (never readable by others)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        body = "".join(base64.b64encode(key).decode("ascii") + "\n" for key in keys)
        os.write(fd, body.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def load_keyring(environ: Mapping[str, str] | None = None) -> Keyring:
    """The keyring from the environment (see the module doc); a ConfigError says what is missing."""
    env = os.environ if environ is None else environ
    if env.get(ENV_KEK):
        keys = [decode_key(env[ENV_KEK], ENV_KEK)]
        previous = [p for p in env.get(ENV_PREVIOUS, "").split(",") if p.strip()]
        keys += [decode_key(p, f"{ENV_PREVIOUS} item {n + 1}") for n, p in enumerate(previous)]
        return Keyring.of(keys, ENV_KEK)
    if env.get(ENV_KEY_FILE):
        return read_key_file(Path(env[ENV_KEY_FILE]))
    raise _error(
        f"the vault needs a key: set {ENV_KEK} (base64 of 32 bytes) or {ENV_KEY_FILE} "
        "(a 0600 file); `paybridge vault new-key` makes one"
    )
