"""Standard Webhooks verification: signatures, tolerance, rotation, and replays refused across restarts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from paybridge.clock import ManualClock
from paybridge.config import resolve_secret
from paybridge.errors import ConfigError
from paybridge.security.keyring import Keyring
from paybridge.security.vault import Vault
from paybridge.security.webhooks import (
    SECRET_REFRESH,
    ReplayError,
    SecretRefs,
    SeenIds,
    SignatureError,
    WebhookVerifier,
    check_signature,
    new_secret,
    rotate_secret,
    secret_bytes,
    sign,
)
from paybridge.store import open_engine

NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
OTHER = "whsec_" + base64.b64encode(b"o" * 24).decode()
BODY = b'{"type":"order.created","data":{"id":"SO-1"}}'


def headers(
    body: bytes = BODY, secret: str = SECRET, at: datetime = NOW, webhook_id: str = "msg_1"
) -> dict[str, str]:
    ts = int(at.timestamp())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(secret, webhook_id, ts, body),
    }


def test_the_published_test_vector_verifies() -> None:
    # The Standard Webhooks specification's example delivery.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    hdrs = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    at = datetime.fromtimestamp(1614265330, UTC)
    assert check_signature(hdrs, body, [secret], at).webhook_id == "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_a_good_delivery_verifies() -> None:
    event = check_signature(headers(), BODY, [SECRET], NOW)
    assert event.body == BODY and event.timestamp == NOW


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"webhook-id": ""}, "missing_header"),
        ({"webhook-timestamp": "soon"}, "invalid_timestamp"),
        ({"webhook-timestamp": "99999999999999"}, "invalid_timestamp"),
        ({"webhook-id": "has space"}, "invalid_id"),
        ({"webhook-signature": "v1,AAAA"}, "no_matching_signature"),
        ({"webhook-signature": "v2,whatever"}, "no_matching_signature"),
    ],
)
def test_bad_headers_are_refused_with_a_code(change: dict[str, str], code: str) -> None:
    with pytest.raises(SignatureError) as caught:
        check_signature({**headers(), **change}, BODY, [SECRET], NOW)
    assert caught.value.code == code


def test_a_changed_body_or_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="no webhook-signature entry matches"):
        check_signature(headers(), BODY + b" ", [SECRET], NOW)
    with pytest.raises(SignatureError, match="no webhook-signature entry matches"):
        check_signature(headers(secret=OTHER), BODY, [SECRET], NOW)
    with pytest.raises(SignatureError, match="no signing secret"):
        check_signature(headers(), BODY, [], NOW)


@pytest.mark.parametrize("offset", [-301, 301, 3600])
def test_timestamps_beyond_five_minutes_either_way_are_refused(offset: int) -> None:
    with pytest.raises(SignatureError) as caught:
        check_signature(headers(at=NOW + timedelta(seconds=offset)), BODY, [SECRET], NOW)
    assert caught.value.code == "timestamp_out_of_tolerance"


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_five_minutes_pass(offset: int) -> None:
    assert check_signature(headers(at=NOW + timedelta(seconds=offset)), BODY, [SECRET], NOW)


def test_several_secrets_and_several_signatures_during_a_rotation() -> None:
    old = headers(secret=OTHER)
    new_sig = headers()["webhook-signature"]
    both = {**old, "webhook-signature": f"v1,bm9wZQ== {old['webhook-signature']} {new_sig}"}
    assert check_signature(old, BODY, [SECRET, OTHER], NOW)
    assert check_signature(both, BODY, [SECRET], NOW)
    assert check_signature(both, BODY, [OTHER], NOW)


def test_secret_forms() -> None:
    assert secret_bytes(b"raw") == b"raw"
    assert secret_bytes("plain") == b"plain"
    assert secret_bytes(SECRET) == b"k" * 24
    with pytest.raises(SignatureError, match="not base64"):
        secret_bytes("whsec_***")


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_engine(store_url)


def test_a_seen_id_is_a_replay_even_after_a_restart(engine: Engine) -> None:
    clock = ManualClock(NOW)
    verifier = WebhookVerifier(SeenIds(engine), [SECRET], clock=clock)
    assert verifier.verify(headers(), BODY).webhook_id == "msg_1"
    with pytest.raises(ReplayError) as caught:
        verifier.verify(headers(), BODY)
    assert caught.value.status == 409 and caught.value.code == "replay"
    restarted = WebhookVerifier(SeenIds(engine), lambda: [SECRET], clock=clock)
    with pytest.raises(ReplayError):
        restarted.verify(headers(), BODY)


def test_a_forged_delivery_does_not_burn_the_real_id(engine: Engine) -> None:
    verifier = WebhookVerifier(SeenIds(engine), [SECRET], clock=ManualClock(NOW))
    with pytest.raises(SignatureError):
        verifier.verify(headers(secret=OTHER), BODY)
    assert verifier.verify(headers(), BODY).webhook_id == "msg_1"


def test_seen_ids_past_the_tolerance_can_be_pruned(engine: Engine) -> None:
    seen = SeenIds(engine)
    assert seen.claim("a", "events", NOW - timedelta(hours=1))
    assert seen.claim("b", "events", NOW)
    assert seen.prune(NOW - timedelta(minutes=10)) == 1
    assert seen.claim("a", "events", NOW) is True
    assert seen.claim("b", "events", NOW) is False


def _refs(vault: Vault, clock: ManualClock, *refs: str) -> SecretRefs:
    return SecretRefs(
        "web.event_secrets.storefront",
        [SecretStr(r) for r in refs],
        lambda ref, name: resolve_secret(ref, name, {}, vault=vault.get),
        vault=lambda: vault,
        clock=clock,
    )


def _passes(verifier: WebhookVerifier, clock: ManualClock, secret: str, webhook_id: str) -> bool:
    try:
        verifier.verify(headers(secret=secret, at=clock.now(), webhook_id=webhook_id), BODY)
    except SignatureError:
        return False
    return True


def test_a_rotated_secret_applies_without_a_restart_with_an_overlap(engine: Engine) -> None:
    """Issue 14 item 8: rotating webhook secrets needed a restart; now the vault is re-read."""
    clock = ManualClock(NOW)
    vault = Vault(engine, Keyring.of([bytes(range(32))]), clock)
    vault.set("webhook.storefront", SECRET)
    secrets = _refs(vault, clock, "vault:webhook.storefront")
    assert secrets.load() == [SECRET]
    verifier = WebhookVerifier(SeenIds(engine), secrets, clock=clock)
    assert _passes(verifier, clock, SECRET, "m1")

    rotate_secret(vault, "webhook.storefront", OTHER, overlap=timedelta(hours=1), now=clock.now())
    assert not _passes(verifier, clock, OTHER, "m2")  # read again only after SECRET_REFRESH
    clock.advance(SECRET_REFRESH.total_seconds() + 1)
    assert _passes(verifier, clock, OTHER, "m3") and _passes(
        verifier, clock, SECRET, "m4"
    )  # the overlap
    clock.advance(3600)
    assert _passes(verifier, clock, OTHER, "m5") and not _passes(verifier, clock, SECRET, "m6")


def test_rotation_without_overlap_drops_the_old_secret_at_once(engine: Engine) -> None:
    clock = ManualClock(NOW)
    vault = Vault(engine, Keyring.of([bytes(range(32))]), clock)
    vault.set("webhook.storefront", SECRET)
    rotate_secret(vault, "webhook.storefront", OTHER, overlap=timedelta(hours=1), now=clock.now())
    done = rotate_secret(vault, "webhook.storefront", SECRET, overlap=timedelta(0), now=NOW)
    assert done.previous_until is None and vault.meta("webhook.storefront.previous") is None
    assert _refs(vault, clock, "vault:webhook.storefront").load() == [SECRET]
    with pytest.raises(SignatureError):
        rotate_secret(vault, "webhook.storefront", "whsec_***", overlap=timedelta(0), now=NOW)
    assert new_secret().startswith("whsec_") and len(secret_bytes(new_secret())) == 32


def test_a_deleted_secret_refuses_every_delivery_a_store_outage_does_not(engine: Engine) -> None:
    clock = ManualClock(NOW)
    vault = Vault(engine, Keyring.of([bytes(range(32))]), clock)
    vault.set("webhook.storefront", SECRET)
    secrets = _refs(vault, clock, "vault:webhook.storefront")
    verifier = WebhookVerifier(SeenIds(engine), secrets, clock=clock)
    assert _passes(verifier, clock, SECRET, "m1")
    vault.delete("webhook.storefront")
    clock.advance(SECRET_REFRESH.total_seconds() + 1)
    with pytest.raises(SignatureError) as caught:
        verifier.verify(headers(at=clock.now(), webhook_id="m2"), BODY)
    assert caught.value.code == "invalid_secret"
    with pytest.raises(ConfigError, match=r"web\.event_secrets\.storefront\[0\]"):
        secrets.load()

    calls = iter([SECRET])

    def flaky(ref: SecretStr, name: str) -> str:
        try:
            return next(calls)
        except StopIteration:
            raise OSError("the store is away") from None

    outage = SecretRefs("web.event_secrets.x", [SecretStr("env:X")], flaky, clock=clock)
    assert outage.load() == [SECRET]
    clock.advance(SECRET_REFRESH.total_seconds() + 1)
    assert list(outage()) == [SECRET]  # the last secrets stay in use
