"""The one place where a failed D365 call becomes a PayBridge error (envelope, Infolog, status)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, TypedDict

import httpx

from paybridge.errors import (
    ConfigError,
    DataError,
    FatalError,
    InDoubtError,
    PayBridgeError,
    RetryableError,
)

SYSTEM = "dynamics"
DEFAULT_RETRY_AFTER = (
    30.0  # seconds; Microsoft's own retry sample uses it when Retry-After is absent
)
_BODY_LIMIT = 4000
_WRITE_EXCEPTION = "AxODataWriteException"
# What a JSON custom service answers when its X++ code threw: the service's transaction aborted.
_SERVICE_EXCEPTION = "XppServicesException"
_FIELD_RE = re.compile(r"field '(?:[A-Za-z0-9_]+\.)?([A-Za-z0-9_]+)'")
_TITLE_RE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)

# The request never left this machine, so even a write is safe to send again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class _Common(TypedDict):
    system: str
    operation: str
    status: int | None
    request_id: str | None
    body: str | None


class ConcurrencyConflictError(FatalError):
    """412/409: the record changed since it was read (stale If-Match); re-read, then decide."""

    reaction = "reread"


class NotFoundError(FatalError):
    """404 where absence is not an answer (update, delete, unknown entity set or service)."""


class RecordExistsError(DataError):
    """F&O refused an insert because a record with that key exists ("The record already exists").

    Nothing was written. Whether the existing record is the caller's own (an earlier attempt
    that succeeded) or someone else's (a person's journal line holding the same number) is for
    the caller to find out by looking.
    """


_RECORD_EXISTS = "The record already exists"


@dataclass
class Failure:
    """Everything known about one failed attempt, gathered by the client for ``map_error``."""

    operation: str
    is_write: bool
    request_id: str | None = None
    status: int | None = None
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    exception: Exception | None = None
    reference: str | None = None
    retry_after: float | None = None


@dataclass
class ODataErrorInfo:
    """What an OData error envelope says, innermost useful text first."""

    message: str
    error_type: str = ""
    code: str = ""
    messages: list[str] = field(default_factory=list)


def parse_error_envelope(body: str) -> ODataErrorInfo | None:
    """Read ``{"error": {"message", "innererror": {...}}}`` or a custom service's ``ExceptionType``."""
    try:
        doc = json.loads(body)
    except (ValueError, TypeError):
        return None
    if isinstance(doc, dict) and "error" not in doc and "ExceptionType" in doc:
        # A JSON custom service's failure: {"Message", "ExceptionType", "ActivityId"}.
        message = str(doc.get("Message") or "error without a message")
        return ODataErrorInfo(message, str(doc["ExceptionType"]), messages=[message])
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), dict):
        return None
    error: dict[str, Any] = doc["error"]
    messages = [str(error.get("message") or "")]
    error_type = ""
    inner = error.get("innererror")
    while isinstance(inner, dict):
        messages.append(str(inner.get("message") or ""))
        error_type = str(inner.get("type") or error_type)
        inner = inner.get("internalexception")
    useful = [m for m in messages if m and m != "An error has occurred."]
    best = next((m for m in reversed(useful) if "Infolog" in m), useful[-1] if useful else "")
    return ODataErrorInfo(
        message=best or messages[0] or "error without a message",
        error_type=error_type,
        code=str(error.get("code") or ""),
        messages=useful,
    )


def infolog_fields(message: str) -> dict[str, str]:
    """Fields named by ``validateField failed on field 'Entity.Field'`` with the line before it."""
    _, _, infolog = message.partition("Infolog:")
    lines = [line.strip() for line in infolog.split("; ") if line.strip()]
    fields: dict[str, str] = {}
    for i, line in enumerate(lines):
        if "validateField failed" not in line:
            continue
        match = _FIELD_RE.search(line)
        if match:
            reason = lines[i - 1] if i > 0 else line
            fields[match.group(1)] = reason
    return fields


def _describe_non_json(body: str, status: int | None) -> str:
    title = _TITLE_RE.search(body)
    if title:
        return f"non-OData answer (HTTP {status}): {' '.join(title.group(1).split())}"
    snippet = " ".join(body.split())[:200]
    return f"non-OData answer (HTTP {status}): {snippet}" if snippet else f"HTTP {status}"


def map_error(failure: Failure) -> PayBridgeError:
    """Turn one failed attempt into the error a caller should react to."""
    aid = failure.headers.get("ms-dyn-aid")
    common: _Common = {
        "system": SYSTEM,
        "operation": failure.operation,
        "status": failure.status,
        "request_id": failure.request_id,
        "body": failure.body[:_BODY_LIMIT] or None,
    }
    suffix = f" [ms-dyn-aid {aid}]" if aid else ""
    if failure.exception is not None:
        return _transport_error(failure, common, suffix)
    envelope = parse_error_envelope(failure.body) if failure.body else None
    text = envelope.message if envelope else _describe_non_json(failure.body, failure.status)
    return _status_error(failure, envelope, text + suffix, common)


def _transport_error(failure: Failure, common: _Common, suffix: str) -> PayBridgeError:
    exc = failure.exception
    text = f"{type(exc).__name__}: {exc}{suffix}"
    if failure.is_write and not isinstance(exc, _NOT_SENT):
        return InDoubtError(
            f"write outcome unknown after {text}",
            reference=failure.reference or failure.request_id or "",
            **common,
        )
    return RetryableError(text, retry_after=failure.retry_after, **common)


def _status_error(
    failure: Failure,
    envelope: ODataErrorInfo | None,
    text: str,
    common: _Common,
) -> PayBridgeError:
    status = failure.status or 0
    write_failed = envelope is not None and any(
        name in envelope.error_type for name in (_WRITE_EXCEPTION, _SERVICE_EXCEPTION)
    )
    if status in (400, 422) or (status >= 500 and write_failed):
        # AxODataWriteException / XppServicesException mean F&O rolled the write back: a
        # definite no, not a doubt.
        said = envelope.messages if envelope is not None else [text]
        kind = RecordExistsError if any(_RECORD_EXISTS in m for m in said) else DataError
        return kind(text, fields=infolog_fields(text), **common)
    if status == 401:
        return ConfigError(f"token rejected: {text}", **common)
    if status == 403:
        return ConfigError(
            f"forbidden (app not registered in F&O or lacking roles): {text}", **common
        )
    if status == 404:
        return NotFoundError(text, **common)
    if status in (409, 412):
        return ConcurrencyConflictError(text, **common)
    if status == 429:
        retry_after = (
            failure.retry_after if failure.retry_after is not None else DEFAULT_RETRY_AFTER
        )
        return RetryableError(f"throttled: {text}", retry_after=retry_after, **common)
    # A 408 may come from a gateway after the write was forwarded: as unknown as a 5xx.
    if (status >= 500 or status == 408) and failure.is_write:
        return InDoubtError(
            f"write outcome unknown after HTTP {status}: {text}",
            reference=failure.reference or failure.request_id or "",
            **common,
        )
    if status >= 500 or status == 408:
        return RetryableError(text, retry_after=failure.retry_after, **common)
    return FatalError(text, **common)
