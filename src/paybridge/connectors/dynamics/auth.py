"""Bearer tokens for D365: Entra ID through MSAL, AD FS by form post; cached, renewed early, shared."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

import httpx
import msal
from msal.exceptions import MsalServiceError

from paybridge.clock import Clock, SystemClock
from paybridge.errors import ConfigError, PayBridgeError, RetryableError

SYSTEM = "dynamics"
# Renew this many seconds before expiry, so a token never dies between check and use.
DEFAULT_REFRESH_MARGIN = 300.0
_PERMANENT_OAUTH_ERRORS = {
    "invalid_client",
    "unauthorized_client",
    "invalid_request",
    "invalid_scope",
    "invalid_resource",
    "unsupported_grant_type",
    "invalid_grant",
}


class TokenProvider(Protocol):
    """Gives a bearer token; ``invalidate`` forgets it after the server rejected it."""

    async def token(self) -> str: ...

    def invalidate(self) -> None: ...


class StaticTokenProvider:
    """A fixed token: for tests and for local dev boxes that do not check tokens."""

    def __init__(self, token: str) -> None:
        self._token = token
        self.invalidations = 0

    async def token(self) -> str:
        return self._token

    def invalidate(self) -> None:
        self.invalidations += 1


class _CachingTokenProvider:
    """Caches one token until shortly before it expires; one refresh at a time, no stampede."""

    def __init__(self, *, clock: Clock | None, refresh_margin: float) -> None:
        self._clock = clock or SystemClock()
        self._margin = refresh_margin
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def token(self) -> str:
        if self._fresh():
            assert self._token is not None
            return self._token
        async with self._lock:
            if not self._fresh():  # another caller may have refreshed while we queued
                token, expires_in = await self._fetch()
                self.fetches += 1
                self._token = token
                self._expires_at = self._clock.monotonic() + expires_in
            assert self._token is not None
            return self._token

    def _fresh(self) -> bool:
        return self._token is not None and self._clock.monotonic() < self._expires_at - self._margin

    def invalidate(self) -> None:
        self._token = None
        self._expires_at = 0.0

    async def _fetch(self) -> tuple[str, float]:
        raise NotImplementedError


def _oauth_failure(
    operation: str, payload: Mapping[str, Any], status: int | None
) -> PayBridgeError:
    code = str(payload.get("error") or "token_error")
    description = str(payload.get("error_description") or "").split("\n")[0]
    message = f"token request failed: {code}: {description}".rstrip(": ")
    if code in _PERMANENT_OAUTH_ERRORS or (status is not None and 400 <= status < 500):
        return ConfigError(message, system=SYSTEM, operation=operation, status=status)
    return RetryableError(message, system=SYSTEM, operation=operation, status=status)


def _msal_http_failure(exc: MsalServiceError) -> PayBridgeError:
    """MSAL's ``HTTP Error: <status>`` (it keeps no status attribute): a 429 or 5xx from Entra ID
    is passing (try again later), any other status a setting to fix (tenant, authority)."""
    found = re.search(r"HTTP Error: (\d{3})", str(exc))
    status = int(found.group(1)) if found else None
    message = f"token endpoint answered HTTP {status}" if status else f"token request failed: {exc}"
    if status is not None and (status == 429 or status >= 500):
        return RetryableError(message, system=SYSTEM, operation="token", status=status)
    return ConfigError(message, system=SYSTEM, operation="token", status=status)


class MsalTokenProvider(_CachingTokenProvider):
    """Entra ID client credentials through MSAL's ``ConfidentialClientApplication``.

    MSAL is synchronous, so it runs in a worker thread; ``http_client`` is the sync HTTP seam
    (an ``httpx.Client`` fits MSAL's protocol; in tests a Starlette ``TestClient`` or a client
    over ``RedirectTransport`` pointing login.microsoftonline.com at a sandbox).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        authority: str,
        scope: str,
        *,
        http_client: httpx.Client | None = None,
        clock: Clock | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
    ) -> None:
        super().__init__(clock=clock, refresh_margin=refresh_margin)
        if not authority.startswith("https://"):
            raise ConfigError("MSAL needs an https authority", system=SYSTEM, operation="token")
        self._client_id = client_id
        self._secret = client_secret
        self._authority = authority.rstrip("/")
        self._scopes = [scope]
        self._http = http_client
        self._app: Any = None
        self._cache: Any = None

    @classmethod
    def for_environment(
        cls, tenant: str, client_id: str, client_secret: str, environment_url: str, **kw: Any
    ) -> MsalTokenProvider:
        """The usual set-up: ``https://login.microsoftonline.com/<tenant>``, scope ``<env>/.default``."""
        return cls(
            client_id,
            client_secret,
            f"https://login.microsoftonline.com/{tenant}",
            f"{environment_url.rstrip('/')}/.default",
            **kw,
        )

    def _application(self) -> Any:
        if self._app is None:
            self._cache = msal.TokenCache()
            # Constructing the app already fetches the OIDC discovery document, hence lazily
            # and in the worker thread; instance discovery is skipped (known Entra hosts only).
            self._app = msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._secret,
                authority=self._authority,
                http_client=self._http,
                token_cache=self._cache,
                instance_discovery=False,
            )
        return self._app

    def _acquire(self) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self._application().acquire_token_for_client(self._scopes)
        except httpx.HTTPError as exc:
            raise RetryableError(
                f"token endpoint unreachable: {type(exc).__name__}",
                system=SYSTEM,
                operation="token",
            ) from exc
        except MsalServiceError as exc:  # an HTTP error status (discovery or token request)
            raise _msal_http_failure(exc) from exc
        except ValueError as exc:  # MSAL's word for a failed tenant discovery
            raise ConfigError(
                f"authority discovery failed: {exc}", system=SYSTEM, operation="token"
            ) from exc
        return result

    async def _fetch(self) -> tuple[str, float]:
        result = await asyncio.to_thread(self._acquire)
        if "access_token" not in result:
            raise _oauth_failure("token", result, None)
        return str(result["access_token"]), float(result.get("expires_in", 3599))

    def invalidate(self) -> None:
        super().invalidate()
        cache = self._cache
        if cache is not None:
            # MSAL would hand back the same rejected token from its own cache otherwise.
            for item in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)


class AdfsTokenProvider(_CachingTokenProvider):
    """AD FS (on-premises F&O): a form post to ``<adfs>/adfs/oauth2/token`` with ``resource=``."""

    def __init__(
        self,
        adfs_url: str,
        client_id: str,
        client_secret: str,
        resource: str,
        *,
        http: httpx.AsyncClient,
        clock: Clock | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
    ) -> None:
        super().__init__(clock=clock, refresh_margin=refresh_margin)
        base = adfs_url.rstrip("/")
        self.token_url = base if base.endswith("/oauth2/token") else f"{base}/adfs/oauth2/token"
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "resource": resource.rstrip("/"),
        }
        self._http = http

    async def _fetch(self) -> tuple[str, float]:
        try:
            response = await self._http.post(self.token_url, data=self._form)
        except httpx.HTTPError as exc:
            raise RetryableError(
                f"AD FS unreachable: {type(exc).__name__}", system=SYSTEM, operation="token"
            ) from exc
        try:
            payload = json.loads(response.text, parse_float=Decimal)
        except ValueError:
            payload = {"error": f"HTTP {response.status_code}", "error_description": "not JSON"}
        if response.status_code != 200 or "access_token" not in payload:
            raise _oauth_failure("token", payload, response.status_code)
        return str(payload["access_token"]), float(payload.get("expires_in", 3600))
