"""The FastAPI app: health, the admin and request/reply APIs; every error answers JSON naming the field."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from paybridge import __version__
from paybridge.errors import (
    ConfigError,
    DataError,
    DeclinedError,
    FatalError,
    InDoubtError,
    PayBridgeError,
    RetryableError,
)

log = logging.getLogger("paybridge.web")

_STATUS: list[tuple[type[PayBridgeError], int]] = [
    (DataError, 422),
    (DeclinedError, 402),
    (InDoubtError, 202),
    (RetryableError, 503),
    (ConfigError, 500),
    (FatalError, 502),
]


def status_for(exc: PayBridgeError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_body(
    message: str, *, fields: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"error": {"message": message, "fields": fields or {}, **extra}}


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        fields[".".join(loc) or "body"] = str(err.get("msg", "invalid"))
    # Never echo the input back: it may hold what a caller should not have sent (card data).
    return JSONResponse(error_body("invalid request", fields=fields), status_code=422)


async def _paybridge_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PayBridgeError)
    fields = exc.fields if isinstance(exc, DataError) else None
    body = error_body(exc.message, fields=fields, reaction=exc.reaction, system=exc.system)
    return JSONResponse(body, status_code=status_for(exc))


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error: %s", type(exc).__name__)
    return JSONResponse(error_body("internal error"), status_code=500)


def create_web_app(**state: Any) -> FastAPI:
    """The app; ``state`` (services built by ``paybridge.app.engine``) is kept on ``app.state``."""
    app = FastAPI(
        title="PayBridge",
        version=__version__,
        description="Keeps Dynamics 365 F&O and PayTrace in exact agreement.",
    )
    for key, value in state.items():
        setattr(app.state, key, value)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PayBridgeError, _paybridge_error)
    app.add_exception_handler(Exception, _unexpected)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
