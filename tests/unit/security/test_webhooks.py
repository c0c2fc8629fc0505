"""Standard Webhooks verification: signatures, tolerance, rotation, and replays refused across restarts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from paybridge.clock import ManualClock
from paybridge.security.webhooks import (
    ReplayError,
    SeenIds,
    SignatureError,
    WebhookVerifier,
    check_signature,
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
