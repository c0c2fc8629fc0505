"""AD FS (on-premises F&O) from settings: `dynamics.auth: adfs` is validated naming the setting,
selects the AD FS token provider in the composition root, and the access check reads AD FS's
refusals (MSIS codes) as the setting to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from paybridge.app.clients import dynamics_tokens
from paybridge.app.settings import Settings, load_settings
from paybridge.connectors.dynamics import AdfsTokenProvider, MsalTokenProvider
from paybridge.errors import ConfigError
from paybridge.golive.dynamics import check_token

pytestmark = pytest.mark.anyio

AOS = "https://ax.contoso.com"
ADFS_URL = "https://adfs.contoso.com"


def _load(tmp_path: Path, dynamics: dict[str, Any]) -> Settings:
    path = tmp_path / "paybridge.yaml"
    body = {"base_url": AOS, "client_id": "pb-client", "client_secret": "env:D365_SECRET"}
    path.write_text(json.dumps({"dynamics": body | dynamics}), encoding="utf-8")
    return load_settings(path, {})


@pytest.mark.parametrize(
    ("dynamics", "named"),
    [
        ({"auth": "adfs"}, "dynamics.adfs_url is required with dynamics.auth: adfs"),
        ({"auth": "adfs", "adfs_url": "adfs.contoso.com"}, "dynamics.adfs_url: 'adfs.contoso.com' is not a URL"),
        ({"auth": "adfs", "adfs_url": "http://adfs.contoso.com"}, "dynamics.adfs_url must be https"),
        ({"adfs_url": ADFS_URL}, "dynamics.adfs_url is set but dynamics.auth is entra"),
        ({"auth": "adfs", "adfs_url": ADFS_URL, "login_redirect": "http://127.0.0.1:9"},
         "dynamics.login_redirect redirects Entra ID's traffic"),
        ({"auth": "kerberos"}, "dynamics.auth"),
    ],
)  # fmt: skip
def test_a_wrong_adfs_setting_is_refused_naming_it(
    tmp_path: Path, dynamics: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, dynamics)
    assert named in str(caught.value)


def test_adfs_over_plain_http_is_allowed_on_this_machine_only(tmp_path: Path) -> None:
    local = _load(tmp_path, {"auth": "adfs", "adfs_url": "http://127.0.0.1:8765"})
    assert local.dynamics.auth == "adfs" and local.dynamics.adfs_url == "http://127.0.0.1:8765"
    assert _load(tmp_path, {}).dynamics.auth == "entra"  # the default stays Entra ID


def _adfs_http(answer: httpx.Response, seen: list[httpx.Request]) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_the_composition_root_picks_adfs_with_the_aos_url_as_resource(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("D365_SECRET", "s3cret")
    settings = _load(tmp_path, {"auth": "adfs", "adfs_url": ADFS_URL})
    seen: list[httpx.Request] = []
    answer = httpx.Response(
        200, json={"access_token": "t-1", "token_type": "bearer", "expires_in": 3600}
    )
    async with _adfs_http(answer, seen) as http:
        tokens = dynamics_tokens(settings, http)
        assert isinstance(tokens, AdfsTokenProvider)
        assert await tokens.token() == "t-1"
    assert str(seen[0].url) == f"{ADFS_URL}/adfs/oauth2/token"
    form = parse_qs(seen[0].content.decode())
    assert form == {
        "grant_type": ["client_credentials"], "client_id": ["pb-client"],
        "client_secret": ["s3cret"], "resource": [AOS],
    }  # fmt: skip
    entra = _load(tmp_path, {"tenant": "contoso"})
    async with httpx.AsyncClient() as http:
        assert isinstance(dynamics_tokens(entra, http), MsalTokenProvider)


async def test_adfs_resource_overrides_the_aos_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("D365_SECRET", "s3cret")
    settings = _load(
        tmp_path,
        {"auth": "adfs", "adfs_url": ADFS_URL, "adfs_resource": "https://ax.contoso.com/api"},
    )
    seen: list[httpx.Request] = []
    async with _adfs_http(httpx.Response(200, json={"access_token": "t"}), seen) as http:
        await dynamics_tokens(settings, http).token()
    assert parse_qs(seen[0].content.decode())["resource"] == ["https://ax.contoso.com/api"]


def _refusal(error: str, description: str) -> httpx.Response:
    return httpx.Response(400, json={"error": error, "error_description": description})


@pytest.mark.parametrize(
    ("answer", "setting"),
    [
        (_refusal("invalid_client", "MSIS9622: Client authentication failed. Please verify the "
                  "credential provided for client authentication is valid."), "dynamics.client_secret"),
        (_refusal("invalid_client", "MSIS9607: The 'client_id' parameter in the request is "
                  "invalid. No registered client is found with this identifier."), "dynamics.client_id"),
        (_refusal("invalid_resource", "MSIS9602: The received 'resource' parameter is invalid."),
         "dynamics.adfs_resource"),
        (httpx.Response(404, text=""), "dynamics.adfs_url"),
    ],
)  # fmt: skip
async def test_the_check_names_the_setting_behind_each_adfs_refusal(
    answer: httpx.Response, setting: str
) -> None:
    async with _adfs_http(answer, []) as http:
        tokens = AdfsTokenProvider(ADFS_URL, "pb-client", "wrong", AOS, http=http)
        result = await check_token(tokens, "adfs")
    assert result.status == "fail" and result.essential and not result.transient
    assert result.setting == setting
    assert setting in result.fix and "AD FS" in result.fix
    assert "Entra" not in result.line()


async def test_the_check_says_adfs_issued_the_token() -> None:
    answer = httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
    async with _adfs_http(answer, []) as http:
        tokens = AdfsTokenProvider(ADFS_URL, "pb-client", "s3cret", AOS, http=http)
        result = await check_token(tokens, "adfs")
    assert (result.status, result.detail) == ("ok", "issued by AD FS")
