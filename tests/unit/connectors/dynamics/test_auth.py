"""Token providers: MSAL against a fake Entra endpoint (through RedirectTransport) and AD FS."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

import httpx
import pytest

from paybridge.clock import ManualClock
from paybridge.connectors.dynamics import AdfsTokenProvider, MsalTokenProvider, RedirectTransport
from paybridge.errors import ConfigError, RetryableError

pytestmark = pytest.mark.anyio

LOGIN = "https://login.microsoftonline.com"
LOCAL = "http://127.0.0.1:8001"
TENANT = "contoso"
SECRET = "s3cret"


class FakeEntra:
    """Discovery plus a client-credentials token endpoint, as a sync MockTransport handler."""

    def __init__(self) -> None:
        self.secret = SECRET
        self.seen: list[httpx.Request] = []
        self.issued = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path
        if path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            base = f"{LOGIN}/{TENANT}"
            doc = {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
            }
            return httpx.Response(200, json=doc)
        if path == f"/{TENANT}/oauth2/v2.0/token":
            form = parse_qs(request.content.decode())
            if form.get("client_secret") != [self.secret]:
                return httpx.Response(
                    401, json={"error": "invalid_client", "error_description": "AADSTS7000215"}
                )
            self.issued += 1
            token = {
                "token_type": "Bearer",
                "expires_in": 3599,
                "access_token": f"at-{self.issued}",
            }
            return httpx.Response(200, json=token)
        return httpx.Response(404)

    def http_client(self) -> httpx.Client:
        redirect = RedirectTransport({LOGIN: LOCAL}, transport=httpx.MockTransport(self.handler))
        return httpx.Client(transport=redirect)


def _provider(entra: FakeEntra, clock: ManualClock, secret: str = SECRET) -> MsalTokenProvider:
    return MsalTokenProvider.for_environment(
        TENANT,
        "app-id",
        secret,
        "https://usmf.sandbox.operations.dynamics.com/",
        http_client=entra.http_client(),
        clock=clock,
    )


async def test_msal_fetches_once_and_caches() -> None:
    entra, clock = FakeEntra(), ManualClock()
    provider = _provider(entra, clock)
    tokens = await asyncio.gather(*(provider.token() for _ in range(8)))
    assert set(tokens) == {"at-1"}
    assert entra.issued == 1
    assert provider.fetches == 1
    token_call = next(r for r in entra.seen if r.method == "POST")
    assert str(token_call.url) == f"{LOCAL}/{TENANT}/oauth2/v2.0/token"
    assert token_call.headers["host"] == "login.microsoftonline.com"
    form = parse_qs(token_call.content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == ["https://usmf.sandbox.operations.dynamics.com/.default"]


async def test_msal_invalidate_gets_a_new_token() -> None:
    entra, clock = FakeEntra(), ManualClock()
    provider = _provider(entra, clock)
    assert await provider.token() == "at-1"
    provider.invalidate()
    assert await provider.token() == "at-2"
    assert entra.issued == 2


async def test_msal_renews_before_expiry() -> None:
    entra, clock = FakeEntra(), ManualClock()
    provider = _provider(entra, clock)
    await provider.token()
    clock.advance(3000)
    await provider.token()
    assert provider.fetches == 1
    clock.advance(400)  # inside the five-minute margin
    await provider.token()
    assert provider.fetches == 2


async def test_msal_bad_secret_is_a_config_error() -> None:
    entra, clock = FakeEntra(), ManualClock()
    with pytest.raises(ConfigError, match="invalid_client"):
        await _provider(entra, clock, secret="wrong").token()


@pytest.mark.parametrize("status", [503, 502, 500])
async def test_msal_discovery_answering_5xx_is_retryable_then_works(status: int) -> None:
    """A 5xx from Entra ID while MSAL discovers the tenant is passing: a worker tries again
    later, it never stops on it (MSAL raises its own error with the status in words; a 4xx there
    MSAL reports as a bad authority, which it usually is)."""
    entra, clock = FakeEntra(), ManualClock()
    down = {"left": 1}
    handler = entra.handler

    def flaky(request: httpx.Request) -> httpx.Response:
        if down["left"] and request.url.path.endswith("openid-configuration"):
            down["left"] -= 1
            return httpx.Response(status, text="unavailable")
        return handler(request)

    entra.handler = flaky  # type: ignore[method-assign]
    provider = _provider(entra, clock)
    with pytest.raises(RetryableError, match=f"HTTP {status}") as caught:
        await provider.token()
    assert caught.value.status == status
    assert await provider.token() == "at-1"


async def test_msal_discovery_answering_404_names_a_setting_to_fix() -> None:
    entra, clock = FakeEntra(), ManualClock()
    provider = MsalTokenProvider.for_environment(
        "no-such-tenant", "app-id", SECRET, "https://usmf.sandbox.operations.dynamics.com/",
        http_client=entra.http_client(), clock=clock,
    )  # fmt: skip
    with pytest.raises(ConfigError):
        await provider.token()


def test_msal_needs_https() -> None:
    with pytest.raises(ConfigError, match="https"):
        MsalTokenProvider("a", "b", "http://login.local/t", "s")


def test_redirect_leaves_other_hosts_alone() -> None:
    redirect = RedirectTransport({LOGIN: LOCAL, f"{LOGIN}/special": "http://127.0.0.1:9"})
    assert str(redirect.rewrite(httpx.URL(f"{LOGIN}/t/x?y=1"))) == f"{LOCAL}/t/x?y=1"
    assert str(redirect.rewrite(httpx.URL(f"{LOGIN}/special/a"))) == "http://127.0.0.1:9/a"
    other = "https://login.microsoftonline.community/x"
    assert str(redirect.rewrite(httpx.URL(other))) == other


async def test_adfs_form_post_with_resource() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": "adfs-1", "expires_in": 3600})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    provider = AdfsTokenProvider(
        "https://adfs.contoso.com", "cid", "sec", "https://ax.contoso.com/", http=http
    )
    assert await provider.token() == "adfs-1"
    assert await provider.token() == "adfs-1"
    assert len(seen) == 1
    assert str(seen[0].url) == "https://adfs.contoso.com/adfs/oauth2/token"
    form = parse_qs(seen[0].content.decode())
    assert form["resource"] == ["https://ax.contoso.com"]
    assert form["client_id"] == ["cid"]


async def test_adfs_rejection_is_a_config_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=json.dumps({"error": "invalid_client"}).encode())

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    provider = AdfsTokenProvider("https://adfs.contoso.com/", "c", "s", "r", http=http)
    with pytest.raises(ConfigError, match="invalid_client"):
        await provider.token()
