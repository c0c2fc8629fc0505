"""Entra ID / AD FS token endpoints, OIDC discovery (MSAL end to end) and the bearer check."""

from __future__ import annotations

import httpx
import msal
import pytest

from paybridge_sandbox.dynamics import ClientRegistration
from tests.conftest import asgi_client
from tests.sandbox.dynamics.support import BASE, SyncASGITransport, make_app, token

FORM = {
    "grant_type": "client_credentials",
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
    "scope": f"{BASE}/.default",
}


@pytest.mark.anyio
async def test_v2_token_has_entra_shape() -> None:
    async with asgi_client(make_app()) as client:
        response = await client.post("/sandbox-tenant/oauth2/v2.0/token", data=FORM)
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    assert body["access_token"].count(".") == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("change", "status", "error", "code"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        ({"client_secret": ""}, 401, "invalid_client", 7000218),
        ({"client_id": "nobody"}, 400, "unauthorized_client", 700016),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        ({"grant_type": ""}, 400, "invalid_request", 900144),
        ({"scope": BASE}, 400, "invalid_scope", 1002012),
    ],
)
async def test_v2_token_refusals(
    change: dict[str, str], status: int, error: str, code: int
) -> None:
    async with asgi_client(make_app()) as client:
        response = await client.post("/sandbox-tenant/oauth2/v2.0/token", data=FORM | change)
    body = response.json()
    assert response.status_code == status
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= set(body)


@pytest.mark.anyio
async def test_unknown_tenant_and_unknown_resource() -> None:
    async with asgi_client(make_app(resources=(BASE,))) as client:
        wrong_tenant = await client.post("/other-tenant/oauth2/v2.0/token", data=FORM)
        wrong_resource = await client.post(
            "/sandbox-tenant/oauth2/v2.0/token", data=FORM | {"scope": "https://x.test/.default"}
        )
    assert wrong_tenant.status_code == 400
    assert wrong_tenant.json()["error_codes"] == [90002]
    assert wrong_resource.json()["error"] == "invalid_resource"


@pytest.mark.anyio
async def test_v1_and_adfs_endpoints_take_resource() -> None:
    form = {k: v for k, v in FORM.items() if k != "scope"} | {"resource": BASE}
    async with asgi_client(make_app()) as client:
        v1 = await client.post("/sandbox-tenant/oauth2/token", data=form)
        adfs = await client.post("/adfs/oauth2/token", data=form)
        bad = await client.post("/adfs/oauth2/token", data=form | {"client_secret": "x"})
        data = await client.get(
            "/data/", headers={"Authorization": "Bearer " + adfs.json()["access_token"]}
        )
    assert v1.status_code == 200
    assert v1.json()["resource"] == BASE and v1.json()["expires_in"] == "3599"
    assert adfs.json()["token_type"] == "bearer"
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    assert bad.json()["error_description"].startswith("MSIS9622:")
    assert data.status_code == 200


@pytest.mark.anyio
async def test_discovery_advertises_https_authority() -> None:
    async with asgi_client(make_app()) as client:
        response = await client.get("/sandbox-tenant/v2.0/.well-known/openid-configuration")
    config = response.json()
    assert config["token_endpoint"] == (
        "https://login.microsoftonline.com/sandbox-tenant/oauth2/v2.0/token"
    )
    assert config["issuer"] == "https://login.microsoftonline.com/sandbox-tenant/v2.0"
    assert config["authorization_endpoint"].startswith("https://login.microsoftonline.com/")


def test_msal_confidential_client_gets_a_token_that_opens_data() -> None:
    app = make_app()
    with httpx.Client(transport=SyncASGITransport(app)) as http:
        cca = msal.ConfidentialClientApplication(
            "sandbox-client",
            client_credential="sandbox-secret",
            http_client=http,
            authority="https://login.microsoftonline.com/sandbox-tenant",
        )
        result = cca.acquire_token_for_client(scopes=[f"{BASE}/.default"])
        assert "access_token" in result, result
        data = http.get(
            f"{BASE}/data/CustomersV3?$top=1",
            headers={"Authorization": f"Bearer {result['access_token']}"},
        )
        refused = msal.ConfidentialClientApplication(
            "sandbox-client",
            client_credential="bad",
            http_client=http,
            authority="https://login.microsoftonline.com/sandbox-tenant",
        ).acquire_token_for_client(scopes=[f"{BASE}/.default"])
    assert data.status_code == 200
    assert refused["error"] == "invalid_client"


@pytest.mark.anyio
async def test_bearer_required_on_data_metadata_and_api() -> None:
    app = make_app()
    async with asgi_client(app, BASE) as client:
        for path in (
            "/data/CustomersV3",
            "/data/$metadata",
            "/Metadata/DataEntities",
            "/api/services/PayBridgeSandbox/Journals/post",
        ):
            response = await client.request("POST" if "/api/" in path else "GET", path)
            assert response.status_code == 401, path
            assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        forged = await client.get("/data/", headers={"Authorization": "Bearer a.b.c"})
    assert forged.status_code == 401


@pytest.mark.anyio
async def test_token_expires_with_the_clock() -> None:
    app = make_app()
    async with asgi_client(app, BASE) as client:
        headers = {"Authorization": f"Bearer {await token(client)}"}
        fresh = await client.get("/data/", headers=headers)
        app.state.sandbox.clock.advance(3600)
        stale = await client.get("/data/", headers=headers)
    assert fresh.status_code == 200
    assert stale.status_code == 401


@pytest.mark.anyio
async def test_client_not_mapped_to_a_user_is_forbidden() -> None:
    clients = (
        ClientRegistration("sandbox-client", "sandbox-secret"),
        ClientRegistration("stranger", "s3cret", user_id=None),
    )
    async with asgi_client(make_app(clients=clients), BASE) as client:
        headers = {"Authorization": f"Bearer {await token(client, 'stranger', 's3cret')}"}
        response = await client.get("/data/CustomersV3", headers=headers)
    assert response.status_code == 403
    assert "stranger" in response.json()["error"]["innererror"]["message"]
