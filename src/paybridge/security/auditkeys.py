"""The audit chain's HMAC keys and its anchor: the newest (seq, hmac) kept outside the table.

Keys come, in order, from ``PAYBRIDGE_AUDIT_KEY`` (base64 of 32 bytes; older ones in
``PAYBRIDGE_AUDIT_KEY_PREVIOUS``, comma-separated) or from a key file (``PAYBRIDGE_AUDIT_KEY_FILE``,
else the ``audit.key_file`` setting, else beside the store): mode 0600, one base64 key per line,
the first active. Each row names its key by id, so rotation puts a new key in front and keeps the
old ones, which the rows written under them need for as long as the rows are kept.

The anchor file (``PAYBRIDGE_AUDIT_ANCHOR_FILE``, else ``audit.anchor_file``, else beside the
store) holds the newest row's seq and hmac, signed with the key, so that cutting rows
from the end of the table is seen by ``verify`` even though every remaining row still chains.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from paybridge.errors import ConfigError
from paybridge.security.keyring import write_key_file
from paybridge.security.settings import AuditSettings

ENV_KEY = "PAYBRIDGE_AUDIT_KEY"
ENV_PREVIOUS = "PAYBRIDGE_AUDIT_KEY_PREVIOUS"
ENV_KEY_FILE = "PAYBRIDGE_AUDIT_KEY_FILE"
ENV_ANCHOR_FILE = "PAYBRIDGE_AUDIT_ANCHOR_FILE"
KEY_BYTES = 32


def _error(message: str) -> ConfigError:
    return ConfigError(message, system="audit", operation="keys")


def audit_key_id(key: bytes) -> str:
    """A public name for an audit key, stored on each row it signs and logged with the head.

    Base32, not hex: 16 hex digits can hold a run that a card-number scan would flag.
    """
    digest = hashlib.sha256(b"paybridge-audit-key:" + key).digest()
    return base64.b32encode(digest[:10]).decode("ascii").lower()


def _decode(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _error(f"{source}: not valid base64") from None
    if len(key) != KEY_BYTES:
        raise _error(f"{source}: an audit key is {KEY_BYTES} bytes, this one is {len(key)}")
    return key


@dataclass(frozen=True)
class AuditLocations:
    """Where the key file and the anchor are, and the setting to name when one is wrong."""

    key_file: Path
    anchor_file: Path
    key_setting: str = "audit.key_file"
    anchor_setting: str = "audit.anchor_file"


def audit_locations(
    store_url: str | URL,
    settings: AuditSettings | None = None,
    environ: Mapping[str, str] | None = None,
) -> AuditLocations:
    """The configured files, or defaults beside a SQLite store (``var/`` for other databases)."""
    env = os.environ if environ is None else environ
    url = make_url(store_url) if isinstance(store_url, str) else store_url
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        base = Path(database)
        key, head = (
            base.with_name(base.name + ".audit.key"),
            base.with_name(base.name + ".audit-head"),
        )
    else:
        # One anchor per database (tests and tenants may share a host), one key file for all.
        tag = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:12]
        key, head = Path("var/audit.key"), Path(f"var/audit-head-{tag}")
    settings = settings or AuditSettings()
    key_setting = "audit.key_file"
    if env.get(ENV_KEY_FILE):
        key, key_setting = Path(env[ENV_KEY_FILE]), ENV_KEY_FILE
    elif settings.key_file is not None:
        key = settings.key_file
    anchor_setting = "audit.anchor_file"
    if env.get(ENV_ANCHOR_FILE):
        head, anchor_setting = Path(env[ENV_ANCHOR_FILE]), ENV_ANCHOR_FILE
    elif settings.anchor_file is not None:
        head = settings.anchor_file
    return AuditLocations(key, head, key_setting, anchor_setting)


class AuditKeys:
    """The audit keyring, re-read when its file changes (a rotation by another process)."""

    def __init__(self, locations: AuditLocations, environ: Mapping[str, str] | None = None) -> None:
        self.locations = locations
        self._env = os.environ if environ is None else environ
        self._cache: tuple[tuple[int, int], tuple[bytes, ...]] | None = None

    @property
    def source(self) -> str:
        if self._env.get(ENV_KEY):
            return ENV_KEY
        return f"{self.locations.key_setting} ({self.locations.key_file})"

    def keys(self) -> tuple[bytes, ...]:
        """Every key, the active one first; empty when none was made yet."""
        if self._env.get(ENV_KEY):
            keys = [_decode(self._env[ENV_KEY], ENV_KEY)]
            previous = [p for p in self._env.get(ENV_PREVIOUS, "").split(",") if p.strip()]
            keys += [_decode(p, f"{ENV_PREVIOUS} item {n + 1}") for n, p in enumerate(previous)]
            return tuple(keys)
        return self._file_keys()

    def _file_keys(self) -> tuple[bytes, ...]:
        path = self.locations.key_file
        try:
            info = path.stat()
        except FileNotFoundError:
            return ()
        except OSError as exc:
            raise _error(f"{self.source}: {exc.strerror}") from None
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise _error(
                f"{self.source} has mode {stat.S_IMODE(info.st_mode):04o}; it must be 0600 "
                f"(chmod 600 {path})"
            )
        version = (info.st_mtime_ns, info.st_size)
        if self._cache is not None and self._cache[0] == version:
            return self._cache[1]
        lines = [
            line.strip()
            for line in path.read_text(encoding="ascii").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        keys = tuple(_decode(line, f"{self.source} line {n + 1}") for n, line in enumerate(lines))
        if not keys:
            raise _error(f"{self.source} holds no key")
        self._cache = (version, keys)
        return keys

    def file_made(self) -> bool:
        """True when the keys come from a key file that exists (made with the first keyed row)."""
        return not self._env.get(ENV_KEY) and self.locations.key_file.exists()

    def get(self, key_id: str) -> bytes | None:
        return next((k for k in self.keys() if audit_key_id(k) == key_id), None)

    def active(self) -> bytes | None:
        keys = self.keys()
        return keys[0] if keys else None

    def create(self) -> tuple[bytes, bool]:
        """The first key, in a new 0600 file, and whether this call made it; writers racing
        (processes or threads) all end with the one key that won."""
        if self._env.get(ENV_KEY):
            raise _error(f"{ENV_KEY} is set but holds no key")
        path = self.locations.key_file
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.new")  # threads race too
        write_key_file(tmp, [key])
        try:
            os.link(tmp, path)  # atomic, and refused when another process made the file first
        except FileExistsError:
            active = self.active()
            if active is None:
                raise _error(f"{self.source} holds no key") from None
            return active, False
        finally:
            tmp.unlink(missing_ok=True)
        return key, True

    def rotate(self) -> str:
        """A fresh active key in front of the file's keys (all kept); its id."""
        if self._env.get(ENV_KEY):
            raise _error(
                f"the audit key comes from {ENV_KEY}: put a new key there and the old ones in "
                f"{ENV_PREVIOUS} (never drop one while rows signed with it are kept)"
            )
        old = self.keys()
        key = secrets.token_bytes(KEY_BYTES)
        self.locations.key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_key_file(self.locations.key_file, [key, *old])
        return audit_key_id(key)


