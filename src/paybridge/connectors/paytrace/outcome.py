"""The one place that turns a PayTrace reply (or a transport failure) into a result or an error."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from paybridge.connectors.paytrace.codes import (
    DECLINE_CODES,
    PERMISSION_ERRORS,
    decline_reason,
    describe_error,
    describe_response_code,
)
from paybridge.errors import (
    ConfigError,
    DataError,
    DeclinedError,
    FatalError,
    InDoubtError,
    PayBridgeError,
    RetryableError,
)
from paybridge.security.cardguard import redact, redact_text

SYSTEM = "paytrace"
T = TypeVar("T", bound=BaseModel)
# read: safe to repeat; token: the password grant; write: changes state; money: moves money.
Kind = Literal["read", "token", "write", "money"]
_MAX_BODY = 65536
_OAUTH_ERRORS = frozenset(
    {"invalid_token", "invalid_grant", "invalid_client", "invalid_request", "invalid_scope",
     "unauthorized_client", "unsupported_grant_type", "insufficient_scope"}
)  # fmt: skip
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One v1 operation: its name in errors, its path, and how failures may be retried."""

    operation: str
    path: str
    kind: Kind

    @property
    def repeatable(self) -> bool:
        return self.kind in ("read", "token")


class TokenRejected(ConfigError):
    """The bearer token was refused (expired or revoked); the session logs in again once."""


def map_outcome(
    endpoint: Endpoint,
    outcome: httpx.Response | Exception,
    model: type[T],
    reference: str = "",
    context: dict[str, Any] | None = None,
) -> T:
    """The result of one exchange as ``model`` (validated with ``context``), or the PayBridge
    error a caller can act on."""
    if isinstance(outcome, Exception):
        raise _transport_error(endpoint, outcome, reference) from outcome
    body = _json_object(outcome.content)
    where: dict[str, Any] = {
        "system": SYSTEM,
        "operation": endpoint.operation,
        "status": outcome.status_code,
        "request_id": outcome.headers.get("x-request-id"),
    }
    if body is not None and "response_code" in body and "success" in body:
        return _envelope(endpoint, body, model, reference, outcome, where, context)
    status = outcome.status_code
    if body is not None and _is_oauth_error(body.get("error"), status):
        raise _oauth_error(endpoint, body, where, outcome)
    if status == 401:
        kind = ConfigError if endpoint.kind == "token" else TokenRejected
        raise kind("PayTrace refused the credentials", body=_safe_body(outcome), **where)
    if 200 <= status < 300 and body is not None:
        return _validated(endpoint, model, body, reference, outcome, where, context)
    raise _status_error(endpoint, outcome, body, reference, where)


def _envelope(
    endpoint: Endpoint,
    body: dict[str, Any],
    model: type[T],
    reference: str,
    response: httpx.Response,
    where: dict[str, Any],
    context: dict[str, Any] | None = None,
) -> T:
    code = _int(body.get("response_code"))
    if code in DECLINE_CODES:
        raise _declined(code, body, response, where)
    if body.get("success") is True:
        return _validated(endpoint, model, body, reference, response, where, context)
    errors = body.get("errors")
    if isinstance(errors, Mapping) and errors:
        raise _rejected(endpoint, errors, response, where)
    message = str(body.get("status_message") or describe_response_code(code))
    if code == 1:
        raise DataError(
            f"PayTrace refused {endpoint.operation}: {message}", body=_safe_body(response), **where
        )
    raise FatalError(
        f"PayTrace {endpoint.operation} failed (code {code}): {redact_text(message)}",
        body=_safe_body(response),
        **where,
    )


def _declined(
    code: int, body: Mapping[str, Any], response: httpx.Response, where: dict[str, Any]
) -> DeclinedError:
    reason = decline_reason(
        code, str(body.get("approval_message") or ""), str(body.get("ach_message") or "")
    )
    txn = body.get("transaction_id", body.get("check_transaction_id"))
    return DeclinedError(
        f"payment declined (code {code}): {reason}",
        reason=reason,
        response_code=code,
        transaction_id=None if txn is None else str(txn),
        body=_safe_body(response),
        **where,
    )


def _rejected(
    endpoint: Endpoint, errors: Mapping[str, Any], response: httpx.Response, where: dict[str, Any]
) -> PayBridgeError:
    fields: dict[str, str] = {}
    for key, value in errors.items():
        messages = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        fields[str(key)] = redact_text(describe_error(str(key), messages))
    summary = "; ".join(f"{key}: {text}" for key, text in fields.items())
    message = f"PayTrace refused {endpoint.operation}: {summary}"
    if set(fields) <= PERMISSION_ERRORS:
        return ConfigError(message, body=_safe_body(response), **where)
    return DataError(message, fields=fields, body=_safe_body(response), **where)


