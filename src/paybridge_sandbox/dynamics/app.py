"""The ASGI app of the D365 F&O sandbox: routes, bearer check, service protection, ``ms-dyn-aid``.

Serves, on one host: the Entra ID endpoints (``/{tenant}/oauth2/v2.0/token``,
``/{tenant}/oauth2/token``, OIDC discovery), AD FS (``/adfs/oauth2/token``), F&O's ``/data``
and ``/Metadata``, and emulator-only admin endpoints under ``/_sandbox/``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paybridge_sandbox.dynamics.admin import admin_routes
from paybridge_sandbox.dynamics.auth import Principal, TokenError
from paybridge_sandbox.dynamics.errors import ODataError
from paybridge_sandbox.dynamics.metadata_service import serve as serve_metadata
from paybridge_sandbox.dynamics.odata import ODataRequest, Reply, error_reply, handle, json_reply
from paybridge_sandbox.dynamics.settings import DynamicsSandboxSettings, SandboxClock
from paybridge_sandbox.dynamics.state import Sandbox
from paybridge_sandbox.faults import FaultInjector, Sleep

_ENTRA_HEADERS = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def _to_response(reply: Reply) -> Response:
    return Response(reply.body, status_code=reply.status, headers=reply.headers)


# ---- Entra ID / AD FS ------------------------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return unquote(user), unquote(password)


def _token_response(payload: dict[str, Any] | None, error: TokenError | None) -> Response:
    if error is not None:
        return Response(
            _dump(error.body),
            status_code=error.status,
            headers=_ENTRA_HEADERS,
            media_type="application/json; charset=utf-8",
        )
    return Response(
        _dump(payload), headers=_ENTRA_HEADERS, media_type="application/json; charset=utf-8"
    )


def _dump(payload: Any) -> bytes:
    from paybridge_sandbox.dynamics.values import dumps

    return dumps(payload)


async def token_v2(request: Request) -> Response:
    form, sandbox = await _form(request), _sandbox(request)
    try:
        issued = sandbox.authority.issue_v2(request.path_params["tenant"], form, _basic(request))
    except TokenError as exc:
        return _token_response(None, exc)
    return _token_response(issued, None)


async def token_v1(request: Request) -> Response:
    form, sandbox = await _form(request), _sandbox(request)
    try:
        issued = sandbox.authority.issue_v1(request.path_params["tenant"], form, _basic(request))
    except TokenError as exc:
        return _token_response(None, exc)
    return _token_response(issued, None)


async def token_adfs(request: Request) -> Response:
    form, sandbox = await _form(request), _sandbox(request)
    try:
        issued = sandbox.authority.issue_adfs(form, _basic(request))
    except TokenError as exc:
        return _token_response(None, exc)
    return _token_response(issued, None)


def _discovery(v2: bool) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            config = _sandbox(request).authority.openid_configuration(
                request.path_params["tenant"], v2=v2
            )
        except TokenError as exc:
            return _token_response(None, exc)
        return _token_response(config, None)

    return endpoint


async def adfs_discovery(request: Request) -> Response:
    host = request.url.netloc
    base = f"https://{host}/adfs"
    return _token_response(
        {
            "issuer": base,
            "token_endpoint": f"{base}/oauth2/token",
            "authorization_endpoint": f"{base}/oauth2/authorize",
            "jwks_uri": f"{base}/discovery/keys",
        },
        None,
    )


async def instance_discovery(request: Request) -> Response:
    endpoint = request.query_params.get("authorization_endpoint", "")
    return _token_response(_sandbox(request).authority.instance_discovery(endpoint), None)


# ---- F&O resources ---------------------------------------------------------------------------


def _service_root(sandbox: Sandbox, request: Request) -> str:
    base = sandbox.settings.base_url or f"{request.url.scheme}://{request.url.netloc}"
    return base.rstrip("/") + "/data/"


def authorize(sandbox: Sandbox, request: Request) -> Principal:
    """Bearer check (401/403) and service protection (429); an admitted request must be
    released (``_protected`` does both)."""
    principal = sandbox.authority.verify(request.headers.get("authorization"))
    if principal is None:
        raise ODataError(
            401,
            "Unauthorized",
            headers={
                "WWW-Authenticate": f'Bearer authorization_uri="https://'
                f'{sandbox.settings.authority_host}/{sandbox.settings.tenant}/oauth2/authorize"'
            },
        )
    if principal.user_id is None:
        raise ODataError(
            403,
            f"The application with client id '{principal.client_id}' is not "
            "registered in Microsoft Entra ID applications, or its user has no "
            "access.",
        )
    sandbox.throttle.admit(principal.client_id, sandbox.clock.now().timestamp())
    return principal


def _unauthorized(exc: ODataError) -> Response:
    if exc.status == 401:
        return Response(b"", status_code=401, headers=exc.headers)
    return _to_response(error_reply(exc))


Served = tuple[Response, int]  # the answer and how many operations it carried
Handler = Callable[[Request, Sandbox, Principal], Awaitable[Served]]


async def _protected(request: Request, handler: Handler) -> Response:
    """Authorize, serve, emulate F&O's work, and charge the request to its principal."""
    sandbox = _sandbox(request)
    try:
        principal = authorize(sandbox, request)
    except ODataError as exc:
        return _unauthorized(exc)
    started = time.perf_counter()
    charged = 0.0
    try:
        response, operations = await handler(request, sandbox, principal)
        charged = time.perf_counter() - started
        work = operations * sandbox.settings.work_seconds_per_operation
        if work > 0:
            sleep: Sleep = request.app.state.sleep
            await sleep(work)
            charged += work
        return response
    finally:
        now = sandbox.clock.now().timestamp()
        sandbox.throttle.release(principal.client_id, now, charged)


