"""A PayTrace sandbox on a frozen clock, reached over in-process HTTP, with helpers to call it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from paybridge_sandbox.faults import FaultPlan
from paybridge_sandbox.paytrace import PayTraceSandboxSettings, SandboxClock, create_app
from paybridge_sandbox.paytrace.app import PayTraceSandboxApp
from paybridge_sandbox.paytrace.state import PayTraceSandbox
from tests.conftest import asgi_client

# 10:00 in Los Angeles (PST) on a Thursday.
START = datetime(2026, 1, 15, 18, 0, tzinfo=UTC)
INTEGRATOR = "SANDBOX00001"
VISA = {"number": "4012000098765439", "expiration_month": "12", "expiration_year": "2027"}
MASTERCARD = {"number": "5499740000000057", "expiration_month": 12, "expiration_year": 2027}
AMEX = {"number": "371449635392376", "expiration_month": "12", "expiration_year": "2027"}
BILLING = {
    "name": "Nathan Williams",
    "street_address": "1234 Main St.",
    "city": "Los Angeles",
    "state": "CA",
    "zip": "90210",
}


class Harness:
    """One sandbox app, its clock and an HTTP client that logs in on first use."""

    def __init__(
        self,
        settings: PayTraceSandboxSettings | None = None,
        *,
        start: datetime = START,
        faults: FaultPlan | None = None,
    ) -> None:
        self.clock = SandboxClock(start)
        self.slept: list[float] = []
        self.app: PayTraceSandboxApp = create_app(
            settings, clock=self.clock, faults=faults, sleep=self._sleep
        )
        self.client: httpx.AsyncClient = asgi_client(self.app)
        self._token: str | None = None

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    @property
    def sandbox(self) -> PayTraceSandbox:
        sandbox: PayTraceSandbox = self.app.state.sandbox
        return sandbox

    async def token(self) -> str:
        if self._token is None:
            response = await self.client.post(
                "/oauth/token",
                data={"grant_type": "password", "username": "sandbox", "password": "sandbox"},
            )
            assert response.status_code == 200, response.text
            self._token = str(response.json()["access_token"])
        return self._token

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """POST a business call with the bearer token and the integrator id added."""
        payload = {"integrator_id": INTEGRATOR, **(body or {})}
        for _attempt in range(2):
            headers = {"Authorization": f"Bearer {await self.token()}"}
            response = await self.client.post(path, content=_dumps(payload), headers=headers)
            if response.status_code != 401:
                break
            self._token = None  # expired on the sandbox clock: log in again, like a client
        return response

    async def ok(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(path, body)
        data = parse(response)
        assert data["success"] is True, data
        assert response.status_code == 200
        return data

    async def sale(self, amount: str = "10.00", **extra: Any) -> dict[str, Any]:
        body = {"amount": amount, "credit_card": VISA, "billing_address": BILLING, **extra}
        return parse(await self.post("/v1/transactions/sale/keyed", body))

    async def authorize(self, amount: str = "10.00", **extra: Any) -> dict[str, Any]:
        body = {"amount": amount, "credit_card": VISA, **extra}
        return parse(await self.post("/v1/transactions/authorization/keyed", body))

    async def customer(self, customer_id: str = "C1", card: dict[str, Any] = VISA) -> None:
        body = {"customer_id": customer_id, "credit_card": card, "billing_address": BILLING}
        await self.ok("/v1/customer/create", body)

    async def export(self, start: str = "01/15/2026", end: str = "01/15/2026", **f: Any) -> Any:
        body = {"start_date": start, "end_date": end, **f}
        return (await self.ok("/v1/transactions/export/by_date_range", body))["transactions"]


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, default=str)


def parse(response: httpx.Response) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.text, parse_float=Decimal)
    return data


@pytest.fixture
def pt() -> Harness:
    return Harness()
