"""The secured web app over HTTP: 401/403 with JSON and no data, admin routes, card guard, limits, events."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from paybridge.security.webhooks import sign
from tests.conftest import asgi_client
from tests.integration.web.support import EVENT_SECRET, SecuredApp, secured_app

BASE = "http://paybridge.test"
pytestmark = pytest.mark.anyio


@pytest.fixture
def world(tmp_path: Path) -> SecuredApp:
    return secured_app(f"sqlite:///{tmp_path / 'pb.db'}")


async def test_health_is_open(world: SecuredApp) -> None:
    async with asgi_client(world.app, BASE) as client:
        response = await client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer pb_000000000000_" + "A" * 43],
)
async def test_no_or_bad_key_is_401_json_without_data(
    world: SecuredApp, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with asgi_client(world.app, BASE) as client:
        response = await client.get("/v1/admin/keys", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body == {"error": {"message": "a valid API key is required", "fields": {}}}
    denied = world.security.audit.search(action="auth.denied")
    assert denied and denied[0].outcome == "unauthenticated" and denied[0].client


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_too_low_a_role_is_403(world: SecuredApp, role: str) -> None:
    async with asgi_client(world.app, BASE) as client:
        response = await client.get("/v1/admin/keys", headers=world.auth(role))
        who = await client.get("/v1/admin/whoami", headers=world.auth(role))
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "this needs the admin role or higher"
    assert "key_id" not in response.text
    assert who.status_code == 200 and who.json()["role"] == role


async def test_revoked_and_expired_keys_stop_working(world: SecuredApp) -> None:
    issued = world.security.api_keys.create("admin", expires_days=1)
    headers = {"Authorization": f"Bearer {issued.token}"}
    async with asgi_client(world.app, BASE) as client:
        assert (await client.get("/v1/admin/whoami", headers=headers)).status_code == 200
        world.clock.advance(86_400)
        assert (await client.get("/v1/admin/whoami", headers=headers)).status_code == 401
        admin = world.auth("admin")
        gone = await client.delete(f"/v1/admin/keys/{issued.key.key_id}", headers=admin)
        assert gone.status_code == 200 and gone.json()["revoked_at"]
        again = await client.delete(f"/v1/admin/keys/{issued.key.key_id}", headers=admin)
        assert again.status_code == 404


async def test_admin_creates_a_key_shown_once_and_listed_without_secret(world: SecuredApp) -> None:
    async with asgi_client(world.app, BASE) as client:
        made = await client.post(
            "/v1/admin/keys", headers=world.auth("admin"), json={"role": "viewer", "label": "bi"}
        )
        assert made.status_code == 201
        token = made.json()["token"]
        listed = await client.get("/v1/admin/keys", headers=world.auth("admin"))
        mine = await client.get("/v1/admin/whoami", headers={"Authorization": f"Bearer {token}"})
    assert token not in listed.text and token[16:] not in listed.text
    assert {k["label"] for k in listed.json()} >= {"bi", "test admin"}
    assert mine.json()["role"] == "viewer"
    rows = world.security.audit.search(action="keys.create")
    assert rows[0].actor.startswith("key:") and token not in rows[0].detail


async def test_vault_metadata_only(world: SecuredApp) -> None:
    world.security.vault.set("paytrace.password", "s3cret-value")
    async with asgi_client(world.app, BASE) as client:
        listed = await client.get("/v1/admin/vault", headers=world.auth("admin"))
        one = await client.get("/v1/admin/vault/paytrace.password", headers=world.auth("admin"))
        missing = await client.get("/v1/admin/vault/none", headers=world.auth("admin"))
    assert listed.status_code == 200 and listed.json()[0]["name"] == "paytrace.password"
    assert one.json()["version"] == 1 and "s3cret-value" not in listed.text + one.text
    assert missing.status_code == 404


async def test_vault_without_a_key_is_503_not_500(tmp_path: Path) -> None:
    world = secured_app(f"sqlite:///{tmp_path / 'pb.db'}")
    world.security.keyring = None
    world.security.keyring_problem = "the vault needs a key: set PAYBRIDGE_VAULT_KEK"
    async with asgi_client(world.app, BASE) as client:
        response = await client.get("/v1/admin/vault", headers=world.auth("admin"))
    assert response.status_code == 503 and "PAYBRIDGE_VAULT_KEK" in response.text


async def test_audit_list_and_verify_over_http(world: SecuredApp) -> None:
    async with asgi_client(world.app, BASE) as client:
        await client.get("/v1/admin/keys")
        rows = await client.get(
            "/v1/admin/audit", params={"action": "auth."}, headers=world.auth("admin")
        )
        naive = await client.get(
            "/v1/admin/audit", params={"since": "2026-01-01T00:00:00"}, headers=world.auth("admin")
        )
        verify = await client.get("/v1/admin/audit/verify", headers=world.auth("admin"))
    assert rows.status_code == 200 and rows.json()[0]["action"] == "auth.denied"
    assert naive.status_code == 422 and "time zone" in naive.text
    assert verify.json()["ok"] is True and verify.json()["rows"] >= 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"card": {"number": "4012 0000 9876 5439"}, "amount": "1.00"}, "$.card.number"),
        ({"customer_id": "C1", "csc": "999"}, "$.csc"),
        ({"notes": ["ok", "pay with 5499-7400-0000-0057 please"]}, "$.notes[1]"),
        ({"n": 4012000098765439}, "$.n"),
    ],
)
async def test_card_data_in_a_body_is_refused_before_auth_and_not_logged(
    world: SecuredApp, body: dict[str, object], field: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with asgi_client(world.app, BASE) as client:
        response = await client.post("/v1/charges", json=body, headers=world.auth("operator"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"].startswith("PayBridge accepts tokens only")
    assert field in error["fields"]
    for fragment in ("9876", "7400", "999", "5439", "0057"):
        assert fragment not in response.text
    assert "9876" not in caplog.text and "7400" not in caplog.text
    refused = world.security.audit.search(action="guard.")
    assert refused and refused[0].outcome == "refused" and "9876" not in refused[0].detail


async def test_card_data_in_a_form_text_or_query_is_refused(world: SecuredApp) -> None:
    async with asgi_client(world.app, BASE) as client:
        form = await client.post("/v1/charges", data={"cc": "4012000098765439"})
        plain = await client.post(
            "/v1/charges",
            content=b"number=4012000098765439",
            headers={"content-type": "text/plain"},
        )
        query = await client.get("/v1/admin/audit", params={"actor": "4012000098765439"})
    assert [form.status_code, plain.status_code, query.status_code] == [422, 422, 422]


async def test_masked_numbers_and_ordinary_ids_pass_the_guard(world: SecuredApp) -> None:
    async with asgi_client(world.app, BASE) as client:
        response = await client.post(
            "/v1/charges",
            json={
                "card": "xxxxxxxxxxxx5439",
                "first6": "401200xxxxxx5439",
                "invoice": "INV-123456",
            },
            headers=world.auth("operator"),
        )
    assert response.status_code == 200


async def test_an_oversized_body_is_413(world: SecuredApp) -> None:
    async with asgi_client(world.app, BASE) as client:
        response = await client.post("/v1/charges", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413


async def test_charges_are_limited_per_key(world: SecuredApp) -> None:
    async with asgi_client(world.app, BASE) as client:
        codes = [
            (await client.post("/v1/charges", headers=world.auth("operator"))).status_code
            for _ in range(4)
        ]
        limited = await client.post("/v1/charges", headers=world.auth("operator"))
        other = await client.post("/v1/charges", headers=world.auth("admin"))
        viewer = await client.post("/v1/charges", headers=world.auth("viewer"))
        world.clock.advance(1.0)
        later = await client.post("/v1/charges", headers=world.auth("operator"))
    assert codes == [200, 200, 200, 429]
    assert limited.headers["retry-after"] == "1" and limited.json()["error"]["message"]
    assert other.status_code == 200 and viewer.status_code == 403 and later.status_code == 200


async def test_signed_events_verify_and_replays_are_refused(world: SecuredApp) -> None:
    body = b'{"type":"order.created"}'
    ts = int(world.clock.now().timestamp())
    headers = {
        "webhook-id": "msg_42",
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(EVENT_SECRET, "msg_42", ts, body),
        "content-type": "application/json",
    }
    async with asgi_client(world.app, BASE) as client:
        first = await client.post("/events/test", content=body, headers=headers)
        replay = await client.post("/events/test", content=body, headers=headers)
        forged = await client.post(
            "/events/test", content=body + b" ", headers={**headers, "webhook-id": "msg_43"}
        )
        carded = await client.post(
            "/events/test", content=b'{"pan":"4012000098765439"}', headers=headers
        )
    assert first.status_code == 200 and first.json() == {"webhook_id": "msg_42", "bytes": len(body)}
    assert replay.status_code == 409 and "already received" in replay.text
    assert forged.status_code == 401
    assert carded.status_code == 422
    rows = world.security.audit.search(action="webhook.")
    assert [row.outcome for row in rows] == ["refused", "replay"]
    assert "no_matching_signature" in rows[0].detail