def _is_oauth_error(error: object, status: int) -> bool:
    """An OAuth refusal, as opposed to a throttling or server error that also says "error"."""
    return isinstance(error, str) and (error in _OAUTH_ERRORS or 400 <= status < 429)


def _oauth_error(
    endpoint: Endpoint, body: Mapping[str, Any], where: dict[str, Any], response: httpx.Response
) -> ConfigError:
    error = str(body["error"])
    text = redact_text(str(body.get("error_description") or error))
    if error == "invalid_token" and endpoint.kind != "token":
        return TokenRejected(
            f"PayTrace rejected the access token: {text}", body=_safe_body(response), **where
        )
    return ConfigError(
        f"PayTrace login failed ({error}): {text}", body=_safe_body(response), **where
    )


def _validated(
    endpoint: Endpoint,
    model: type[T],
    body: dict[str, Any],
    reference: str,
    response: httpx.Response,
    where: dict[str, Any],
    context: dict[str, Any] | None = None,
) -> T:
    try:
        return model.model_validate(body, context=context)
    except ValidationError as exc:
        problem = f"{len(exc.errors())} field(s) missing or malformed"
        raise _unreadable(endpoint, reference, problem, response, where) from None


def _status_error(
    endpoint: Endpoint,
    response: httpx.Response,
    body: dict[str, Any] | None,
    reference: str,
    where: dict[str, Any],
) -> PayBridgeError:
    status = response.status_code
    safe = _safe_body(response)
    if status == 429:
        # A throttled request was not processed, so even a write may be sent again later.
        return RetryableError(
            "PayTrace is throttling requests",
            retry_after=_retry_after(response),
            body=safe,
            **where,
        )
    if status >= 500 or status == 408 or 200 <= status < 300:
        problem = f"HTTP {status}" if status >= 300 else "a reply that is not PayTrace JSON"
        return _unreadable(endpoint, reference, problem, response, where)
    if status == 404:
        return ConfigError(f"PayTrace has no {endpoint.path}; check base_url", body=safe, **where)
    return FatalError(
        f"PayTrace refused {endpoint.operation} (HTTP {status}, no PayTrace result)",
        body=safe,
        **where,
    )


def _unreadable(
    endpoint: Endpoint,
    reference: str,
    problem: str,
    response: httpx.Response,
    where: dict[str, Any],
) -> PayBridgeError:
    """A reply that says nothing certain: repeat a read, look up a write."""
    safe = _safe_body(response)
    if endpoint.repeatable:
        return RetryableError(
            f"PayTrace {endpoint.operation}: {problem}",
            retry_after=_retry_after(response),
            body=safe,
            **where,
        )
    return _in_doubt(endpoint, reference, problem, body=safe, **where)


def _transport_error(endpoint: Endpoint, exc: Exception, reference: str) -> PayBridgeError:
    where: dict[str, Any] = {"system": SYSTEM, "operation": endpoint.operation}
    problem = f"{type(exc).__name__}: {redact_text(str(exc))}"
    if endpoint.repeatable or isinstance(exc, _NOT_SENT):
        # Connect failures happen before a byte is sent: nothing can have taken effect.
        return RetryableError(f"PayTrace {endpoint.operation} not reached: {problem}", **where)
    return _in_doubt(endpoint, reference, problem, **where)


def _in_doubt(endpoint: Endpoint, reference: str, problem: str, **where: Any) -> InDoubtError:
    lookup = f"look it up by {reference!r}" if reference else "no reference to look it up by"
    return InDoubtError(
        f"PayTrace {endpoint.operation} may or may not have happened ({problem}); {lookup}",
        reference=reference,
        **where,
    )


def _json_object(content: bytes) -> dict[str, Any] | None:
    if not content or content.lstrip()[:1] != b"{":
        return None
    try:
        value = json.loads(content, parse_float=Decimal)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds: a number, or an HTTP date measured against the reply's Date."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        until = parsedate_to_datetime(value)
        sent = parsedate_to_datetime(response.headers["date"])
    except (KeyError, TypeError, ValueError):
        return None
    return max((until - sent).total_seconds(), 0.0)


def _safe_body(response: httpx.Response) -> str:
    """The reply body with card data and secrets removed, for errors and logs."""
    parsed = _json_object(response.content)
    if parsed is not None:
        return json.dumps(redact(parsed), default=str)
    text = response.content[:_MAX_BODY].decode("utf-8", errors="replace")
    if len(response.content) > _MAX_BODY:
        # A cut may leave the front of a card number too short to recognise: drop it.
        text = re.sub(r"[\d -]+$", "", text)
    return redact_text(text)
