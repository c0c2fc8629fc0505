"""Credential vault on SQLite and PostgreSQL: encrypted at rest, metadata only, crash-safe rotation."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select, update

from paybridge.clock import ManualClock
from paybridge.config import resolve_secret
from paybridge.errors import ConfigError, DataError
from paybridge.security.keyring import Keyring, kek_id, read_key_file, write_key_file
from paybridge.security.rotation import rotate
from paybridge.security.vault import Vault
from paybridge.store import open_engine
from paybridge.store.schema_security import vault_secrets

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
SECRET = "correct horse battery staple"


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_engine(store_url)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_a_secret_round_trips_and_is_not_stored_in_clear(
    engine: Engine, clock: ManualClock
) -> None:
    vault = Vault(engine, Keyring.of([OLD]), clock)
    vault.set("paytrace.password", SECRET)
    assert vault.get("paytrace.password") == SECRET
    with engine.connect() as conn:
        row = conn.execute(select(vault_secrets)).one()
    stored = b"".join(v for v in row if isinstance(v, bytes))
    assert SECRET.encode() not in stored
    assert base64.b64encode(SECRET.encode()) not in stored


def test_metadata_shows_name_times_and_key_id_never_the_value(
    engine: Engine, clock: ManualClock
) -> None:
    vault = Vault(engine, Keyring.of([OLD]), clock)
    first = vault.set("d365.client_secret", SECRET)
    clock.advance(60)
    second = vault.set("d365.client_secret", "another value")
    assert (first.version, second.version) == (1, 2)
    assert second.created_at == first.created_at and second.updated_at > first.updated_at
    meta = vault.meta("d365.client_secret")
    assert meta is not None and meta.kek_id == kek_id(OLD)
    assert set(meta.to_dict()) == {"name", "kek_id", "version", "created_at", "updated_at"}
    assert SECRET not in repr(vault.all()) and "another value" not in repr(meta)
    assert vault.get("d365.client_secret") == "another value"


def test_missing_secret_and_bad_names(engine: Engine) -> None:
    vault = Vault(engine, Keyring.of([OLD]))
    with pytest.raises(ConfigError, match="no secret named 'nope'"):
        vault.get("nope")
    assert vault.meta("nope") is None
    with pytest.raises(DataError):
        vault.set("bad name with spaces", "x")
    with pytest.raises(DataError):
        vault.set("empty", "")
    assert vault.delete("nope") is False


def test_wrong_key_or_moved_ciphertext_does_not_open_and_says_nothing_secret(
    engine: Engine,
) -> None:
    vault = Vault(engine, Keyring.of([OLD]))
    vault.set("a", SECRET)
    vault.set("b", "other")
    with engine.begin() as conn:
        row_a = conn.execute(select(vault_secrets).where(vault_secrets.c.name == "a")).one()
        conn.execute(
            update(vault_secrets)
            .where(vault_secrets.c.name == "b")
            .values(wrapped_key=row_a.wrapped_key, ciphertext=row_a.ciphertext)
        )
    with pytest.raises(ConfigError, match="does not decrypt") as caught:
        vault.get("b")
    assert SECRET not in str(caught.value)
    with pytest.raises(ConfigError, match="no vault key with id"):
        Vault(engine, Keyring.of([NEW])).get("a")


def test_rotation_rewraps_everything_and_retires_the_old_key(engine: Engine) -> None:
    Vault(engine, Keyring.of([OLD])).set("one", "1")
    Vault(engine, Keyring.of([OLD])).set("two", "2")
    both = Vault(engine, Keyring.of([NEW, OLD]))
    report = both.rotate()
    assert (report.rewrapped, report.already_current) == (2, 0)
    assert report.retired_kek_ids == [kek_id(OLD)]
    only_new = Vault(engine, Keyring.of([NEW]))
    assert [only_new.get("one"), only_new.get("two")] == ["1", "2"]
    assert {m.kek_id for m in only_new.all()} == {kek_id(NEW)}


def test_a_rotation_stopped_half_way_leaves_every_secret_readable(engine: Engine) -> None:
    old_vault = Vault(engine, Keyring.of([OLD]))
    for n in range(4):
        old_vault.set(f"s{n}", f"value {n}")
    both = Vault(engine, Keyring.of([NEW, OLD]))

    def crash_after_two(name: str) -> None:
        if name == "s1":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        both.rotate(crash_after_two)
    assert sorted(m.kek_id for m in both.all()) == sorted([kek_id(NEW)] * 2 + [kek_id(OLD)] * 2)
    assert [both.get(f"s{n}") for n in range(4)] == [f"value {n}" for n in range(4)]
    finished = both.rotate()
    assert (finished.rewrapped, finished.already_current) == (2, 2)
    assert finished.retired_kek_ids == [kek_id(OLD)]


def test_key_file_rotation_adds_a_key_moves_secrets_then_trims_the_file(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "vault.key"
    write_key_file(path, [OLD])
    ring = read_key_file(path)
    Vault(engine, ring).set("paytrace.password", SECRET)
    outcome = rotate(engine, ring, ManualClock(), new_key=True)
    after = read_key_file(path)
    assert outcome.key_file_trimmed and outcome.remaining_kek_ids == []
    assert len(after.keys) == 1 and after.active != OLD
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert Vault(engine, after).get("paytrace.password") == SECRET


def test_env_keyring_cannot_add_a_key_itself(engine: Engine) -> None:
    with pytest.raises(ConfigError, match="PAYBRIDGE_VAULT_KEK_PREVIOUS"):
        rotate(engine, Keyring.of([OLD]), ManualClock(), new_key=True)


def test_settings_resolve_vault_references(engine: Engine) -> None:
    vault = Vault(engine, Keyring.of([OLD]))
    vault.set("paytrace.password", SECRET)
    ref = SecretStr("vault:paytrace.password")
    assert resolve_secret(ref, "paytrace.password", {}, vault=vault.resolver()) == SECRET
    with pytest.raises(ConfigError, match=r"dynamics.client_secret: vault: no secret named 'x'"):
        resolve_secret(SecretStr("vault:x"), "dynamics.client_secret", {}, vault=vault.get)
    with pytest.raises(ConfigError, match="none was opened"):
        resolve_secret(ref, "paytrace.password", {})
    assert resolve_secret(SecretStr("env:P"), "p", {"P": "v"}, vault=vault.get) == "v"
