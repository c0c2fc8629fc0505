"""The one exception tree of PayBridge, named for how a caller should react.

    PayBridgeError         anything PayBridge raises on purpose
    ├── ConfigError        the operator must fix settings, credentials or a template; no retry
    ├── RetryableError     transient (transport, 429, 5xx, lock); try again after ``retry_after``
    ├── InDoubtError       a write may or may not have happened; look it up by ``reference``,
    │                      never resend blindly
    ├── FatalError         the other side refused for good (auth revoked, business rule)
    │   └── DeclinedError  a payment was declined; ``reason`` is for a person to read
    └── DataError          the input is wrong; ``fields`` names what, per field

Every error carries ``system``, ``operation``, ``status`` and ``request_id`` so that an operator can
quote them to the other system's support. Messages never hold a secret or card data: connectors
pass bodies through their redactor before building an error.
"""

from __future__ import annotations

from collections.abc import Mapping


class PayBridgeError(Exception):
    """Base of every deliberate PayBridge error."""

    reaction = "fail"

    def __init__(
        self,
        message: str,
        *,
        system: str = "paybridge",
        operation: str = "",
        status: int | None = None,
        request_id: str | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.operation = operation
        self.status = status
        self.request_id = request_id
        self.body = body

    def to_dict(self) -> dict[str, object]:
        """A JSON-safe description, for the dead-letter queue, the ledger and API answers."""
        return {
            "error": type(self).__name__,
            "reaction": self.reaction,
            "message": self.message,
            "system": self.system,
            "operation": self.operation,
            "status": self.status,
            "request_id": self.request_id,
        }

    def __str__(self) -> str:
        where = f"{self.system} {self.operation}".strip()
        extra = f" (HTTP {self.status})" if self.status is not None else ""
        rid = f" [request {self.request_id}]" if self.request_id else ""
        return f"{where}: {self.message}{extra}{rid}"


class ConfigError(PayBridgeError):
    """Settings, credentials or templates are wrong; a person must act."""

    reaction = "fix-config"


class RetryableError(PayBridgeError):
    """A transient failure; the same call may succeed later."""

    reaction = "retry"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "retry_after": self.retry_after}


class InDoubtError(PayBridgeError):
    """A write was sent and its outcome is unknown; resolve by searching for ``reference``."""

    reaction = "resolve"

    def __init__(
        self, message: str, *, reference: str, retry_after: float | None = None, **kw: object
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.reference = reference
        # Seconds until a look-up can tell more (e.g. the end of a grace during which "not
        # found" proves nothing): the retry waits that long instead of spending attempts.
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "reference": self.reference}


class FatalError(PayBridgeError):
    """The other system refused for good; retrying the same request cannot help."""

    reaction = "dead-letter"


class DeclinedError(FatalError):
    """A card or check payment was declined; ``reason`` is plain words for the order."""

    reaction = "declined"

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        response_code: int | None = None,
        transaction_id: str | None = None,
        **kw: object,
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.reason = reason
        self.response_code = response_code
        self.transaction_id = transaction_id

    def to_dict(self) -> dict[str, object]:
        return {
            **super().to_dict(),
            "reason": self.reason,
            "response_code": self.response_code,
            "transaction_id": self.transaction_id,
        }


class DataError(PayBridgeError):
    """Bad input; ``fields`` maps a field path to what is wrong with it."""

    reaction = "reject"

    def __init__(
        self, message: str, *, fields: Mapping[str, str] | None = None, **kw: object
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.fields: dict[str, str] = dict(fields or {})

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "fields": self.fields}
