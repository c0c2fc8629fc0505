"""Who is signed in to the console, and what they may do: the session cookie, roles, CSRF.

- The cookie (``pb_console``) is HttpOnly, SameSite=Strict, Secure over HTTPS, path ``/``; it
  holds a random token whose hash finds the session in the store (``security.sessions``).
- Every POST carries the session's CSRF token as the form field ``csrf``, compared in constant
  time; a POST whose ``Origin`` names another site is refused before that. Sign-in, which has no
  session yet, uses a double-submit token (a cookie and the same value in the form).
- Roles are the API's: viewer < operator < admin. A page hides what a role may not do, and the
  server refuses it anyway (403 and an audit row) when the form is forged.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request

from paybridge.console.services import ConsoleServices
from paybridge.security.apikeys import role_allows
from paybridge.security.sessions import Session
from paybridge.web.auth import client_of

COOKIE = "pb_console"
SIGNIN_COOKIE = "pb_signin"
MAX_FORM = 16 * 1024


class ConsoleRefusal(Exception):
    """Not signed in (``status`` 401: back to the sign-in page), forbidden (403), or bad (400)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Visitor:
    """The signed-in person (or key) behind a request, with the session's CSRF token."""

    session: Session
    token: str
    client: str

    @property
    def actor(self) -> str:
        return self.session.actor

    @property
    def role(self) -> str:
        return self.session.role

    def can(self, role: str) -> bool:
        return role_allows(self.session.role, role)


def services(request: Request) -> ConsoleServices:
    built = getattr(request.app.state, "console", None)
    if not isinstance(built, ConsoleServices):
        raise RuntimeError("app.state.console is not set; see paybridge.web.console.install")
    return built


def visitor(request: Request) -> Visitor:
    """The signed-in visitor; ConsoleRefusal(401) when the cookie is missing or stale."""
    token = request.cookies.get(COOKIE, "")
    session = services(request).security.sessions.get(token) if token else None
    if session is None:
        raise ConsoleRefusal(401, "sign in first")
    return Visitor(session, token, client_of(request))


def needs(role: str) -> Callable[[Request], Visitor]:
    """A dependency admitting visitors of ``role`` or higher; others get 403 (and an audit row)."""

    def dependency(request: Request) -> Visitor:
        who = visitor(request)
        if not who.can(role):
            services(request).security.audit.record(
                actor=who.actor, action="auth.forbidden", target=f"{request.method} {request.url.path}",
                client=who.client, outcome="forbidden", detail={"role": who.role, "needed": role},
            )  # fmt: skip
            raise ConsoleRefusal(403, f"this needs the {role} role or higher")
        return who

    dependency.__name__ = f"console_{role}"
    return dependency


async def form_of(request: Request, limit: int = MAX_FORM) -> dict[str, str]:
    """The url-encoded form of a POST (the last value of a repeated field)."""
    body = await request.body()
    if len(body) > limit:
        raise ConsoleRefusal(400, "the form is too large")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise ConsoleRefusal(400, "the form is not UTF-8") from None


def same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host:
            raise ConsoleRefusal(403, "a form from another site is refused")


def posted(
    role: str, limit: int = MAX_FORM
) -> Callable[[Request], Coroutine[Any, Any, tuple[Visitor, dict[str, str]]]]:
    """A POST dependency: signed in, ``role`` or higher, same origin, the session's CSRF token;
    a form larger than ``limit`` bytes is refused."""
    check_role = needs(role)

    async def dependency(request: Request) -> tuple[Visitor, dict[str, str]]:
        same_origin(request)
        who = visitor(request)
        form = await form_of(request, limit)
        if not hmac.compare_digest(form.get("csrf", ""), who.session.csrf):
            services(request).security.audit.record(
                actor=who.actor, action="console.csrf", target=f"POST {request.url.path}",
                client=who.client, outcome="refused",
            )  # fmt: skip
            raise ConsoleRefusal(403, "the form has expired; open the page again")
        return check_role(request), form

    dependency.__name__ = f"console_post_{role}"
    return dependency
