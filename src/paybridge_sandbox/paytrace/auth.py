"""OAuth like PayTrace's Doorkeeper: the password grant at /oauth/token and bearer checks."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from urllib.parse import parse_qsl

from paybridge_sandbox.paytrace.state import PayTraceSandbox
from paybridge_sandbox.paytrace.wire import JsonObject

INVALID_GRANT = {
    "error": "invalid_grant",
    "error_description": (
        "The provided authorization grant is invalid, expired, revoked, does not match the "
        "redirection URI used in the authorization request, or was issued to another client."
    ),
}
UNSUPPORTED_GRANT = {
    "error": "unsupported_grant_type",
    "error_description": "The authorization grant type is not supported by the authorization server.",
}
_EXPIRED = "The access token expired"
_PURGE_AT = 1000
_INVALID = "The access token is invalid"


def grant_fields(raw: bytes, content_type: str, query: str) -> dict[str, str]:
    """The grant's fields from a form, JSON or multipart body, or the query string (spec §2.1)."""
    fields = {k: v for k, v in parse_qsl(query)}
    if "json" in content_type:
        try:
            decoded = json.loads(raw or b"{}")
        except ValueError:
            decoded = {}
        if isinstance(decoded, dict):
            fields.update({k: str(v) for k, v in decoded.items() if isinstance(v, (str, int))})
    elif "multipart" in content_type:
        fields.update(_multipart_fields(raw, content_type))
    else:
        fields.update(dict(parse_qsl(raw.decode("utf-8", "replace"))))
    return fields


def _multipart_fields(raw: bytes, content_type: str) -> dict[str, str]:
    boundary = content_type.partition("boundary=")[2].strip('"')
    fields: dict[str, str] = {}
    if not boundary:
        return fields
    for part in raw.split(b"--" + boundary.encode()):
        head, _, value = part.partition(b"\r\n\r\n")
        name = head.partition(b'name="')[2].partition(b'"')[0].decode("utf-8", "replace")
        if name:
            fields[name] = value.rstrip(b"\r\n").decode("utf-8", "replace")
    return fields


def issue_token(sandbox: PayTraceSandbox, fields: dict[str, str]) -> tuple[int, JsonObject]:
    settings = sandbox.settings
    if fields.get("grant_type") != "password":
        return 400, UNSUPPORTED_GRANT
    good_user = secrets.compare_digest(fields.get("username", ""), settings.username)
    good_pass = secrets.compare_digest(fields.get("password", ""), settings.password)
    if not (good_user and good_pass):
        return settings.invalid_grant_http_status, INVALID_GRANT
    now = sandbox.clock.now()
    token = f"{secrets.token_hex(14)}:{secrets.token_hex(18)}:{secrets.token_hex(32)}"
    state = sandbox.state
    if len(state.tokens) >= _PURGE_AT:
        _forget_expired(sandbox)
    state.tokens[token] = now + timedelta(seconds=settings.token_lifetime_seconds)
    state.mark("tokens", token)
    body: JsonObject = {
        "access_token": token,
        "token_type": settings.token_type,
        "expires_in": settings.token_lifetime_seconds,
        "created_at": int(now.timestamp()),
    }
    return 200, body


def _forget_expired(sandbox: PayTraceSandbox) -> None:
    """Clients that log in for every call must not grow the token table without end."""
    now = sandbox.clock.now()
    tokens = sandbox.state.tokens
    for token in [t for t, expires in tokens.items() if expires <= now]:
        del tokens[token]
        sandbox.state.mark("tokens", token)


def bearer_problem(sandbox: PayTraceSandbox, authorization: str | None) -> str | None:
    """None when the bearer token is good, else Doorkeeper's error_description."""
    if not authorization:
        return _INVALID
    scheme, _, token = authorization.partition(" ")
    if scheme != "Bearer":  # PayTrace: "OAuth2.0 is not case-insensitive" (spec §2.2)
        return _INVALID
    expires = sandbox.state.tokens.get(token.strip())
    if expires is None:
        return _INVALID
    if sandbox.clock.now() >= expires:
        return _EXPIRED
    return None


def invalid_token(description: str) -> tuple[JsonObject, dict[str, str]]:
    header = f'Bearer realm="Doorkeeper", error="invalid_token", error_description="{description}"'
    return {"error": "invalid_token", "error_description": description}, {
        "WWW-Authenticate": header
    }