async def _data(request: Request, sandbox: Sandbox, principal: Principal) -> Served:
    raw = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    raw_path = raw.split("?", 1)[0].removeprefix("/data")
    body = await request.body()
    req = ODataRequest(
        request.method,
        raw_path,
        request.url.query,
        {k.lower(): v for k, v in request.headers.items()},
        body,
        _service_root(sandbox, request),
        principal,
    )
    if raw_path.strip("/") == "$batch":
        from paybridge_sandbox.dynamics.batch import handle_batch

        return _to_response(handle_batch(sandbox, req)), max(1, body.count(b"application/http"))
    return _to_response(handle(sandbox, req)), 1


async def data_endpoint(request: Request) -> Response:
    return await _protected(request, _data)


async def _metadata(request: Request, sandbox: Sandbox, principal: Principal) -> Served:
    root = _service_root(sandbox, request).removesuffix("data/") + "Metadata/"
    path = unquote(request.path_params["path"])
    try:
        payload = serve_metadata(sandbox.schema, root, path, request.url.query)
    except ODataError as exc:
        return _to_response(error_reply(exc)), 1
    return _to_response(json_reply(200, payload)), 1


async def metadata_service(request: Request) -> Response:
    return await _protected(request, _metadata)


async def _service(request: Request, sandbox: Sandbox, principal: Principal) -> Served:
    from paybridge_sandbox.dynamics.posting import handle_service

    reply = handle_service(sandbox, request.path_params["path"], await request.body())
    return _to_response(reply), 1


async def services(request: Request) -> Response:
    return await _protected(request, _service)


# ---- app -------------------------------------------------------------------------------------


class ActivityIdMiddleware:
    """Adds F&O's ``ms-dyn-aid`` activity id to every F&O response (not to Entra's)."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or "/oauth2/" in scope["path"]
            or "/.well-known/" in scope["path"]
        ):
            await self.app(scope, receive, send)
            return
        aid = self.sandbox.activity_id().encode()

        async def send_with_aid(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"ms-dyn-aid", aid)]
            await send(message)

        await self.app(scope, receive, send_with_aid)


def _routes() -> list[Route]:
    methods = ["GET", "POST", "PATCH", "PUT", "DELETE", "MERGE"]
    return [
        Route("/{tenant}/oauth2/v2.0/token", token_v2, methods=["POST"]),
        Route("/adfs/oauth2/token", token_adfs, methods=["POST"]),
        Route("/adfs/.well-known/openid-configuration", adfs_discovery, methods=["GET"]),
        Route("/{tenant}/oauth2/token", token_v1, methods=["POST"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", _discovery(True), methods=["GET"]),
        Route("/{tenant}/.well-known/openid-configuration", _discovery(False), methods=["GET"]),
        Route("/common/discovery/instance", instance_discovery, methods=["GET"]),
        Route("/data", data_endpoint, methods=methods),
        Route("/data/{path:path}", data_endpoint, methods=methods),
        Route("/Metadata/{path:path}", metadata_service, methods=["GET"]),
        Route("/api/services/{path:path}", services, methods=["POST", "GET"]),
        *admin_routes(),
    ]


class DynamicsSandboxApp:
    """The ASGI app handed out: Starlette inside, the shared fault layer outermost.

    ``state.sandbox`` is the ``Sandbox`` (also ``.sandbox``); faults are driven through
    ``sandbox.faults`` or ``POST /_sandbox/faults`` (profile "none" injects nothing).
    """

    def __init__(self, inner: Starlette, sandbox: Sandbox, sleep: Sleep | None) -> None:
        self.inner = inner
        self.state = inner.state
        self.sandbox = sandbox
        self._outer = FaultInjector(inner, sandbox.faults, sleep=sleep)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._outer(scope, receive, send)


def create_app(
    settings: DynamicsSandboxSettings | None = None,
    *,
    clock: SandboxClock | None = None,
    sleep: Sleep | None = None,
) -> DynamicsSandboxApp:
    """Build the sandbox; its state is ``app.state.sandbox``.

    ``sleep`` is what the fault layer awaits for latency faults and the emulated work
    (``work_seconds_per_operation``) awaits (inject a fake in tests).
    """
    settings = settings or DynamicsSandboxSettings()
    sandbox = Sandbox(settings, clock or SandboxClock())
    app = Starlette(routes=_routes())
    app.state.sandbox = sandbox
    app.state.sleep = sleep or asyncio.sleep
    app.add_middleware(ActivityIdMiddleware, sandbox=sandbox)
    return DynamicsSandboxApp(app, sandbox, sleep)
