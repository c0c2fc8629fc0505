"""API keys: shown once, stored as a salted hash, roles ordered, expiry and revocation honoured."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from paybridge.clock import ManualClock
from paybridge.errors import DataError
from paybridge.security.apikeys import ApiKeys, role_allows
from paybridge.security.ratelimit import RateLimiter
from paybridge.store import open_engine
from paybridge.store.schema_security import api_keys


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_engine(store_url)


def test_a_key_verifies_and_only_its_salted_hash_is_stored(engine: Engine) -> None:
    keys = ApiKeys(engine, ManualClock())
    issued = keys.create("operator", label="storefront")
    assert issued.token.startswith(f"pb_{issued.key.key_id}_")
    found = keys.verify(issued.token)
    assert found is not None and found.role == "operator" and found.label == "storefront"
    secret = issued.token[len("pb_") + 12 + 1 :]
    assert len(secret) == 43
    with engine.connect() as conn:
        row = conn.execute(select(api_keys)).one()
    dump = repr(tuple(row))
    assert issued.token not in dump and secret not in dump
    assert len(row.salt) == 16 and len(row.digest) == 32


def test_two_keys_never_share_a_salt_or_digest(engine: Engine) -> None:
    keys = ApiKeys(engine)
    keys.create("viewer")
    keys.create("viewer")
    with engine.connect() as conn:
        rows = conn.execute(select(api_keys.c.salt, api_keys.c.digest)).all()
    assert rows[0].salt != rows[1].salt and rows[0].digest != rows[1].digest


@pytest.mark.parametrize(
    "token",
    ["", "pb_", "Bearer x", "pb_000000000000_" + "A" * 43, "pb_zzzzzzzzzzzz_" + "A" * 43],
)
def test_malformed_or_unknown_tokens_are_refused(engine: Engine, token: str) -> None:
    ApiKeys(engine).create("admin")
    assert ApiKeys(engine).verify(token) is None


def test_a_changed_secret_part_is_refused(engine: Engine) -> None:
    keys = ApiKeys(engine)
    token = keys.create("admin").token
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert keys.verify(flipped) is None


def test_expiry_and_revocation(engine: Engine) -> None:
    clock = ManualClock()
    keys = ApiKeys(engine, clock)
    expiring = keys.create("viewer", expires_days=1)
    revoked = keys.create("admin")
    assert keys.verify(expiring.token) is not None
    assert keys.revoke(revoked.key.key_id) is True
    revoked_at = clock.now()
    assert keys.revoke(revoked.key.key_id) is False
    assert keys.verify(revoked.token) is None
    clock.advance(86_400)
    assert keys.verify(expiring.token) is None
    listed = {k.key_id: k for k in keys.all()}
    assert listed[revoked.key.key_id].revoked_at == revoked_at
    assert listed[expiring.key.key_id].last_used_at is not None


def test_bad_roles_and_expiry_are_data_errors(engine: Engine) -> None:
    keys = ApiKeys(engine)
    with pytest.raises(DataError, match="role must be one of viewer, operator, admin"):
        keys.create("root")
    with pytest.raises(DataError):
        keys.create("viewer", expires_days=0)


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        ("viewer", "viewer", True), ("viewer", "operator", False), ("viewer", "admin", False),
        ("operator", "viewer", True), ("operator", "operator", True), ("operator", "admin", False),
        ("admin", "viewer", True), ("admin", "operator", True), ("admin", "admin", True),
        ("root", "viewer", False),
    ],
)  # fmt: skip
def test_roles_are_ordered(held: str, needed: str, allowed: bool) -> None:
    assert role_allows(held, needed) is allowed


def test_rate_limiter_allows_a_burst_then_the_rate() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k") == pytest.approx(0.5)
    assert limiter.take("other") == 0.0
    clock.advance(0.5)
    assert limiter.take("k") == 0.0
    assert limiter.take("k") > 0
    clock.advance(10)
    assert [limiter.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(rate=0, burst=1)
