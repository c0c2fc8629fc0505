"""The ASGI app: routing, bearer and integrator checks, status codes and the /_sandbox/ admin API.

Entry point: ``create_app(settings, clock=...)``; ``app.state.sandbox`` is the live
``PayTraceSandbox`` and ``app.state.faults`` the shared ``FaultPlan``. Everything under
``/_sandbox/`` is an emulator extension, not part of PayTrace.

HTTP status: 200 for ``success: true``; ``validation_error_http_status`` (400) for
``response_code: 1``; ``decline_http_status`` (200) for other ``success: false`` answers
(102, 125); 401 + ``WWW-Authenticate`` for a missing, unknown or expired bearer token.
A missing or wrong ``integrator_id`` is answered in the envelope with error 981 "Log in failed
for insufficient permissions." (no public capture shows PayTrace's answer; both the code and the
text are settings). Malformed JSON, a non-object body or a field of the wrong type is
``response_code: 1`` with error key "1" (emulator choice), never a traceback.

Not emulated, and why: swiped sales/authorizations/refunds and E2EE ``encrypted_*`` fields (they
need track data or PayTrace's private key); store-and-forward (``STR/FWD`` exports match
nothing); 103 auto-voids on AVS/CSC mismatch and partial authorizations (no public trigger);
customer create-from-transaction and export_inactive (paths unknown, spec §13.3); real e-mail.
AVS is always "No Match" and approval texts follow the 2024 captures. Error keys not seen in a
capture (38, 39, 47-64) are emulator choices listed in ``wire.MESSAGES``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from paybridge_sandbox.faults import FaultInjector, FaultPlan, Sleep
from paybridge_sandbox.paytrace import (
    admin,
    charges,
    checks,
    customers,
    exports,
    lifecycle,
    protect,
    protect_js,
    recurring,
)
from paybridge_sandbox.paytrace.auth import bearer_problem, grant_fields, invalid_token, issue_token
from paybridge_sandbox.paytrace.charges import Handler
from paybridge_sandbox.paytrace.scheduler import Scheduler
from paybridge_sandbox.paytrace.settings import PayTraceSandboxSettings, SandboxClock
from paybridge_sandbox.paytrace.state import PayTraceSandbox, RequestContext, SandboxState
from paybridge_sandbox.paytrace.storage import SqliteStorage
from paybridge_sandbox.paytrace.wire import ApiError, JsonObject, fail, parse_json_body

_JSON = "application/json; charset=utf-8"
# Captured errors of these calls also carry an empty external_transaction_id (capture, refund).
_ERRORS_WITH_EXTERNAL_ID = ("/v1/transactions/authorization/capture", "/v1/transactions/refund/")


def business_routes(settings: PayTraceSandboxSettings) -> dict[str, Handler]:
    routes: dict[str, Handler] = {}
    for module in (charges, customers, exports, lifecycle, protect, recurring, checks):
        routes.update(module.ROUTES)
    routes[settings.adjust_path] = lifecycle.adjust
    routes[settings.check_export_path] = checks.export_checks
    return routes


class PayTraceSandboxApp(Starlette):
    """Starlette, with the fault layer outermost so a reset never becomes a tidy 500."""

    faults: FaultInjector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.faults(scope, receive, send)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


class Dispatcher:
    """Turns one HTTP request into one handler call and one PayTrace-shaped response."""

    def __init__(self, sandbox: PayTraceSandbox, routes: Mapping[str, Handler]) -> None:
        self.sandbox = sandbox
        self.routes = routes
        self.request_ids = itertools.count(1)

    def respond(self, status: int, body: JsonObject | str, **headers: str) -> Response:
        text = body if isinstance(body, str) else self.sandbox.renderer.dumps(body)
        headers["X-Request-Id"] = f"sandbox-{next(self.request_ids)}"
        return Response(text, status_code=status, headers=headers, media_type=_JSON)

    async def handle(self, request: Request) -> Response:
        sandbox = self.sandbox
        sandbox.tick()
        path = request.url.path.rstrip("/") or "/"
        try:
            if path == "/oauth/token" and request.method == "POST":
                return await self.token(request)
            if request.method == "GET" and path in (protect_js.SCRIPT_PATH, protect_js.FIELDS_PATH):
                return self.browser(request, path)
            if path.startswith("/_sandbox/"):
                status, reply = await admin.handle(sandbox, request, path)
                return self.respond(status, reply)
            if path == "/v1/ping":
                return self.respond(200, {"success": True, "status_message": "pong"})
            handler = self.routes.get(path)
            if handler is None or request.method != "POST":
                return self.respond(404, {"status": 404, "error": "Not Found"})
            return await self.business(request, handler)
        finally:
            sandbox.after_request()

    def browser(self, request: Request, path: str) -> Response:
        """Protect's script and hosted fields: what a browser loads, not JSON."""
        if path == protect_js.SCRIPT_PATH:
            return Response(protect_js.SCRIPT, media_type="text/javascript; charset=utf-8")
        known = request.query_params.get("clientKey", "") in self.sandbox.state.client_keys
        return Response(protect_js.fields_page(known), media_type="text/html; charset=utf-8")

    async def token(self, request: Request) -> Response:
        raw = await request.body()
        fields = grant_fields(raw, request.headers.get("content-type", ""), request.url.query)
        status, body = issue_token(self.sandbox, fields)
        return self.respond(status, body, **{"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def business(self, request: Request, handler: Handler) -> Response:
        problem = bearer_problem(self.sandbox, request.headers.get("authorization"))
        if problem is not None:
            body, headers = invalid_token(problem)
            return self.respond(401, body, **headers)
        ctx = RequestContext(
            now=self.sandbox.clock.now(),
            from_ip=request.client.host if request.client else "",
            username=self.sandbox.settings.username,
        )
        path = request.url.path
        try:
            payload = parse_json_body(await request.body())
            if path not in protect.NO_INTEGRATOR_ID:
                self.check_integrator(payload)
            if path in self.sandbox.settings.forbidden_paths:
                raise fail("981")
            reply = handler(self.sandbox, ctx, payload)
        except ApiError as error:
            if path.startswith(_ERRORS_WITH_EXTERNAL_ID):
                error.extra.setdefault("external_transaction_id", "")
            return self.respond(self.sandbox.settings.validation_error_http_status, error.body())
        return self.respond(self.status_of(reply), reply)

    def check_integrator(self, payload: JsonObject) -> None:
        settings = self.sandbox.settings
        if payload.get("integrator_id") != settings.integrator_id:
            raise fail(settings.integrator_error_code, settings.integrator_error_message)

    def status_of(self, reply: JsonObject | str) -> int:
        if isinstance(reply, str) or reply.get("success") is True:
            return 200
        if reply.get("response_code") == 1:
            return self.sandbox.settings.validation_error_http_status
        return self.sandbox.settings.decline_http_status


def create_app(
    settings: PayTraceSandboxSettings | None = None,
    *,
    clock: SandboxClock | None = None,
    faults: FaultPlan | None = None,
    sleep: Sleep | None = None,
) -> PayTraceSandboxApp:
    """A PayTrace v1 emulator. Tests pass a frozen ``SandboxClock``; ``sleep`` serves latency faults."""
    settings = settings or PayTraceSandboxSettings()
    sandbox = PayTraceSandbox(settings, clock or SandboxClock(), SandboxState(settings))
    if settings.state_path is not None:
        storage = SqliteStorage(settings.state_path)
        storage.load(sandbox)
        sandbox.storage = storage
    sandbox.scheduler = Scheduler(sandbox)
    sandbox.faults = faults or FaultPlan.named(settings.faults_profile, seed=settings.faults_seed)
    dispatcher = Dispatcher(sandbox, business_routes(settings))

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        sandbox.close()

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app = PayTraceSandboxApp(
        routes=[Route("/{path:path}", dispatcher.handle, methods=methods)], lifespan=lifespan
    )
    app.faults = FaultInjector(app.serve, sandbox.faults, sleep=sleep)
    app.state.sandbox = sandbox
    app.state.faults = sandbox.faults
    return app
