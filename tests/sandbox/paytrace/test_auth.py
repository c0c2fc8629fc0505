"""OAuth password grant, bearer checks, token expiry on the sandbox clock, integrator id, bad bodies."""

from __future__ import annotations

import re

import pytest

from paybridge_sandbox.paytrace import PayTraceSandboxSettings
from tests.sandbox.paytrace.conftest import INTEGRATOR, VISA, Harness, parse

pytestmark = pytest.mark.anyio
TOKEN = re.compile(r"^[0-9a-f]+:[0-9a-f]+:[0-9a-f]{64}$")
GRANT = {"grant_type": "password", "username": "sandbox", "password": "sandbox"}


async def test_form_grant_returns_a_doorkeeper_token(pt: Harness) -> None:
    response = await pt.client.post("/oauth/token", data=GRANT)
    body = response.json()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert set(body) == {"access_token", "token_type", "expires_in", "created_at"}
    assert TOKEN.match(body["access_token"])
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 7200
    assert body["created_at"] == int(pt.clock.now().timestamp())


@pytest.mark.parametrize("style", ["json", "query", "multipart"])
async def test_json_query_and_multipart_grants_are_accepted(pt: Harness, style: str) -> None:
    if style == "json":
        response = await pt.client.post("/oauth/token", json=GRANT)
    elif style == "query":
        response = await pt.client.post("/oauth/token", params=GRANT)
    else:
        response = await pt.client.post(
            "/oauth/token", files={k: (None, v) for k, v in GRANT.items()}
        )
    assert response.status_code == 200, response.text
    assert TOKEN.match(response.json()["access_token"])


async def test_bad_password_is_invalid_grant_with_doorkeeper_text(pt: Harness) -> None:
    response = await pt.client.post("/oauth/token", data={**GRANT, "password": "nope"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": (
            "The provided authorization grant is invalid, expired, revoked, does not match the "
            "redirection URI used in the authorization request, or was issued to another client."
        ),
    }


async def test_other_grant_types_are_refused(pt: Harness) -> None:
    response = await pt.client.post(
        "/oauth/token", data={**GRANT, "grant_type": "client_credentials"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_missing_unknown_and_lowercase_bearer_are_401(pt: Harness) -> None:
    token = await pt.token()
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"bearer {token}"}):
        response = await pt.client.post("/v1/transactions/export/by_id", json={}, headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "error": "invalid_token",
            "error_description": "The access token is invalid",
        }
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_token_expires_after_its_lifetime_on_the_sandbox_clock(pt: Harness) -> None:
    token = await pt.token()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"integrator_id": INTEGRATOR, "start_date": "01/15/2026", "end_date": "01/15/2026"}
    path = "/v1/transactions/export/by_date_range"
    pt.clock.advance(7199)
    assert (await pt.client.post(path, json=body, headers=headers)).status_code == 200
    pt.clock.advance(1)
    response = await pt.client.post(path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error_description"] == "The access token expired"


async def test_wrong_or_missing_integrator_id_is_an_envelope_error(pt: Harness) -> None:
    headers = {"Authorization": f"Bearer {await pt.token()}"}
    for body in ({}, {"integrator_id": "SOMEONEELSE1"}):
        response = await pt.client.post("/v1/transactions/sale/keyed", json=body, headers=headers)
        data = response.json()
        assert response.status_code == 400
        assert data["success"] is False
        assert data["response_code"] == 1
        assert data["errors"] == {"981": ["Log in failed for insufficient permissions."]}


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b'{"amount": NaN}'])
async def test_malformed_bodies_are_code_1_not_a_traceback(pt: Harness, raw: bytes) -> None:
    headers = {"Authorization": f"Bearer {await pt.token()}", "Content-Type": "application/json"}
    response = await pt.client.post("/v1/transactions/sale/keyed", content=raw, headers=headers)
    data = response.json()
    assert response.status_code == 400
    assert data["response_code"] == 1
    assert data["success"] is False
    assert list(data["errors"]) == ["1"]


async def test_wrong_field_types_are_code_1_errors(pt: Harness) -> None:
    bad_object = await pt.post("/v1/transactions/sale/keyed", {"amount": 1, "credit_card": "x"})
    assert parse(bad_object)["errors"] == {"1": ["The field credit_card has the wrong type."]}
    bad_amount = await pt.post("/v1/transactions/sale/keyed", {"amount": [1], "credit_card": VISA})
    assert parse(bad_amount)["errors"] == {"39": ["Please provide a valid Transaction Amount."]}


async def test_validation_status_is_a_setting() -> None:
    pt = Harness(PayTraceSandboxSettings(validation_error_http_status=200))
    response = await pt.post("/v1/transactions/sale/keyed", {"amount": "x", "credit_card": VISA})
    assert response.status_code == 200
    assert parse(response)["response_code"] == 1


async def test_unknown_paths_are_404_json(pt: Harness) -> None:
    response = await pt.post("/v1/transactions/nothing_here", {})
    assert response.status_code == 404
    assert response.json()["status"] == 404


async def test_expired_tokens_are_forgotten_once_many_were_issued(pt: Harness) -> None:
    for _ in range(3):
        await pt.client.post("/oauth/token", data=GRANT)
    pt.clock.advance(7200)
    tokens = pt.sandbox.state.tokens
    for index in range(1000):
        tokens[f"filler{index}"] = pt.clock.now()  # already expired
    await pt.client.post("/oauth/token", data=GRANT)
    assert len(tokens) == 1
