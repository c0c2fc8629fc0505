"""Schemathesis against the secured app's own OpenAPI document, in-process over ASGI.

With a valid key of each role and with none: no 5xx, every response matches the documented
schema, status codes and content types, and no request without a key gets data back. Bounded by
``PAYBRIDGE_FUZZ_EXAMPLES`` (per operation and role); ``tests/fuzz/run_longer.py`` raises it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.generation.case import Case

from tests.integration.web.support import SecuredApp, secured_app

EXAMPLES = int(os.environ.get("PAYBRIDGE_FUZZ_EXAMPLES", "15"))
OPEN_PATHS = {"/health", "/openapi.json", "/docs", "/redoc"}
SIGNED_PATHS = {"/events/test"}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


def _world() -> SecuredApp:
    # Built at import because schemathesis reads the schema when pytest collects the tests.
    folder = Path(tempfile.mkdtemp(prefix="paybridge-fuzz-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    # A large burst: the fuzzer is one key making many charges, which is not what is under test.
    return secured_app(f"sqlite:///{folder / 'pb.db'}", charge_burst=1_000_000)


WORLD = _world()
schema = schemathesis.openapi.from_asgi("/openapi.json", WORLD.app, headers=WORLD.auth("viewer"))


def _unauthenticated_data(case: Case[Any], status: int, text: str) -> str:
    path = case.operation.path
    if path in OPEN_PATHS or path in SIGNED_PATHS:
        return ""
    if status < 400:
        return f"{case.method} {path} answered {status} without an API key"
    if "key_id" in text or "kek_id" in text or '"seq"' in text:
        return f"{case.method} {path} leaked data in a refusal"
    return ""


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("PAYBRIDGE_FUZZ_RANDOM") is None,
)


def exercise(case: Case[Any], role: str | None) -> None:
    headers = WORLD.auth(role) if role else {}
    if role is None and case.headers:
        case.headers.pop("Authorization", None)
    response = case.call_and_validate(headers=headers, checks=CHECKS)
    if role is None:
        problem = _unauthenticated_data(case, response.status_code, response.text)
        assert not problem, problem


@schema.parametrize()
@FUZZ
def test_without_a_key(case: Case[Any]) -> None:
    exercise(case, None)


@schema.parametrize()
@FUZZ
def test_as_viewer(case: Case[Any]) -> None:
    exercise(case, "viewer")


@schema.parametrize()
@FUZZ
def test_as_operator(case: Case[Any]) -> None:
    exercise(case, "operator")


@schema.parametrize()
@FUZZ
def test_as_admin(case: Case[Any]) -> None:
    exercise(case, "admin")
