"""Signed link tokens: a small JSON payload and its HMAC-SHA256, URL-safe, in one string.

A token is ``<version>.<base64url payload>.<base64url signature>``; the version names what the
link is for (card-on-file ``c1``, pay-by-link ``p1``), so a token of one kind never opens the
other. Nothing is kept of a token: the signature is the proof, the payload says what it opens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import string
from typing import Any


class BadLinkToken(ValueError):
    """Not a token signed with this key for this version (tampered, truncated or foreign)."""


NONCE_LETTERS = string.ascii_lowercase  # no digits: a key built on it never looks like a card


def link_nonce(length: int = 20) -> str:
    """A link's random id (about 94 bits): letters only, so the charge keys and cursor rows
    built on it never hold a run of digits the card guard would refuse as a card number."""
    return "".join(secrets.choice(NONCE_LETTERS) for _ in range(length))


def sign_token(key: bytes, version: str, payload: dict[str, Any]) -> str:
    """The token of ``payload``; the same payload and key always give the same token."""
    raw = canonical(payload)
    signature = hmac.new(key, raw, hashlib.sha256).digest()
    return f"{version}.{_b64(raw)}.{_b64(signature)}"


def read_token(key: bytes, version: str, token: str) -> dict[str, Any]:
    """The payload of a token signed with ``key`` for ``version``; ``BadLinkToken`` otherwise."""
    try:
        given_version, body, signature = token.split(".")
        raw = _unb64(body)
        given = _unb64(signature)
        payload = json.loads(raw)
    except (ValueError, binascii.Error):
        raise BadLinkToken("not a signed link") from None
    if given_version != version or not isinstance(payload, dict):
        raise BadLinkToken("not a signed link")
    if not hmac.compare_digest(given, hmac.new(key, raw, hashlib.sha256).digest()):
        raise BadLinkToken("not a signed link")
    return payload


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
