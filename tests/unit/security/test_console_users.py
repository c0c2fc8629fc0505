"""Console users and sessions: scrypt hashes only, disabled users and changed roles signed out,
sessions found by the hash of their token and ended when idle or too old."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from paybridge.clock import ManualClock
from paybridge.errors import DataError
from paybridge.security.sessions import ABSOLUTE, IDLE, Sessions
from paybridge.security.users import Users, hash_password, password_matches
from paybridge.store import open_engine
from paybridge.store.schema_console import console_sessions, console_users

PASSWORD = "twelve chars or more"


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_engine(store_url)


def test_a_password_is_kept_as_a_salted_scrypt_hash_only(engine: Engine) -> None:
    users = Users(engine, ManualClock())
    users.add("Alice", PASSWORD, "operator")
    users.add("bob", PASSWORD, "viewer")
    with engine.connect() as conn:
        rows = conn.execute(select(console_users).order_by(console_users.c.username)).all()
    assert [r.username for r in rows] == ["alice", "bob"]
    hashes = [r.password_hash for r in rows]
    assert all(h.startswith("scrypt$32768$8$1$") and PASSWORD not in h for h in hashes)
    assert hashes[0] != hashes[1]  # salted
    assert password_matches(PASSWORD, hashes[0]) and not password_matches(PASSWORD + "x", hashes[0])


def test_hashes_made_with_other_parameters_still_verify() -> None:
    old = hash_password(PASSWORD, n=2**12)
    assert old.startswith("scrypt$4096$") and password_matches(PASSWORD, old)
    assert not password_matches(PASSWORD, "md5$whatever") and not password_matches(PASSWORD, "")


def test_verify_names_the_user_only_for_the_right_password_of_an_enabled_user(
    engine: Engine,
) -> None:
    clock = ManualClock()
    users = Users(engine, clock)
    users.add("alice", PASSWORD, "admin")
    found = users.verify(" ALICE ", PASSWORD)
    assert found is not None and found.role == "admin"
    assert users.get("alice").last_login_at == clock.now()  # type: ignore[union-attr]
    assert users.verify("alice", "wrong password") is None
    assert users.verify("nobody", PASSWORD) is None
    assert users.disable("alice") and users.verify("alice", PASSWORD) is None
    assert users.enable("alice") and users.verify("alice", PASSWORD) is not None


@pytest.mark.parametrize(
    ("name", "password", "role", "field"),
    [("a b", PASSWORD, "viewer", "username"), ("ok", "short", "viewer", "password"),
     ("ok", PASSWORD, "root", "role")],
)  # fmt: skip
def test_bad_names_passwords_and_roles_are_refused(
    engine: Engine, name: str, password: str, role: str, field: str
) -> None:
    with pytest.raises(DataError) as caught:
        Users(engine).add(name, password, role)
    assert field in caught.value.fields


def test_a_name_is_taken_once(engine: Engine) -> None:
    users = Users(engine)
    users.add("alice", PASSWORD, "viewer")
    with pytest.raises(DataError, match="exists"):
        users.add("Alice", PASSWORD, "admin")


def test_a_session_is_found_by_its_token_hash_and_ends_idle_or_old(engine: Engine) -> None:
    clock = ManualClock()
    sessions = Sessions(engine, clock)
    opened = sessions.open("user:alice", "operator")
    with engine.connect() as conn:
        (stored,) = conn.execute(select(console_sessions)).all()
    assert opened.token not in repr(tuple(stored)) and len(stored.token_hash) == 64
    found = sessions.get(opened.token)
    assert found is not None and found.role == "operator" and found.csrf == opened.session.csrf
    assert sessions.get(opened.token + "x") is None and sessions.get("") is None

    # Used every 20 minutes it stays, until the absolute limit.
    used = 0.0
    while used + 1200 < ABSOLUTE.total_seconds():
        clock.advance(1200)
        used += 1200
        assert sessions.get(opened.token) is not None, used
    clock.advance(ABSOLUTE.total_seconds() - used + 1)
    assert sessions.get(opened.token) is None

    idle = sessions.open("user:alice", "viewer")
    clock.advance(IDLE.total_seconds() + 1)
    assert sessions.get(idle.token) is None


def test_sign_out_a_new_role_or_password_or_disabling_ends_sessions(engine: Engine) -> None:
    clock = ManualClock()
    users, sessions = Users(engine, clock), Sessions(engine, clock)
    users.add("alice", PASSWORD, "operator")
    for change in (
        lambda: users.set_role("alice", "viewer"),
        lambda: users.set_password("alice", PASSWORD + "!"),
        lambda: users.disable("alice"),
    ):
        opened = sessions.open("user:alice", "operator")
        other = sessions.open("user:bob", "viewer")
        assert change()
        assert sessions.get(opened.token) is None and sessions.get(other.token) is not None
    opened = sessions.open("key:abc", "viewer")
    assert sessions.close(opened.token) and sessions.get(opened.token) is None
    assert not users.set_role("nobody", "viewer")
