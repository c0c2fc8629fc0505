"""Entra ID (v1 and v2 token endpoints, OIDC discovery) and AD FS emulation, and the bearer check
F&O does on ``/data``, ``/Metadata`` and ``/api``.

Tokens are HS256 JWTs signed with a key derived from the settings, so they survive a restart
(as real tokens survive an AOS restart) and need no storage. Error bodies copy Entra's shape:
``error``, ``error_description`` (with ``AADSTS`` code, trace and correlation ids),
``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id``, ``error_uri``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from random import Random
from typing import Any

from paybridge_sandbox.dynamics.settings import (
    ClientRegistration,
    DynamicsSandboxSettings,
    SandboxClock,
)


@dataclass
class TokenError(Exception):
    """An OAuth error answer (status + Entra-shaped JSON body)."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the client id, its F&O user (None = not mapped) and default company."""

    client_id: str
    user_id: str | None
    company: str


def _adfs_error(error: str, description: str) -> TokenError:
    """AD FS answers a refused token request with 400 and a bare OAuth error body."""
    return TokenError(400, {"error": error, "error_description": description})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authority:
    """Issues and checks tokens for one sandbox."""

    def __init__(self, settings: DynamicsSandboxSettings, clock: SandboxClock, rng: Random) -> None:
        self.settings = settings
        self.clock = clock
        self.rng = rng
        seed = settings.tenant + "|" + "|".join(c.client_secret for c in settings.clients)
        self._key = hashlib.sha256(b"paybridge-sandbox-dynamics|" + seed.encode()).digest()

    # ---- discovery -----------------------------------------------------------------------

    def openid_configuration(self, tenant: str, *, v2: bool) -> dict[str, Any]:
        self._check_tenant(tenant)
        host = f"https://{self.settings.authority_host}/{tenant}"
        version = "/v2.0" if v2 else ""
        return {
            "token_endpoint": f"{host}/oauth2{version}/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"https://{self.settings.authority_host}/{tenant}/discovery{version}/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{host}/v2.0" if v2 else f"https://sts.windows.net/{tenant}/",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{host}/oauth2{version}/authorize",
            "device_authorization_endpoint": f"{host}/oauth2{version}/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{host}/oauth2{version}/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "ver"],
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }

    def instance_discovery(self, authorization_endpoint: str) -> dict[str, Any]:
        host = self.settings.authority_host
        tenant = self.settings.tenant
        return {
            "tenant_discovery_endpoint": f"https://{host}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    # ---- token endpoints -----------------------------------------------------------------

    def issue_v2(
        self, tenant: str, form: dict[str, str], basic: tuple[str, str] | None
    ) -> dict[str, Any]:
        self._check_tenant(tenant)
        client = self._client_credentials(form, basic, tenant)
        scope = form.get("scope", "").strip()
        if not scope:
            raise self._error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        resource = self._resource_from_scope(scope)
        lifetime = self.settings.token_lifetime_seconds
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self._sign(client, resource, version="2.0"),
        }

    def issue_v1(
        self, tenant: str, form: dict[str, str], basic: tuple[str, str] | None
    ) -> dict[str, Any]:
        self._check_tenant(tenant)
        client = self._client_credentials(form, basic, tenant)
        resource = form.get("resource", "").strip()
        if not resource:
            raise self._error(
                400,
                "invalid_resource",
                500011,
                "The resource principal named (null) was not found in the tenant.",
            )
        self._check_resource(resource)
        now = int(self.clock.now().timestamp())
        lifetime = self.settings.token_lifetime_seconds
        return {
            "token_type": "Bearer",
            "expires_in": str(lifetime),
            "ext_expires_in": str(lifetime),
            "expires_on": str(now + lifetime),
            "not_before": str(now),
            "resource": resource,
            "access_token": self._sign(client, resource, version="1.0"),
        }

    def issue_adfs(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """AD FS's client-credentials grant; refusals as AD FS words them (HTTP 400, an MSIS
        code): MSIS9607 an unknown client, MSIS9622 a wrong secret, MSIS9602 an unknown
        resource."""
        if form.get("grant_type") != "client_credentials":
            raise _adfs_error(
                "unsupported_grant_type",
                "MSIS9611: The authorization server does not support the requested 'grant_type'. "
                "The authorization server only supports 'authorization_code' or "
                "'client_credentials' or 'refresh_token' as the grant type.",
            )
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        client = self.settings.client(client_id)
        if client is None:
            raise _adfs_error(
                "invalid_client",
                "MSIS9607: The 'client_id' parameter in the request is invalid. "
                "No registered client is found with this identifier.",
            )
        if not hmac.compare_digest(client.client_secret, secret):
            raise _adfs_error(
                "invalid_client",
                "MSIS9622: Client authentication failed. "
                "Please verify the credential provided for client authentication is valid.",
            )
        resource = form.get("resource", "").strip()
        allowed = self.settings.resources
        if not resource or (
            allowed is not None and resource.rstrip("/") not in {r.rstrip("/") for r in allowed}
        ):
            raise _adfs_error(
                "invalid_resource",
                "MSIS9602: The received 'resource' parameter is invalid. The authorization "
                "server can not find a registered resource with the specified identifier.",
            )
        lifetime = self.settings.token_lifetime_seconds
        return {
            "access_token": self._sign(client, resource, version="1.0"),
            "token_type": "bearer",
            "expires_in": lifetime,
        }

    def _client_credentials(
        self, form: dict[str, str], basic: tuple[str, str] | None, tenant: str
    ) -> ClientRegistration:
        grant = form.get("grant_type", "")
        if not grant:
            raise self._error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        if grant != "client_credentials":
            raise self._error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if not client_id:
            raise self._error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        client = self.settings.client(client_id)
        if client is None:
            raise self._error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier "
                f"'{client_id}' was not found in the directory '{tenant}'. This can "
                "happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the "
                "tenant. You may have sent your authentication request to the "
                "wrong tenant.",
            )
        if not secret:
            raise self._error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the "
                "following parameter: 'client_assertion' or 'client_secret'.",
            )
        if not hmac.compare_digest(client.client_secret, secret):
            raise self._error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. "
                "Ensure the secret being sent in the request is the client secret "
                "value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        return client

    def _resource_from_scope(self, scope: str) -> str:
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise self._error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope "
                f"{scope} is not valid. Client credential flows must have a scope "
                "value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        resource = scopes[0].removesuffix("/.default")
        self._check_resource(resource)
        return resource

    def _check_resource(self, resource: str) -> None:
        allowed = self.settings.resources
        if allowed is not None and resource.rstrip("/") not in {r.rstrip("/") for r in allowed}:
            raise self._error(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named "
                f"{resource} was not found in the tenant named {self.settings.tenant}"
                ". This can happen if the application has not been installed by the"
                " administrator of the tenant or consented to by any user in the "
                "tenant. You might have sent your authentication request to the "
                "wrong tenant.",
            )

    def _check_tenant(self, tenant: str) -> None:
        if tenant.lower() not in {self.settings.tenant.lower(), "common", "organizations"}:
            raise self._error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check "
                "to make sure you have the correct tenant ID and are signing into "
                "the correct cloud. Check with your subscription administrator, "
                "this may happen if there are no active subscriptions for the "
                "tenant.",
            )

    def _error(self, status: int, error: str, code: int, text: str) -> TokenError:
        now = self.clock.now()
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        trace, correlation = self._uuid(), self._uuid()
        description = (
            f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} "
            f"Timestamp: {stamp}"
        )
        return TokenError(
            status,
            {
                "error": error,
                "error_description": description,
                "error_codes": [code],
                "timestamp": stamp,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"https://{self.settings.authority_host}/error?code={code}",
            },
        )

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # ---- tokens --------------------------------------------------------------------------

    def _sign(self, client: ClientRegistration, resource: str, *, version: str) -> str:
        now = int(self.clock.now().timestamp())
        claims = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{self.settings.tenant}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.settings.token_lifetime_seconds,
            "appid": client.client_id,
            "azp": client.client_id,
            "tid": self.settings.tenant,
            "ver": version,
            "jti": self._uuid(),
        }
        head = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(signature)}"

    def verify(self, authorization: str | None) -> Principal | None:
        """The caller of a bearer token, or None when it is missing, forged or expired."""
        if not authorization or authorization[:7].lower() != "bearer ":
            return None
        claims = self._claims(authorization[7:].strip())
        if claims is None or int(claims.get("exp", 0)) <= self.clock.now().timestamp():
            return None
        client = self.settings.client(str(claims.get("appid", "")))
        if client is None:
            return None
        return Principal(client.client_id, client.user_id, client.default_company.lower())

    def _claims(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(expected, _unb64(parts[2])):
                return None
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, UnicodeDecodeError):
            return None
        return claims if isinstance(claims, dict) else None