@dataclass(frozen=True)
class Head:
    """The newest row as the anchor saw it."""

    seq: int
    hmac: str
    key_id: str


def _anchor_sig(key: bytes, head: Head) -> str:
    text = f"paybridge-audit-anchor|{head.seq}|{head.hmac}|{head.key_id}".encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


class AnchorError(Exception):
    """The anchor file exists but cannot be read as one."""


class Anchor:
    """The anchor file: the head, signed; advanced only forward, under a file lock."""

    def __init__(self, path: Path, setting: str = "audit.anchor_file") -> None:
        self.path = path
        self.setting = setting

    @property
    def name(self) -> str:
        return f"{self.setting} ({self.path})"

    def read(self, keys: AuditKeys) -> Head | None:
        """The anchored head, None when there is no anchor; AnchorError when it is not genuine."""
        try:
            data = json.loads(self.path.read_text(encoding="ascii"))
            head = Head(int(data["seq"]), str(data["hmac"]), str(data["key_id"]))
            sig = str(data["sig"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise AnchorError(f"the anchor {self.name} is unreadable") from None
        key = keys.get(head.key_id)
        if key is None:
            raise AnchorError(f"the anchor {self.name} names audit key {head.key_id}, not held")
        if not hmac.compare_digest(sig, _anchor_sig(key, head)):
            raise AnchorError(f"the anchor {self.name} was altered (its signature does not hold)")
        return head

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The anchor's lock (an flock, so threads and processes alike take turns)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def start(self, key: bytes) -> None:
        """The anchor of a chain with no keyed row yet (seq 0); with the lock held, by whoever
        makes the first key, so that from then on a missing anchor means a removed one."""
        if not self.path.exists():
            self._write(Head(0, "", audit_key_id(key)), key)

    def advance(self, head: Head, key: bytes, keys: AuditKeys) -> str:
        """Write ``head`` unless the anchor is already there or beyond; what happened:

        ``advanced``, ``created`` (there was no anchor), ``ahead`` (another writer's newer row is
        anchored) or ``unreadable`` (left as it is, for ``verify`` to report).
        """
        with self.locked():
            try:
                current = self.read(keys)
            except AnchorError:
                return "unreadable"
            if current is not None and current.seq >= head.seq:
                return "ahead"
            self._write(head, key)
            return "created" if current is None else "advanced"

    def _write(self, head: Head, key: bytes) -> None:
        body = {**vars(head), "sig": _anchor_sig(key, head)}
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, json.dumps(body, sort_keys=True).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
